"""The Brevo SMS provider against its local stand-in (requests validated against Brevo's
published OpenAPI description): sending, its answers sorted into the one error vocabulary, and
its status webhook — authenticated, parsed into the same events as Twilio's."""

import base64
import json
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings

from appointments.models import Channel
from notifications.errors import PermanentDeliveryError, ProviderThrottled, ProviderUnavailable, TransientDeliveryError
from notifications.models import Notification, Status, Suppression
from notifications.sms import SmsMessage, get_sms_backend
from notifications.sms.backends.brevo import SmsBackend as BrevoBackend

BASE = "https://rdv.example.fr"
SECRET = "brevo:standin-webhook-secret"


@pytest.fixture
def brevo(brevo_standin):
    with override_settings(**brevo_standin.settings(sender="RdvSoli"), PUBLIC_BASE_URL=BASE):
        yield brevo_standin


def test_brevo_sends_one_valid_request_with_sender_and_status_webhook(brevo):
    message = SmsMessage(to="+33612345678", body="RDV le mar. 12/03 à 14h30", sender="RDV S.P.",
                         status_callback=BrevoBackend.status_callback_url("41"))
    [result] = get_sms_backend("brevo").send_messages([message])
    [sent] = brevo.messages
    assert result.ok and result.message_id == str(sent.message_id)
    assert (sent.recipient, sent.sender, sent.content, sent.sms_count) == ("33612345678", "RDV S.P.", message.body, 1)
    # The webhook URL carries the credentials Brevo gives back, and names the record.
    assert sent.web_url == f"https://{SECRET}@rdv.example.fr/webhooks/brevo/status?n=41"
    assert "unicodeEnabled" not in sent.payload


def test_text_outside_gsm7_is_sent_as_unicode_and_the_default_sender_fills_in(brevo):
    [result] = get_sms_backend("brevo").send_messages([SmsMessage(to="+33612345678", body="Rendez-vous ✓")])
    [sent] = brevo.messages
    assert result.ok and sent.payload["unicodeEnabled"] is True and sent.sender == "RdvSoli"


@pytest.mark.parametrize("status, code, error_class", [
    (402, "not_enough_credits", ProviderUnavailable),
    (500, "", TransientDeliveryError),
    (429, "", ProviderThrottled),
    (400, "invalid_parameter", PermanentDeliveryError),
])
def test_brevo_answers_are_sorted_into_the_error_vocabulary(brevo, status, code, error_class):
    brevo.fail_next(status=status)
    [result] = get_sms_backend("brevo").send_messages([SmsMessage(to="+33612345678", body="x")])
    assert type(result.error) is error_class and result.error.provider == "brevo"
    assert result.error.code == (code or str(status))
    assert result.error.transient == (status != 400)


def test_running_out_of_credits_is_a_402_that_says_the_provider_is_down(brevo):
    brevo.set_credits(1)
    backend = get_sms_backend("brevo")
    first, second = backend.send_messages([SmsMessage(to="+33612345678", body="a"), SmsMessage(to="+33612345678", body="b")])
    assert first.ok and second.error.provider_down and second.error.code == "not_enough_credits"


def test_a_request_the_spec_refuses_is_a_permanent_error(brevo):
    # A recipient Brevo cannot read (not a number): the stand-in refuses it as Brevo does.
    [result] = get_sms_backend("brevo").send_messages([SmsMessage(to="+33 6 12", body="x")])
    assert isinstance(result.error, PermanentDeliveryError) and result.error.status == 400


def test_brevo_unreachable_is_transient():
    with override_settings(BREVO_API_KEY="k", BREVO_API_BASE_URL="http://127.0.0.1:9/v3"):
        [result] = get_sms_backend("brevo").send_messages([SmsMessage(to="+33612345678", body="x")])
    assert result.error.transient and result.error.code == "network"


def test_brevo_settings_are_checked(settings):
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM = "AC1", "t", "RDV"
    settings.BREVO_API_KEY, settings.BREVO_WEBHOOK_SECRET = "", ""
    from notifications.checks import check_sms_backend

    assert {error.id for error in check_sms_backend(None)} == {"notifications.E009", "notifications.E010"}
    settings.BREVO_API_KEY, settings.BREVO_WEBHOOK_SECRET = "k", "u:p"
    assert check_sms_backend(None) == []
    call_command("check")  # the whole system check passes with both providers


