"""Forged email tracking events (issue 10, item 1): anymail's tracking webhook exists only for
the ESP of EMAIL_BACKEND, only with its authentication, never trusts a record id it is sent,
and an exact replay changes nothing. Every request here is hostile unless said otherwise."""

import base64
import hashlib
import hmac
import json
import secrets

import pytest
from anymail import urls as anymail_urls
from django.core import checks
from django.test import override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from appointments.models import Channel, ConsentRecord
from notifications.models import Notification, Status, StatusEvent, Suppression
from notifications.status import metadata_signature


pytestmark = pytest.mark.postgres

SECRET = "tracker:" + "s" * 40
AUTH = "Basic " + base64.b64encode(SECRET.encode()).decode()
POSTMARK = "anymail.backends.postmark.EmailBackend"
MAILGUN = "anymail.backends.mailgun.EmailBackend"
MAILGUN_KEY = "mailgun-signing-key-for-tests"

# Every tracking route anymail has ("postmark", "amazon_ses", ..., "mandrill").
ESP_ROUTES = sorted(p.name.removesuffix("_tracking_webhook") for p in anymail_urls.urlpatterns
                    if p.name.endswith("_tracking_webhook"))


@pytest.fixture
def sent_emails(demo, committed):
    """Two citizens' confirmation emails, as sent (provider ids stored)."""
    with committed():
        demo.book(contacts=[demo.contact()])
        demo.book(contacts=[demo.contact(first_name="Hugo", email="hugo@exemple.fr")], hour=14)
    emails = list(Notification.objects.filter(channel=Channel.EMAIL, contact__isnull=False).order_by("pk"))
    assert len(emails) == 2 and all(e.status == Status.SENT and e.provider_message_id for e in emails)
    return emails


def postmark_event(notification=None, *, record_type="Delivery", message_id=None, metadata=None, **fields):
    event = {"RecordType": record_type, "MessageID": message_id or notification.provider_message_id,
             "Recipient": "x@exemple.fr", "DeliveredAt": "2026-06-01T10:00:00Z", **fields}
    if metadata is not None:
        event["Metadata"] = metadata
    return json.dumps(event)


def unsubscribe(notification=None, **kwargs):
    return postmark_event(notification, record_type="SubscriptionChange", SuppressSending=True,
                          SuppressionReason="ManualSuppression", ChangedAt="2026-06-01T10:00:00Z", **kwargs)


def post(client, esp, body, **headers):
    return client.post(f"/webhooks/anymail/{esp}/tracking/", body, content_type="application/json", **headers)


def unchanged(emails):
    for email in emails:
        before_status, before_events = email.status, email.status_events.count()
        email.refresh_from_db()
        email.contact.refresh_from_db()
        assert email.status == before_status and email.status_events.count() == before_events
        assert email.contact.email_consent is True
    assert not ConsentRecord.objects.filter(source="email_unsubscribe").exists()


# --- no anymail ESP configured: no route at all ---------------------------------------------

@pytest.mark.parametrize("backend", [
    "django.core.mail.backends.smtp.EmailBackend",
    "notifications.mail.OutboxEmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "anymail.backends.console.EmailBackend",
])
def test_without_an_anymail_esp_every_tracking_route_is_404(client, sent_emails, backend):
    forged = json.dumps({"event": "unsubscribe", "notification_id": str(sent_emails[0].pk)})
    with override_settings(EMAIL_BACKEND=backend, ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        for esp in ESP_ROUTES + ["mandrill/inbound"]:
            assert post(client, esp, forged).status_code == 404, esp
            assert post(client, esp, forged, HTTP_AUTHORIZATION=AUTH).status_code == 404, esp
        # anymail's own mount points are gone too (inbound, Mandrill's combined URL).
        assert client.post("/webhooks/anymail/mandrill/", forged, content_type="application/json").status_code == 404
        assert client.post("/webhooks/anymail/postmark/inbound/", forged, content_type="application/json").status_code == 404
    unchanged(sent_emails)


# --- one ESP configured: its route only, and only authenticated -----------------------------

def test_only_the_configured_esps_route_exists(client, sent_emails):
    with override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        for esp in ESP_ROUTES:
            if esp != "postmark":
                response = post(client, esp, unsubscribe(sent_emails[0]), HTTP_AUTHORIZATION=AUTH)
                assert response.status_code == 404, esp
    unchanged(sent_emails)


def test_the_route_refuses_everything_while_the_secret_is_unset(client, sent_emails):
    for debug in (True, False):
        with override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={}, DEBUG=debug):
            assert post(client, "postmark", unsubscribe(sent_emails[0])).status_code == 403
            assert post(client, "postmark", postmark_event(sent_emails[0], record_type="Bounce", Type="HardBounce",
                                                           BouncedAt="2026-06-01T10:00:00Z", ID=1)).status_code == 403
    unchanged(sent_emails)


