"""Delivery statuses coming back from providers, applied to Notification records.

A report only ever moves a record forward (see STATUS_RANK): a late or repeated "sent"
after "delivered" is logged and changes nothing. A report carries a key (the provider's event
id, or a digest of the report): an exact replay finds its key already in the status log and
changes nothing at all, not even the log.
"""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import STATUS_RANK, Notification, Status, StatusEvent

log = logging.getLogger(__name__)

TWILIO_STATUSES = {
    "accepted": Status.SENT, "scheduled": Status.SENT, "queued": Status.SENT, "sending": Status.SENT,
    "sent": Status.SENT, "delivered": Status.DELIVERED, "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED, "failed": Status.FAILED, "canceled": Status.FAILED,
}

ANYMAIL_STATUSES = {
    "queued": Status.SENT, "sent": Status.SENT, "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED, "rejected": Status.FAILED, "failed": Status.FAILED,
}


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
    """Record the report; move the record to `status` if that is a step forward.
    Returns True when the record moved; a replayed report (same `event_key`) changes nothing."""
    if not record_report(notification, status, raw_event=raw_event, provider_code=provider_code, event_key=event_key):
        return False
    now = timezone.now()
    behind = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    fields = {"status": status, "updated_at": now}
    if provider_code and status in (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED):
        fields["error_code"] = str(provider_code)[:32]
    moved = Notification.objects.filter(pk=notification.pk, status__in=behind).update(**fields) == 1
    if provider_message_id:
        # A report for a record whose sender crashed before saving the provider's id.
        Notification.objects.filter(pk=notification.pk, provider_message_id="").update(provider_message_id=provider_message_id)
    log.info("notification %s: %s report %s (%s)", notification.pk, raw_event, "applied" if moved else "ignored", status)
    return moved