# --- Its webhook ------------------------------------------------------------------------------


@pytest.fixture
def brevo_sms(demo, committed, brevo):
    with override_settings(SMS_BACKEND="brevo"), committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert (sms.status, sms.provider) == (Status.SENT, "brevo")
    return sms


def post_event(client, payload, credentials=SECRET, query=""):
    headers = {}
    if credentials is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return client.post("/webhooks/brevo/status" + query, json.dumps(payload), content_type="application/json", **headers)


def deliver(client, brevo, sent, status, extra=None):
    """What Brevo sends for `sent` to its webUrl, posted to this test's app (basic auth from the URL)."""
    url, event = brevo.event(sent.message_id, status, extra)
    parts = urlsplit(url)
    return post_event(client, event, credentials=f"{parts.username}:{parts.password}", query="?" + parts.query)


def test_brevo_status_webhook_moves_the_record(brevo_sms, brevo, client):
    [sent] = brevo.messages
    url, event = brevo.event(sent.message_id, "delivered", None)
    parts = urlsplit(url)

    def post():
        return post_event(client, event, credentials=f"{parts.username}:{parts.password}", query="?" + parts.query)

    assert post().status_code == 204
    brevo_sms.refresh_from_db()
    assert brevo_sms.status == Status.DELIVERED
    assert brevo_sms.status_events.filter(raw_event="brevo:delivered").count() == 1
    # The same report again, byte for byte (a replay: built once, so no second-boundary of its
    # timestamp can make it another report), changes nothing: its key is in the log.
    assert post().status_code == 204
    assert brevo_sms.status_events.filter(raw_event="brevo:delivered").count() == 1


def test_a_hard_bounce_is_undelivered_with_its_code(brevo_sms, brevo, client):
    [sent] = brevo.messages
    deliver(client, brevo, sent, "hard_bounce")
    brevo_sms.refresh_from_db()
    assert (brevo_sms.status, brevo_sms.error_code) == (Status.UNDELIVERED, "hard_bounce")


@pytest.mark.parametrize("credentials", [None, "brevo:wrong", "", "brevo:standin-webhook-secret-and-more"])
def test_forged_brevo_events_are_refused(brevo_sms, client, credentials):
    payload = {"messageId": int(brevo_sms.provider_message_id), "msg_status": "hard_bounce", "to": "33612345678"}
    assert post_event(client, payload, credentials=credentials).status_code == 403
    brevo_sms.refresh_from_db()
    assert brevo_sms.status == Status.SENT and not brevo_sms.status_events.filter(raw_event__startswith="brevo").exists()


def test_without_a_secret_the_webhook_refuses_everything(brevo_sms, client):
    with override_settings(BREVO_WEBHOOK_SECRET=""):
        assert post_event(client, {"messageId": 1, "msg_status": "delivered"}, credentials=":").status_code == 403


def test_an_event_cannot_name_another_record_by_its_id(brevo_sms, client, demo):
    # Authentic but about a message id we never had, naming our record in the query: the record
    # already has its provider id, so the reference does not count.
    payload = {"messageId": 999, "msg_status": "hard_bounce", "to": "33612345678"}
    assert post_event(client, payload, query=f"?n={brevo_sms.pk}").status_code == 204
    brevo_sms.refresh_from_db()
    assert brevo_sms.status == Status.SENT


@pytest.mark.parametrize("payload", [{"msg_status": "delivered"}, {"messageId": 1, "msg_status": "teleported"}, []])
def test_unreadable_events_get_400(brevo_sms, client, payload):
    assert post_event(client, payload).status_code == 400


def test_an_unsubscribe_event_puts_the_number_on_the_suppression_list(brevo_sms, brevo, client):
    [sent] = brevo.messages
    assert deliver(client, brevo, sent, "unsubscribed").status_code == 204
    assert Suppression.objects.filter(channel=Channel.SMS, address="+33612345678").exists()


def test_a_reply_saying_stop_opts_out(brevo_sms, brevo, client):
    [sent] = brevo.messages
    assert deliver(client, brevo, sent, "replied", extra={"reply": "Stop merci"}).status_code == 204
    assert Suppression.objects.filter(channel=Channel.SMS, address="+33612345678").exists()
