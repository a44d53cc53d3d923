"""Delivery statuses coming back from providers, applied to Notification records.

The state machine of a provider's reports, stated once here (`STAGE`, `report_moves`):

    pending/sending/uncertain → sent → soft_bounced → delivered → undelivered | bounced | failed
                                                                            cancelled (never moved)

A report moves a record only to a *later* stage. So:
- out-of-order or replayed reports never downgrade ("sent" after "delivered" is ignored);
- a terminal failure wins over "delivered" (a hard bounce often arrives after the receiving
  server first said yes), and nothing comes back from it;
- a soft bounce is not an end: the provider keeps trying, and a later "delivered" ends
  delivered;
- a cancelled record was never handed to a provider: no report can revive it.
Failures among themselves keep the first one (same stage): its code is the one to read.

Every report is logged (StatusEvent) whether or not it moved the record, so the whole story
stays readable. A report carries a key (the provider's event id, or a digest of the report): an
exact replay finds its key already in the status log and changes nothing at all, not even the log.
"""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import Notification, Status, StatusEvent

log = logging.getLogger(__name__)

STAGE = {
    Status.PENDING: 0,
    Status.SENDING: 1,
    Status.UNCERTAIN: 1,
    Status.SENT: 2,
    Status.SOFT_BOUNCED: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 5,
    Status.BOUNCED: 5,
    Status.FAILED: 5,
    Status.CANCELLED: 6,
    Status.LIMITED: 6,  # like cancelled: never handed to a provider, no report can revive it
}
FAILURES = (Status.UNDELIVERED, Status.BOUNCED, Status.FAILED)
# What providers report; "sending", "pending", "uncertain", "cancelled" and "limited" are ours alone.
REPORTABLE = (Status.SENT, Status.SOFT_BOUNCED, Status.DELIVERED, *FAILURES)

assert set(STAGE) == set(Status), "every status needs its stage in the delivery state machine"


def report_moves(current, reported):
    """Does a provider's report of `reported` move a record that is `current`?"""
    return reported in REPORTABLE and STAGE[reported] > STAGE[current]


def states_moved_by(reported):
    """The statuses a report of `reported` may replace (for one conditional UPDATE)."""
    return [status for status in Status if report_moves(status, reported)]


TWILIO_STATUSES = {
    "accepted": Status.SENT, "scheduled": Status.SENT, "queued": Status.SENT, "sending": Status.SENT,
    "sent": Status.SENT, "delivered": Status.DELIVERED, "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED, "failed": Status.FAILED, "canceled": Status.FAILED,
}

ANYMAIL_STATUSES = {
    "queued": Status.SENT, "sent": Status.SENT, "deferred": Status.SOFT_BOUNCED, "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED, "rejected": Status.FAILED, "failed": Status.FAILED,
}

# Raw ESP events that anymail normalises to "bounced" although the refusal is temporary
# (Postmark "SoftBounce", Brevo/Mandrill "soft_bounce", MailerSend "soft_bounced").
SOFT_BOUNCE_WORDS = ("softbounce", "soft_bounce", "soft_bounced", "soft bounce")


def is_soft_bounce(esp_event):
    """Does the ESP's own payload say this bounce is temporary?"""
    if not isinstance(esp_event, dict):
        return False
    if esp_event.get("hard_bounce") is False:  # Mailjet
        return True
    for key in ("Type", "type", "event", "Event", "RecordType"):
        value = esp_event.get(key)
        if isinstance(value, str) and value.strip().lower() in SOFT_BOUNCE_WORDS:
            return True
    return False


def anymail_status(event):
    """Our status for an anymail tracking event, or None for one we don't keep (opened...)."""
    status = ANYMAIL_STATUSES.get(event.event_type)
    if status == Status.BOUNCED and is_soft_bounce(getattr(event, "esp_event", None)):
        return Status.SOFT_BOUNCED
    return status


def metadata_signature(notification_id):
    """Signs the record id an email carries as ESP metadata: a tracking event may name a
    record by id only with this signature, which no one without the SECRET_KEY can make."""
    return salted_hmac("notifications.email-metadata", str(notification_id)).hexdigest()[:32]


def metadata_signature_ok(notification_id, signature):
    return bool(signature) and constant_time_compare(metadata_signature(notification_id), str(signature))


def report_key(*parts):
    """A fixed-size key for a provider's report, from what identifies it."""
    return hashlib.sha256("\x1f".join(str(part or "") for part in parts).encode()).hexdigest()


def record_report(notification, status, *, raw_event, provider_code="", event_key=""):
    """Add the report to the record's status log. Returns False, adding nothing, when a
    report with the same key is already there (a replay)."""
    try:
        with transaction.atomic():  # a savepoint: a replay must not break the caller's transaction
            StatusEvent.objects.create(notification=notification, status=status, raw_event=raw_event[:64],
                                       provider_code=str(provider_code or "")[:32],
                                       provider_event_key=event_key[:64], received_at=timezone.now())
    except IntegrityError:
        if not event_key:
            raise
        log.info("notification %s: %s report already received, replay ignored", notification.pk, raw_event)
        return False
    return True


def apply_status(notification, status, *, raw_event, provider_code="", provider_message_id="", event_key=""):
    """Record the report; move the record to `status` if the state machine allows it.
    Returns True when the record moved; a replayed report (same `event_key`) changes nothing."""
    if not record_report(notification, status, raw_event=raw_event, provider_code=provider_code, event_key=event_key):
        return False
    now = timezone.now()
    fields = {"status": status, "updated_at": now}
    if provider_code and status in FAILURES:
        fields["error_code"] = str(provider_code)[:32]
    # One conditional UPDATE: two reports racing cannot both win, whatever their order.
    moved = Notification.objects.filter(pk=notification.pk, status__in=states_moved_by(status)).update(**fields) == 1
    if provider_message_id:
        # A report for a record whose sender crashed before saving the provider's id.
        Notification.objects.filter(pk=notification.pk, provider_message_id="").update(provider_message_id=provider_message_id)
    log.info("notification %s: %s report %s (%s)", notification.pk, raw_event, "applied" if moved else "ignored", status)
    return moved
