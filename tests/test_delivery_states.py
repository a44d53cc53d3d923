"""The delivery state machine (notifications/status.py), as a table: terminal failures win
over "delivered", out-of-order reports never downgrade, a soft bounce is not an end; and
the admin's resend goes to the contact's current details."""

import base64
import json

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import override_settings

from appointments.models import Channel
from notifications.admin import resend
from notifications.models import Notification, Status
from notifications.status import STAGE, apply_status, report_moves


S = Status

# (status of the record, reports in the order they arrive, status it must end in)
TABLE = [
    (S.SENT, [S.DELIVERED], S.DELIVERED),
    (S.SENT, [S.DELIVERED, S.BOUNCED], S.BOUNCED),  # a hard bounce after the server's "yes"
    (S.SENT, [S.BOUNCED, S.DELIVERED], S.BOUNCED),  # out of order: the failure stays
    (S.SENT, [S.SOFT_BOUNCED, S.DELIVERED], S.DELIVERED),  # the provider's retry got through
    (S.SENT, [S.DELIVERED, S.SOFT_BOUNCED], S.DELIVERED),  # a late soft bounce never downgrades
    (S.SENT, [S.SOFT_BOUNCED, S.SOFT_BOUNCED], S.SOFT_BOUNCED),
    (S.SENT, [S.SOFT_BOUNCED, S.BOUNCED, S.DELIVERED], S.BOUNCED),
    (S.SENT, [S.DELIVERED, S.SENT, S.SENT], S.DELIVERED),  # late "sent"/"queued" replays
    (S.SENT, [S.FAILED, S.DELIVERED, S.SENT], S.FAILED),
    (S.SENT, [S.BOUNCED, S.FAILED], S.BOUNCED),  # the first failure and its code are kept
    (S.SENT, [S.UNDELIVERED, S.DELIVERED], S.UNDELIVERED),
    (S.SENT, [S.DELIVERED, S.UNDELIVERED], S.UNDELIVERED),
    (S.UNCERTAIN, [S.DELIVERED], S.DELIVERED),  # the provider settles a record in doubt
    (S.UNCERTAIN, [S.SENT], S.SENT),
    (S.SENDING, [S.SENT, S.DELIVERED], S.DELIVERED),
    (S.CANCELLED, [S.DELIVERED, S.BOUNCED], S.CANCELLED),  # never handed over: nothing revives it
    (S.DELIVERED, [S.PENDING, S.SENDING, S.UNCERTAIN, S.CANCELLED], S.DELIVERED),  # not provider reports
]


@pytest.fixture
def email(demo, committed):
    with committed():
        demo.book()
    record = Notification.objects.get(channel=Channel.EMAIL, contact__isnull=False)
    assert record.status == Status.SENT
    return record


@pytest.mark.parametrize("start, reports, end", TABLE, ids=[
    f"{start}+{'+'.join(reports)}->{end}" for start, reports, end in TABLE])
def test_the_state_machine_on_a_real_record(email, start, reports, end):
    Notification.objects.filter(pk=email.pk).update(status=start)
    for report in reports:
        apply_status(email, report, raw_event=f"test:{report}", provider_code="550" if report == S.BOUNCED else "")
    email.refresh_from_db()
    assert email.status == end
    # Every report is kept, moved or not.
    assert email.status_events.filter(raw_event__startswith="test:").count() == len(reports)


def test_no_report_ever_moves_a_record_to_an_earlier_stage():
    for current in Status:
        for reported in Status:
            if report_moves(current, reported):
                assert STAGE[reported] > STAGE[current], (current, reported)


def test_a_failure_after_delivered_keeps_the_provider_code(email):
    apply_status(email, S.DELIVERED, raw_event="esp:delivered")
    assert apply_status(email, S.BOUNCED, raw_event="esp:bounced", provider_code="5.1.1")
    email.refresh_from_db()
    assert (email.status, email.error_code) == (S.BOUNCED, "5.1.1")


