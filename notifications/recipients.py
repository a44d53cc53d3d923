"""Who gets what: the records an event of an appointment calls for, decided from plain data.

No database, no queue (the models are imported for their choices only): the caller (planning.py for bookings, changes and cancellations,
reminders.py for the sweep) reads the facts into the small dataclasses below, asks
`who_gets_what()`, then saves and dispatches what it returns. Shaped like Zulip's
zerver/lib/notification_data.py: one small dataclass per recipient with its channel flags,
built from plain data, so that the rule is tested as a table (tests/test_recipients.py).

The rule:
- nothing is said about an appointment that has already begun;
- a contact hears of every event, on each channel the event uses (a reminder's touch may use
  one) that they consented to and that can reach them;
- an agent of the appointment hears of a booking, change or cancellation by email, according
  to their notification level, if their account is active and has an address; never of a
  reminder;
- a reminder goes out only for the version (`sequence`) it was planned for, while the
  appointment is confirmed and ahead.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from appointments.models import AppointmentStatus, BookedBy, Channel, NotificationLevel

from . import schedule
from .models import Event

# Agents with the "soon" level hear about appointments within this horizon.
SOON = timedelta(days=2)

# The events agents hear of (loaders read the agents only for these).
AGENT_EVENTS = frozenset({Event.CONFIRMATION, Event.CHANGE, Event.CANCELLATION})
EVENT_CHANNELS = (Channel.SMS, Channel.EMAIL)


# --- The facts ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AppointmentFacts:
    status: str  # AppointmentStatus
    starts_at: datetime
    sequence: int  # its version: how many changes it has had


@dataclass(frozen=True)
class Action:
    """Who booked, changed or cancelled."""

    actor: str  # BookedBy
    agent_id: int | None = None  # the agent who did it, when one did


@dataclass(frozen=True)
class DueReminder:
    """A planned reminder that fell due: the version it was planned for, its touch."""

    sequence: int
    stage: int  # hours before the start
    channels: str  # schedule.SMS, EMAIL or BOTH


@dataclass(frozen=True)
class ContactFacts:
    id: int
    phone: str = ""  # E.164, or ""
    email: str = ""
    sms_consent: bool = False
    email_consent: bool = False
    # The number is one our SMS reach for this organisation (appointments.phones.can_text),
    # consent aside.
    textable: bool = False


@dataclass(frozen=True)
class AgentFacts:
    id: int
    email: str = ""
    active: bool = True
    level: str = NotificationLevel.OTHERS


@dataclass(frozen=True)
class Record:
    """One Notification to create (the caller adds the appointment, the event and, for a
    change, what it was before)."""

    channel: str
    to: str
    sequence: int
    stage: int = 0
    contact_id: int | None = None
    agent_id: int | None = None


# --- One recipient -------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactNotificationData:
    contact_id: int
    sms: bool
    email: bool

    @classmethod
    def from_facts(cls, contact, *, channels):
        """`channels`: those the event (or the reminder's touch) uses."""
        return cls(
            contact_id=contact.id,
            sms=Channel.SMS in channels and contact.sms_consent and contact.textable and bool(contact.phone),
            email=Channel.EMAIL in channels and contact.email_consent and bool(contact.email),
        )


@dataclass(frozen=True)
class AgentNotificationData:
    agent_id: int
    email: bool

    @classmethod
    def from_facts(cls, agent, *, event, action, starts_at, now):
        return cls(agent_id=agent.id, email=(
            event in AGENT_EVENTS and agent.active and bool(agent.email)
            and agent_wants(agent.level, by_self=acted_by(action, agent.id), starts_at=starts_at, now=now)))


def acted_by(action, agent_id):
    return action is not None and action.actor == BookedBy.AGENT and action.agent_id == agent_id


def agent_wants(level, *, by_self, starts_at, now):
    """Does an agent of this notification level want an email about this change?"""
    if level == NotificationLevel.ALL:
        return True
    if level == NotificationLevel.OTHERS:
        return not by_self
    if level == NotificationLevel.SOON:
        return not by_self and starts_at <= now + SOON
    return False


# --- The records -----------------------------------------------------------------------------

def reminder_stands(appointment, reminder, now):
    """A due reminder still applies: same version, confirmed, not begun (else it expires)."""
    return (appointment.status == AppointmentStatus.CONFIRMED and appointment.starts_at > now
            and appointment.sequence == reminder.sequence)


def who_gets_what(appointment, event, *, contacts, agents=(), action=None, reminder=None, now):
    """[Record] for `event` of `appointment` (AppointmentFacts), decided at `now`: contacts
    first (SMS then email for each), then agents. `reminder` (DueReminder) for Event.REMINDER,
    `action` for the other events."""
    if event == Event.REMINDER:
        if not reminder_stands(appointment, reminder, now):
            return []
        channels, sequence, stage = schedule.channel_list(reminder.channels), reminder.sequence, reminder.stage
    else:
        if appointment.starts_at <= now:
            return []
        channels, sequence, stage = EVENT_CHANNELS, appointment.sequence, 0
    records = []
    for contact in contacts:
        data = ContactNotificationData.from_facts(contact, channels=channels)
        if data.sms:
            records.append(Record(Channel.SMS, contact.phone, sequence, stage, contact_id=contact.id))
        if data.email:
            records.append(Record(Channel.EMAIL, contact.email, sequence, stage, contact_id=contact.id))
    for agent in agents:
        if AgentNotificationData.from_facts(agent, event=event, action=action, starts_at=appointment.starts_at,
                                            now=now).email:
            records.append(Record(Channel.EMAIL, agent.email, sequence, stage, agent_id=agent.id))
    return records
