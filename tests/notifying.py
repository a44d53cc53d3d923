"""Shared helpers for the notification tests: outboxes emptied per test, commit hooks run."""

import pytest
from django.core import mail

from notifications import sms
from notifications.sms.backends.base import BaseSmsBackend, SmsResult


@pytest.fixture
def sms_outbox():
    sms.outbox = []
    yield sms.outbox
    sms.outbox = []


@pytest.fixture
def committed(django_capture_on_commit_callbacks, sms_outbox):
    """`with committed(): ...` runs the on-commit hooks (the task enqueuing) at the end of
    the block, as a real commit would; the tests' transaction never commits otherwise."""
    mail.outbox = []

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def eager_retries():
    """Let eager tasks retry (at once): Celery's eager mode only runs retries when it does
    not propagate the exception that triggers them."""
    from rdv.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


class ScriptedSmsBackend(BaseSmsBackend):
    """An SMS backend whose next answers a test scripts: errors to raise, then success."""

    name = "scripted"
    script = []  # exceptions to raise, one per call, before succeeding
    sent = []
    calls = 0

    def send_one(self, message):
        type(self).calls += 1
        if self.script:
            raise self.script.pop(0)
        self.sent.append(message)
        return SmsResult(message=message, message_id=f"scripted-{len(self.sent)}")

    @classmethod
    def reset(cls, script=()):
        cls.script, cls.sent, cls.calls = list(script), [], 0