@override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_requests_without_the_right_basic_auth_are_refused(client, sent_emails):
    wrong = "Basic " + base64.b64encode(b"tracker:guess").decode()
    for headers in ({}, {"HTTP_AUTHORIZATION": wrong}, {"HTTP_AUTHORIZATION": "Bearer " + SECRET}):
        response = post(client, "postmark", unsubscribe(sent_emails[0]), **headers)
        assert 400 <= response.status_code < 500
    unchanged(sent_emails)
    # The ESP's genuine report, with the secret, is taken.
    assert post(client, "postmark", unsubscribe(sent_emails[0]), HTTP_AUTHORIZATION=AUTH).status_code == 200
    sent_emails[0].contact.refresh_from_db()
    assert sent_emails[0].contact.email_consent is False


def mailgun_event(notification, *, key=MAILGUN_KEY, token=None):
    token = token or secrets.token_hex(25)
    timestamp = str(int(timezone.now().timestamp()))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {"event": "failed", "severity": "permanent", "timestamp": float(timestamp),
                       "recipient": "x@exemple.fr", "reason": "bounce",
                       "message": {"headers": {"message-id": notification.provider_message_id.strip("<>")}}},
    })


def test_a_signing_esp_also_needs_its_signature(client, sent_emails):
    email = sent_emails[0]
    Notification.objects.filter(pk=email.pk).update(provider_message_id="<mg-1@exemple.fr>")
    email.provider_message_id = "<mg-1@exemple.fr>"
    with override_settings(EMAIL_BACKEND=MAILGUN, ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        # Basic auth alone is not enough for an ESP that signs its webhooks.
        assert post(client, "mailgun", mailgun_event(email), HTTP_AUTHORIZATION=AUTH).status_code == 403
    with override_settings(EMAIL_BACKEND=MAILGUN, ANYMAIL={"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}):
        forged = mailgun_event(email, key="not-the-key")
        assert post(client, "mailgun", forged, HTTP_AUTHORIZATION=AUTH).status_code == 400
        assert post(client, "mailgun", mailgun_event(email)).status_code == 400  # signed, but no basic auth
        email.refresh_from_db()
        assert email.status == Status.SENT
        assert post(client, "mailgun", mailgun_event(email), HTTP_AUTHORIZATION=AUTH).status_code == 200
    email.refresh_from_db()
    assert email.status == Status.BOUNCED


# --- record ids the webhook is sent -----------------------------------------------------------

@override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_record_id_in_the_metadata_is_not_trusted(client, sent_emails):
    victim, other = sent_emails
    forged = [
        # the attacker's guess of an id, with an unknown message id
        unsubscribe(message_id="forged-1", metadata={"notification_id": str(victim.pk)}),
        # another record's message id, naming the victim's record
        unsubscribe(other, metadata={"notification_id": str(victim.pk), "notification_sig": "0" * 32}),
        # a genuine signature, but the victim's record has its own provider id: it must match
        postmark_event(message_id="forged-2", record_type="Bounce", Type="HardBounce", ID=7,
                       BouncedAt="2026-06-01T10:00:00Z",
                       metadata={"notification_id": str(victim.pk), "notification_sig": metadata_signature(victim.pk)}),
    ]
    for body in forged[:1] + forged[2:]:
        assert post(client, "postmark", body, HTTP_AUTHORIZATION=AUTH).status_code == 200
    unchanged([victim])
    # The second event is about `other` (its real message id): it is applied to `other` only.
    post(client, "postmark", forged[1], HTTP_AUTHORIZATION=AUTH)
    victim.refresh_from_db(), victim.contact.refresh_from_db(), other.contact.refresh_from_db()
    assert victim.contact.email_consent is True and other.contact.email_consent is False


@override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_signed_metadata_settles_only_a_record_whose_sender_crashed(client, sent_emails):
    crashed = sent_emails[0]
    Notification.objects.filter(pk=crashed.pk).update(status=Status.UNCERTAIN, provider_message_id="")
    unsigned = postmark_event(message_id="pm-1", metadata={"notification_id": str(crashed.pk)})
    post(client, "postmark", unsigned, HTTP_AUTHORIZATION=AUTH)
    crashed.refresh_from_db()
    assert (crashed.status, crashed.provider_message_id) == (Status.UNCERTAIN, "")
    signed = postmark_event(message_id="pm-1", metadata={"notification_id": str(crashed.pk),
                                                         "notification_sig": metadata_signature(crashed.pk)})
    assert post(client, "postmark", signed, HTTP_AUTHORIZATION=AUTH).status_code == 200
    crashed.refresh_from_db()
    assert (crashed.status, crashed.provider_message_id) == (Status.DELIVERED, "pm-1")


# --- replays ----------------------------------------------------------------------------------

@override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_an_exact_replay_changes_nothing(client, sent_emails):
    email = sent_emails[0]
    bounce = postmark_event(email, record_type="Bounce", Type="HardBounce", ID=42, BouncedAt="2026-06-01T10:00:00Z")
    for _ in range(3):
        assert post(client, "postmark", bounce, HTTP_AUTHORIZATION=AUTH).status_code == 200
    email.refresh_from_db()
    assert email.status == Status.BOUNCED
    assert list(email.status_events.values_list("raw_event", flat=True)) == ["accepted", "Postmark:bounced"]


@override_settings(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_replayed_unsubscribe_does_not_withdraw_a_consent_given_again(client, sent_emails):
    email = sent_emails[0]
    body = unsubscribe(email)
    assert post(client, "postmark", body, HTTP_AUTHORIZATION=AUTH).status_code == 200
    contact = email.contact
    contact.refresh_from_db()
    assert contact.email_consent is False
    # The citizen opts in again: the opposition is lifted (the suppression list entry removed,
    # as an administrator does), then the consent given.
    Suppression.objects.filter(channel=Channel.EMAIL, address=contact.email).delete()
    contact.record_consent(Channel.EMAIL, True, source="citizen")
    assert post(client, "postmark", body, HTTP_AUTHORIZATION=AUTH).status_code == 200
    contact.refresh_from_db()
    assert contact.email_consent is True
    assert ConsentRecord.objects.filter(contact=contact, source="email_unsubscribe").count() == 1


def test_a_replayed_twilio_callback_changes_nothing(client, demo, committed):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    params = {"MessageSid": sms.provider_message_id, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    path = f"/webhooks/twilio/status?n={sms.pk}"
    with override_settings(TWILIO_AUTH_TOKEN="tok", PUBLIC_BASE_URL="https://rdv.example.fr"):
        signature = RequestValidator("tok").compute_signature("https://rdv.example.fr" + path, params)
        for _ in range(3):
            assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
    assert StatusEvent.objects.filter(notification=sms, raw_event="twilio:undelivered").count() == 1


# --- system checks --------------------------------------------------------------------------

def security_errors(**overrides):
    with override_settings(**overrides):
        return sorted({e.id for e in checks.run_checks(include_deployment_checks=True)
                       if e.id.startswith("notifications.") and e.level >= checks.ERROR})


def test_check_deploy_reports_a_mounted_webhook_without_authentication(db):
    assert security_errors() == []
    assert security_errors(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", ANYMAIL={}) == []
    for debug in (True, False):
        assert security_errors(EMAIL_BACKEND=POSTMARK, ANYMAIL={}, DEBUG=debug) == ["notifications.E004"]
    assert security_errors(EMAIL_BACKEND=POSTMARK, ANYMAIL={"WEBHOOK_SECRET": SECRET}) == []
    assert security_errors(EMAIL_BACKEND=MAILGUN, ANYMAIL={"WEBHOOK_SECRET": SECRET}) == ["notifications.E005"]
    assert security_errors(EMAIL_BACKEND=MAILGUN, ANYMAIL={"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "k"}) == []
    assert security_errors(EMAIL_BACKEND="anymail.backends.resend.EmailBackend", ANYMAIL={}) == [
        "notifications.E004", "notifications.E005"]


def test_check_reports_anymail_urls_mounted_directly(db):
    assert security_errors(ROOT_URLCONF="tests.support.open_anymail_urls") == ["notifications.E006"]
