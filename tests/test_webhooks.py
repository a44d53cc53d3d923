"""Delivery statuses coming back: Twilio's signed status callbacks and inbound STOP replies,
and anymail's tracking events. Forged requests are refused; statuses only move forward."""

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import override_settings
from twilio.request_validator import RequestValidator

from appointments.models import Channel, ConsentRecord
from notifications.models import Notification, Status
from notifications.status import metadata_signature


TOKEN = "test-auth-token"
BASE = "https://rdv.example.fr"


@pytest.fixture
def signed_post(client):
    def post(path, params, *, token=TOKEN, signature=None):
        signature = signature or RequestValidator(token).compute_signature(BASE + path, params)
        return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)

    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE):
        yield post


@pytest.fixture
def sent_sms(demo, committed, sms_outbox):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert sms.status == Status.SENT
    return sms


def status_params(sms, status, **extra):
    return {"MessageSid": sms.provider_message_id, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}


def test_a_delivery_report_marks_the_sms_delivered(signed_post, sent_sms):
    response = signed_post(f"/webhooks/twilio/status?n={sent_sms.pk}", status_params(sent_sms, "delivered"))
    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.DELIVERED
    assert list(sent_sms.status_events.values_list("raw_event", flat=True)) == ["accepted", "twilio:delivered"]


def test_a_forged_callback_is_refused_and_changes_nothing(signed_post, sent_sms):
    response = signed_post("/webhooks/twilio/status", status_params(sent_sms, "undelivered"), token="not-the-token")
    assert response.status_code == 403
    unsigned = signed_post("/webhooks/twilio/status", status_params(sent_sms, "undelivered"), signature="bogus")
    assert unsigned.status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.SENT


def test_a_late_sent_never_overwrites_delivered_and_replays_are_harmless(signed_post, sent_sms):
    for status in ("delivered", "sent", "delivered", "queued"):
        assert signed_post("/webhooks/twilio/status", status_params(sent_sms, status)).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.DELIVERED


def test_an_undelivered_report_keeps_the_operator_code(signed_post, sent_sms):
    signed_post("/webhooks/twilio/status", status_params(sent_sms, "undelivered", ErrorCode="30003"))
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.error_code) == (Status.UNDELIVERED, "30003")


def test_a_report_settles_a_record_whose_sender_crashed_before_saving(signed_post, sent_sms):
    # The worker died after Twilio accepted the message, before recording its id.
    Notification.objects.filter(pk=sent_sms.pk).update(status=Status.UNCERTAIN, provider_message_id="")
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    assert signed_post(f"/webhooks/twilio/status?n={sent_sms.pk}", params).status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_message_id) == (Status.DELIVERED, "SM" + "a" * 32)


def test_a_bad_callback_is_refused(signed_post):
    assert signed_post("/webhooks/twilio/status", {"MessageSid": "SM1", "MessageStatus": "exploded"}).status_code == 400


@pytest.mark.parametrize("reply", ["STOP", "stop", " Arrêt ", "ARRET", "Stop SMS", "stop."])
def test_a_stop_reply_withdraws_sms_consent_of_that_number(signed_post, demo, reply):
    contact = demo.contact()
    same_number = demo.contact(first_name="Hugo")
    response = signed_post("/webhooks/twilio/inbound", {"From": "+33612345678", "Body": reply, "To": "RDV"})
    assert response.status_code == 200 and b"<Response>" in response.content
    for person in (contact, same_number):
        person.refresh_from_db()
        assert person.sms_consent is False and person.email_consent is True
        record = ConsentRecord.objects.filter(contact=person).first()
        assert (record.channel, record.granted, record.source) == ("sms", False, "inbound_sms")


def test_another_reply_changes_nothing(signed_post, demo):
    contact = demo.contact()
    signed_post("/webhooks/twilio/inbound", {"From": "+33612345678", "Body": "Merci, à mardi"})
    contact.refresh_from_db()
    assert contact.sms_consent is True


def test_a_forged_stop_is_refused(signed_post, demo):
    contact = demo.contact()
    response = signed_post("/webhooks/twilio/inbound", {"From": "+33612345678", "Body": "STOP"}, token="forged")
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.sms_consent is True


# --- email, through anymail's normalised tracking events ---------------------------------

@pytest.fixture
def sent_email(demo, committed):
    with committed():
        demo.book()
    return Notification.objects.get(channel=Channel.EMAIL, contact__isnull=False)


def track(event_type, **kwargs):
    tracking.send(sender=object, event=AnymailTrackingEvent(event_type=event_type, **kwargs), esp_name="TestESP")


def test_anymail_events_update_the_email_record(sent_email):
    track("delivered", message_id=sent_email.provider_message_id)
    sent_email.refresh_from_db()
    assert sent_email.status == Status.DELIVERED
    track("queued", message_id=sent_email.provider_message_id)
    sent_email.refresh_from_db()
    assert sent_email.status == Status.DELIVERED


def test_a_bounce_is_recorded(sent_email):
    track("bounced", message_id=sent_email.provider_message_id, reject_reason="bounced")
    sent_email.refresh_from_db()
    assert (sent_email.status, sent_email.error_code) == (Status.BOUNCED, "bounced")


def test_an_event_carrying_only_our_signed_metadata_settles_a_crashed_record(sent_email):
    # The worker died after the ESP took the message, before saving the ESP's id.
    Notification.objects.filter(pk=sent_email.pk).update(status=Status.UNCERTAIN, provider_message_id="")
    metadata = {"notification_id": str(sent_email.pk), "notification_sig": metadata_signature(sent_email.pk)}
    track("delivered", message_id="esp-id-never-saved", metadata=metadata)
    sent_email.refresh_from_db()
    assert (sent_email.status, sent_email.provider_message_id) == (Status.DELIVERED, "esp-id-never-saved")


def test_an_unsubscribe_withdraws_email_consent(sent_email):
    track("unsubscribed", message_id=sent_email.provider_message_id)
    sent_email.contact.refresh_from_db()
    assert sent_email.contact.email_consent is False


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "user:secret-pass"}, EMAIL_BACKEND="anymail.backends.postmark.EmailBackend")
def test_anymail_webhooks_refuse_requests_without_the_secret(client, sent_email):
    import base64
    import json

    payload = json.dumps({"RecordType": "Delivery", "MessageID": sent_email.provider_message_id,
                          "Recipient": sent_email.to, "DeliveredAt": "2026-12-01T10:00:00Z"})
    refused = client.post("/webhooks/anymail/postmark/tracking/", payload, content_type="application/json")
    assert refused.status_code == 400
    auth = "Basic " + base64.b64encode(b"user:secret-pass").decode()
    accepted = client.post("/webhooks/anymail/postmark/tracking/", payload, content_type="application/json",
                           HTTP_AUTHORIZATION=auth)
    assert accepted.status_code == 200
    sent_email.refresh_from_db()
    assert sent_email.status == Status.DELIVERED
