"""Delivery statuses coming back from providers, applied to Notification records.

A report only ever moves a record forward (see STATUS_RANK): a late or repeated "sent"
after "delivered" is logged and changes nothing, so webhooks can be replayed safely.
"""

import logging

from django.utils import timezone

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


def apply_status(notification, status, *, raw_event, provider_code="", provider_message_id=""):
    """Record the report; move the record to `status` if that is a step forward.
    Returns True when the record moved."""
    now = timezone.now()
    StatusEvent.objects.create(notification=notification, status=status, raw_event=raw_event[:64],
                               provider_code=str(provider_code or "")[:32], received_at=now)
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
