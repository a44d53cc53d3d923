"""Helpers for the notification tests (their fixtures: tests/support/fixtures.py)."""

from notifications.sms.backends.base import BaseSmsBackend, SmsResult


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
