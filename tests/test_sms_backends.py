"""SMS backends: chosen by SMS_BACKEND like Django's EMAIL_BACKEND, and Twilio's answers
sorted into sent, transient (retry) and permanent (record and stop)."""

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from notifications.models import SmsOutboxMessage
from notifications.sms import SmsMessage, get_sms_backend
from notifications.sms.backends import console, locmem, outbox
from notifications.sms.backends.base import PermanentSmsError, TransientSmsError

from .notifying import ScriptedSmsBackend

MESSAGE = SmsMessage(to="+33612345678", body="RDV Service Public : rappel", status_callback="https://rdv.example.fr/webhooks/twilio/status?n=1")


@pytest.mark.parametrize("name, backend_class", [
    ("outbox", outbox.SmsBackend),
    ("console", console.SmsBackend),
    ("locmem", locmem.SmsBackend),
    ("notifications.sms.backends.locmem.SmsBackend", locmem.SmsBackend),
    ("tests.notifying.ScriptedSmsBackend", ScriptedSmsBackend),
])
def test_backends_are_named_by_short_name_or_dotted_path(name, backend_class):
    backend = get_sms_backend(name)
    assert type(backend) is backend_class and backend.name == backend_class.name


@pytest.mark.parametrize("name, problem", [
    ("carrier-pigeon", "is not one of"),
    ("notifications.sms.backends.nowhere.SmsBackend", "cannot import"),
    ("notifications.models.Notification", "not a BaseSmsBackend subclass"),
])
def test_a_wrong_sms_backend_setting_says_what_is_wrong(name, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        get_sms_backend(name)


@override_settings(TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
def test_twilio_without_credentials_is_refused_clearly():
    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        get_sms_backend("twilio")


def test_the_outbox_keeps_messages_for_a_person_to_read(db):
    [result] = get_sms_backend("outbox").send_messages([MESSAGE])
    stored = SmsOutboxMessage.objects.get()
    assert result.ok and result.message_id == f"outbox-{stored.pk}"
    assert (stored.to, stored.body, stored.segments) == ("+33612345678", "RDV Service Public : rappel", 1)


def test_the_console_prints_messages():
    stream = io.StringIO()
    [result] = get_sms_backend("console", stream=stream).send_messages([MESSAGE])
    assert result.ok and "RDV Service Public : rappel" in stream.getvalue()


def test_a_refused_message_is_a_result_not_an_exception():
    ScriptedSmsBackend.reset([PermanentSmsError("no", code=21211)])
    first, second = get_sms_backend("tests.notifying.ScriptedSmsBackend").send_messages([MESSAGE, MESSAGE])
    assert (first.ok, first.error.code, second.ok) == (False, "21211", True)


# --- Twilio, against the local Twilio-compatible stand-in ------------------------------------

@pytest.fixture
def twilio(twilio_standin):
    with override_settings(**twilio_standin.settings(from_="RDV")):
        yield twilio_standin


def test_twilio_sends_with_sender_and_status_callback(twilio):
    [result] = get_sms_backend().send_messages([MESSAGE])
    [sent] = twilio.messages
    assert result.ok and result.message_id == sent.sid
    assert (sent.to, sent.from_, sent.body, sent.status_callback, sent.num_segments) == (
        "+33612345678", "RDV", MESSAGE.body, MESSAGE.status_callback, 1)


def test_twilio_can_send_through_a_messaging_service(twilio):
    with override_settings(TWILIO_FROM="", TWILIO_MESSAGING_SERVICE_SID="MG" + "0" * 32):
        [result] = get_sms_backend().send_messages([MESSAGE])
    assert result.ok and twilio.messages[0].messaging_service_sid == "MG" + "0" * 32


@pytest.mark.parametrize("status, code, transient", [
    (500, None, True), (503, None, True), (429, None, True),
    (400, 21211, False), (400, 21610, False), (400, 21614, False),
])
def test_twilio_errors_are_transient_or_permanent(twilio, status, code, transient):
    twilio.fail_next(1, status=status, code=code)
    [result] = get_sms_backend().send_messages([MESSAGE])
    assert not result.ok
    assert isinstance(result.error, TransientSmsError if transient else PermanentSmsError)
    assert result.error.code == str(code or {500: 20500, 503: 20500, 429: 20429}[status])


def test_twilio_unreachable_is_transient(db):
    with override_settings(SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="x",
                           TWILIO_FROM="RDV", TWILIO_API_BASE_URL="http://127.0.0.1:9"):
        [result] = get_sms_backend().send_messages([MESSAGE])
    assert isinstance(result.error, TransientSmsError) and result.error.code == "network"


def test_twilio_timeout_is_transient(twilio):
    twilio.set_delay(2)
    [result] = get_sms_backend(timeout=0.5).send_messages([MESSAGE])
    assert isinstance(result.error, TransientSmsError)


def errors_of_checks(**overrides):
    from django.core import checks

    with override_settings(**overrides):
        return sorted(e.id for e in checks.run_checks() if e.id.startswith("notifications."))


def test_delivery_settings_are_checked_at_start():
    assert errors_of_checks() == []
    assert errors_of_checks(SMS_BACKEND="pigeon") == ["notifications.E001"]
    assert errors_of_checks(SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="", TWILIO_FROM="",
                            TWILIO_MESSAGING_SERVICE_SID="") == ["notifications.E002", "notifications.E003"]


def test_an_esp_without_webhook_secret_is_refused_outside_debug():
    esp = {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend", "DEBUG": False}
    assert errors_of_checks(**esp, ANYMAIL={}) == ["notifications.E004"]
    assert errors_of_checks(**esp, ANYMAIL={"WEBHOOK_SECRET": "user:secret"}) == []


def test_twilio_requests_read_the_proxies_of_the_environment_once_per_host(monkeypatch):
    import requests

    from notifications.sms.backends.twilio import Session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "api.twilio.com")
    session = Session()
    reads = []
    original = requests.Session.merge_environment_settings
    monkeypatch.setattr(requests.Session, "merge_environment_settings",
                        lambda self, *args: reads.append(args[0]) or original(self, *args))
    for _ in range(3):
        direct = session.merge_environment_settings("https://api.twilio.com/2010-04-01/x", {}, None, None, None)
        proxied = session.merge_environment_settings("https://stand-in.example/x", {}, None, None, None)
    assert direct["proxies"] == {} and proxied["proxies"]["https"] == "http://proxy.example:3128"
    assert len(reads) == 2  # once per host
    proxied["proxies"].clear()  # what a caller does with its copy stays its own
    assert session.merge_environment_settings("https://stand-in.example/y", {}, None, None, None)["proxies"]
