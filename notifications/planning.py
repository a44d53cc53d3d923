"""Who is told what, from and to the database: reads the facts recipients.py decides on,
turns its records into Notification rows, saves them and hands them to dispatch.py.

Records are created inside the caller's transaction (so they exist if and only if the
change they describe committed); tasks are enqueued only after the commit.
"""

import logging

from django.db import transaction
from django.utils import timezone

from appointments.phones import can_text

from . import recipients
from .dispatch import enqueue
from .models import Notification, Status

log = logging.getLogger(__name__)


def appointment_facts(appointment):
    return recipients.AppointmentFacts(status=appointment.status, starts_at=appointment.starts_at,
                                       sequence=appointment.sequence)


def contact_facts(contact):
    # A blank number is "", a stored one a PhoneNumber, whose truth value costs a validation.
    number = contact.phone
    phone = "" if number is None or isinstance(number, str) and not number else str(number)
    return recipients.ContactFacts(
        id=contact.pk, phone=phone, email=contact.email, sms_consent=contact.sms_consent,
        email_consent=contact.email_consent, textable=bool(phone) and can_text(number, contact.organisation),
    )


def agent_facts(agent):
    return recipients.AgentFacts(id=agent.pk, email=agent.user.email, active=agent.user.is_active,
                                 level=agent.notification_level)


def notifications_for(appointment, event, *, action=None, reminder=None, previous=None, contacts=None, now=None):
    """Unsaved Notification rows for `event` of `appointment`: what recipients.who_gets_what()
    decides. `contacts`: the appointment's, when the caller has them already (the sweep
    prefetches them); the agents are read only for the events they hear of."""
    now = now or timezone.now()
    if contacts is None:
        contacts = appointment.contacts.select_related("organisation")  # can_text() reads it
    contacts = list(contacts)
    agents = list(appointment.agents.select_related("user")) if event in recipients.AGENT_EVENTS else []
    records = recipients.who_gets_what(
        appointment_facts(appointment), event, contacts=[contact_facts(c) for c in contacts],
        agents=[agent_facts(a) for a in agents], action=action, reminder=reminder, now=now,
    )
    contacts_by_id, agents_by_id = {c.pk: c for c in contacts}, {a.pk: a for a in agents}
    return [
        Notification(
            appointment=appointment, event=event, channel=record.channel, to=record.to, sequence=record.sequence,
            stage=record.stage, previous=previous or {}, contact=contacts_by_id.get(record.contact_id),
            recipient_agent=agents_by_id.get(record.agent_id),
        )
        for record in records
    ]


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