def track(event_type, esp_event=None, **kwargs):
    tracking.send(sender=object, event=AnymailTrackingEvent(event_type=event_type, esp_event=esp_event, **kwargs),
                  esp_name="TestESP")


@pytest.mark.parametrize("esp_event", [
    {"RecordType": "Bounce", "Type": "SoftBounce"},  # Postmark
    {"event": "soft_bounce"},  # Brevo, Mandrill
    {"hard_bounce": False, "event": "bounce"},  # Mailjet
])
def test_a_soft_bounce_normalised_as_bounced_then_delivered_ends_delivered(email, esp_event):
    track("bounced", esp_event, message_id=email.provider_message_id, reject_reason="bounced")
    email.refresh_from_db()
    assert email.status == S.SOFT_BOUNCED
    track("delivered", message_id=email.provider_message_id)
    email.refresh_from_db()
    assert email.status == S.DELIVERED


def test_a_deferred_event_is_a_soft_bounce_and_a_hard_bounce_still_wins(email):
    track("deferred", {"event": "deferred"}, message_id=email.provider_message_id)
    email.refresh_from_db()
    assert email.status == S.SOFT_BOUNCED
    track("delivered", message_id=email.provider_message_id)
    track("bounced", {"event": "hard_bounce"}, message_id=email.provider_message_id, reject_reason="bounced")
    email.refresh_from_db()
    assert email.status == S.BOUNCED


@override_settings(EMAIL_BACKEND="anymail.backends.postmark.EmailBackend", ANYMAIL={"WEBHOOK_SECRET": "user:secret-pass"})
def test_postmark_hard_bounce_after_delivery_through_the_real_webhook(client, email):
    auth = "Basic " + base64.b64encode(b"user:secret-pass").decode()

    def post(payload):
        response = client.post("/webhooks/anymail/postmark/tracking/", json.dumps(payload),
                               content_type="application/json", HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200

    post({"RecordType": "Delivery", "MessageID": email.provider_message_id, "Recipient": email.to,
          "DeliveredAt": "2026-12-01T10:00:00Z"})
    post({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "MessageID": email.provider_message_id,
          "Email": email.to, "BouncedAt": "2026-12-01T10:00:05Z", "Description": "Unknown user"})
    email.refresh_from_db()
    assert email.status == S.BOUNCED


# --- resend goes to the current details ---------------------------------------------------

def test_resend_goes_to_the_corrected_phone_number(demo, committed, sms_outbox):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel="sms", resend=0)
    assert sms.to == "+33612345678"
    Notification.objects.filter(pk=sms.pk).update(status=S.UNDELIVERED, error_code="30003")
    sms.contact.phone = "+33687654321"  # the agent corrected a wrong digit
    sms.contact.save()
    with committed():
        copy = resend(Notification.objects.get(pk=sms.pk))
    copy.refresh_from_db()
    assert copy.to == "+33687654321" and copy.status == S.SENT
    assert sms_outbox[-1].to == "+33687654321"
    assert Notification.objects.get(pk=sms.pk).to == "+33612345678"  # the history stays as it was


def test_resend_goes_to_the_corrected_email(demo, committed):
    with committed():
        demo.book()
    email = Notification.objects.get(channel="email", contact__isnull=False, resend=0)
    Notification.objects.filter(pk=email.pk).update(status=S.BOUNCED)
    email.contact.email = "lea.dupont@exemple.org"
    email.contact.save()
    with committed():
        copy = resend(Notification.objects.get(pk=email.pk))
    assert Notification.objects.get(pk=copy.pk).to == "lea.dupont@exemple.org"


def test_resend_is_refused_when_the_number_was_removed(demo, committed):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel="sms")
    Notification.objects.filter(pk=sms.pk).update(status=S.FAILED)
    type(sms.contact).objects.filter(pk=sms.contact_id).update(phone="", sms_consent=False)
    assert resend(Notification.objects.get(pk=sms.pk)) is None
    assert Notification.objects.filter(channel="sms").count() == 1
