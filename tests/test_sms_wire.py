"""notifications/sms/wire.py: an HTTP provider's connection calls the "request leaves" hook
itself, as the request is written, under the process's lock; a hook that fails lets nothing
leave. Against the Twilio stand-in, a real HTTP server."""

import pytest
from django.test import override_settings

from notifications import liveness
from notifications.sms import SmsMessage, wire
from notifications.sms.backends.twilio import SmsBackend


@pytest.fixture
def twilio(twilio_standin):
    with override_settings(**twilio_standin.settings(from_="RDV")):
        yield twilio_standin


def message():
    return SmsMessage(to="+33612345678", body="Rappel : rendez-vous demain à 10h00.")


def test_the_hook_runs_once_as_the_request_is_written_under_the_lock(twilio):
    backend = SmsBackend()
    seen = []

    def hook():
        seen.append((twilio.stats()["requests"], wire._writing.locked()))

    wire.on_write(hook)
    try:
        [result] = backend.send_messages([message()])
    finally:
        wire.on_write(None)
    assert result.error is None
    assert seen == [(0, True)]  # before the stand-in had the request, with the lock held
    assert twilio.stats()["requests"] == 1 and wire.pending() is None


def test_a_hook_that_fails_lets_nothing_leave_even_on_a_retry(twilio):
    backend = SmsBackend()
    calls = []

    def unreachable_cache():
        calls.append(1)
        raise liveness.MarkNotRemoved("ConnectionError: cache unreachable")

    wire.on_write(unreachable_cache)
    try:
        for _ in range(2):  # a second attempt (a retry of the connection) fails the same way
            with pytest.raises(liveness.MarkNotRemoved):
                backend.send_messages([message()])
    finally:
        wire.on_write(None)
    assert len(calls) == 2 and twilio.stats()["requests"] == 0
    assert not wire._writing.locked()


def test_without_a_hook_requests_go_as_usual(twilio):
    [result] = SmsBackend().send_messages([message()])
    assert result.error is None and twilio.stats()["requests"] == 1
