"""Who is told what: the Notification records an event calls for, saved and handed to
dispatch.py.

Records are created inside the caller's transaction (so they exist if and only if the
change they describe committed); tasks are enqueued only after the commit.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from appointments.models import BookedBy, Channel, NotificationLevel

from .dispatch import enqueue
from .models import Notification, Status

log = logging.getLogger(__name__)

# Agents with the "soon" level hear about appointments within this horizon.
SOON = timedelta(days=2)


def contact_notifications(appointment, event, *, previous=None, contacts=None, channels=(Channel.SMS, Channel.EMAIL),
                          stage=0):
    """Unsaved records: one per participating contact and channel (among `channels`: a
    reminder's touch may use one) they consented to."""
    rows = []
    for contact in contacts if contacts is not None else appointment.contacts.all():
        common = dict(appointment=appointment, contact=contact, event=event, sequence=appointment.sequence,
                      stage=stage, previous=previous or {})
        if Channel.SMS in channels and contact.can_receive_sms():
            rows.append(Notification(channel=Channel.SMS, to=str(contact.phone), **common))
        if Channel.EMAIL in channels and contact.can_receive_email():
            rows.append(Notification(channel=Channel.EMAIL, to=contact.email, **common))
    return rows


def agent_wants(agent, *, actor, acting_agent, appointment, now):
    """Does this agent want an email about a booking, change or cancellation?"""
    by_self = actor == BookedBy.AGENT and acting_agent is not None and acting_agent.pk == agent.pk
    level = agent.notification_level
    if level == NotificationLevel.ALL:
        return True
    if level == NotificationLevel.OTHERS:
        return not by_self
    if level == NotificationLevel.SOON:
        return not by_self and appointment.starts_at <= now + SOON
    return False


def agent_notifications(appointment, event, *, actor, acting_agent, previous=None, now=None):
    now = now or timezone.now()
    rows = []
    for agent in appointment.agents.select_related("user"):
        if not agent.user.email or not agent.user.is_active:
            continue
        if agent_wants(agent, actor=actor, acting_agent=acting_agent, appointment=appointment, now=now):
            rows.append(Notification(
                appointment=appointment, recipient_agent=agent, event=event, channel=Channel.EMAIL,
                sequence=appointment.sequence, to=agent.user.email, previous=previous or {},
            ))
    return rows


def save_and_enqueue(rows):
    """Save the records (a duplicate of an existing one is silently skipped: the unique
    constraints say it was already planned) and enqueue the pending ones after commit."""
    if not rows:
        return
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    keys = {(row.appointment_id, row.event, row.sequence) for row in rows}
    pending = Notification.objects.filter(
        appointment_id__in={key[0] for key in keys}, event__in={key[1] for key in keys}, status=Status.PENDING,
    ).values_list("pk", "channel", "appointment_id", "event", "sequence")
    ids = [(pk, channel) for pk, channel, *key in pending if tuple(key) in keys]
    transaction.on_commit(lambda: enqueue(ids))


def not_started(appointment, now=None):
    return appointment.starts_at > (now or timezone.now())
