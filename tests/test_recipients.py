"""Who gets what, as a table, without a database (pytest-django refuses any query in a test
that does not ask for one): every event × contact × agent level × who acted × how soon,
then the edges the table does not cross."""

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appointments.models import AppointmentStatus, BookedBy, NotificationLevel
from notifications.models import Event
from notifications.recipients import (
    SOON, Action, AgentFacts, AgentNotificationData, AppointmentFacts, ContactFacts, ContactNotificationData,
    DueReminder, Record, reminder_stands, who_gets_what,
)
from notifications.schedule import BOTH, EMAIL, SMS

NOW = datetime(2026, 6, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
SEQUENCE = 3
REMINDER = DueReminder(SEQUENCE, 48, BOTH)  # a due reminder of the current version
PHONE, ADDRESS = "+33612345678", "lea@exemple.fr"
AGENT_ID, OTHER_AGENT_ID, AGENT_EMAIL = 7, 8, "camille@demo.rdv.fr"

# contact -> (facts, the channels an event reaches them on)
CONTACTS = {
    "sms only": (ContactFacts(1, phone=PHONE, sms_consent=True, textable=True), {"sms"}),
    "email only": (ContactFacts(1, email=ADDRESS, email_consent=True), {"email"}),
    "both": (ContactFacts(1, phone=PHONE, email=ADDRESS, sms_consent=True, email_consent=True, textable=True),
             {"sms", "email"}),
    "none": (ContactFacts(1), set()),
    "withdrawn": (ContactFacts(1, phone=PHONE, email=ADDRESS, textable=True), set()),
}
# Who acted: the agent whose email is in question, another agent, the citizen.
ACTIONS = {
    "self": Action(BookedBy.AGENT, AGENT_ID),
    "other": Action(BookedBy.AGENT, OTHER_AGENT_ID),
    "citizen": Action(BookedBy.CITIZEN),
}
# level -> who acted -> (does the agent get an email when the appointment is far, when soon)
AGENT_TABLE = {
    NotificationLevel.ALL: {"self": (True, True), "other": (True, True), "citizen": (True, True)},
    NotificationLevel.OTHERS: {"self": (False, False), "other": (True, True), "citizen": (True, True)},
    NotificationLevel.SOON: {"self": (False, False), "other": (False, True), "citizen": (False, True)},
    NotificationLevel.NONE: {"self": (False, False), "other": (False, False), "citizen": (False, False)},
}
STARTS = {"far": NOW + timedelta(days=10), "soon": NOW + timedelta(days=1)}
EVENTS = (Event.CONFIRMATION, Event.CHANGE, Event.CANCELLATION, Event.REMINDER)


def appointment(event=Event.CONFIRMATION, when="far", acted_by="other", **changes):
    status = AppointmentStatus.CONFIRMED
    if event == Event.CANCELLATION:
        status = AppointmentStatus.CANCELLED_BY_CITIZEN if acted_by == "citizen" else AppointmentStatus.CANCELLED_BY_AGENT
    return AppointmentFacts(**{"status": status, "starts_at": STARTS[when], "sequence": SEQUENCE, **changes})


def decide(facts, event, *, contacts=(), agents=(), action=None, reminder=REMINDER, now=NOW):
    return who_gets_what(facts, event, contacts=list(contacts), agents=list(agents), action=action,
                         reminder=reminder if event == Event.REMINDER else None, now=now)


@pytest.mark.parametrize("event, contact, level, acted_by, when", list(itertools.product(
    EVENTS, CONTACTS, AGENT_TABLE, ACTIONS, STARTS)))
def test_who_gets_what(event, contact, level, acted_by, when):
    facts, channels = CONTACTS[contact]
    agent = AgentFacts(AGENT_ID, email=AGENT_EMAIL, level=level)
    records = decide(appointment(event, when, acted_by), event, contacts=[facts], agents=[agent], action=ACTIONS[acted_by])
    stage = 48 if event == Event.REMINDER else 0
    expected = {Record("sms", PHONE, SEQUENCE, stage, contact_id=1)} if "sms" in channels else set()
    if "email" in channels:
        expected.add(Record("email", ADDRESS, SEQUENCE, stage, contact_id=1))
    agent_told = AGENT_TABLE[level][acted_by][when == "soon"] and event != Event.REMINDER  # never of a reminder
    if agent_told:
        expected.add(Record("email", AGENT_EMAIL, SEQUENCE, agent_id=AGENT_ID))
    assert set(records) == expected and len(records) == len(expected)


# --- A reminder: its touch's channels, its version ------------------------------------------

@pytest.mark.parametrize("touch, contact, expected", [
    (SMS, "both", {"sms"}), (EMAIL, "both", {"email"}), (BOTH, "both", {"sms", "email"}),
    (SMS, "email only", set()), (EMAIL, "sms only", set()), (EMAIL, "email only", {"email"}),
])
def test_a_reminder_goes_on_its_touchs_channels_only(touch, contact, expected):
    facts, _ = CONTACTS[contact]
    records = decide(appointment(Event.REMINDER), Event.REMINDER, contacts=[facts],
                     reminder=DueReminder(SEQUENCE, 168, touch))
    assert {record.channel for record in records} == expected
    assert {record.stage for record in records} <= {168}


@pytest.mark.parametrize("changes, now, stands", [
    ({}, NOW, True),
    ({"sequence": SEQUENCE + 1}, NOW, False),  # moved since it was planned: the new version has its own
    ({"status": AppointmentStatus.CANCELLED_BY_AGENT}, NOW, False),
    ({"status": AppointmentStatus.DONE}, NOW, False),
    ({}, STARTS["far"], False),  # begun
    ({}, STARTS["far"] - timedelta(minutes=1), True),
])
def test_a_reminder_stands_for_its_version_of_a_confirmed_appointment_ahead(changes, now, stands):
    facts, reminder = appointment(**changes), REMINDER
    assert reminder_stands(facts, reminder, now) is stands
    both, _ = CONTACTS["both"]
    assert bool(decide(facts, Event.REMINDER, contacts=[both], reminder=reminder, now=now)) is stands


# --- The edges --------------------------------------------------------------------------------

@pytest.mark.parametrize("event", EVENTS)
def test_nothing_is_said_about_an_appointment_that_has_begun(event):
    both, _ = CONTACTS["both"]
    agent = AgentFacts(AGENT_ID, email=AGENT_EMAIL, level=NotificationLevel.ALL)
    facts = appointment(event, "soon")
    assert decide(facts, event, contacts=[both], agents=[agent], action=ACTIONS["other"])
    assert decide(facts, event, contacts=[both], agents=[agent], action=ACTIONS["other"], now=facts.starts_at) == []


@pytest.mark.parametrize("agent", [
    AgentFacts(AGENT_ID, email=AGENT_EMAIL, active=False, level=NotificationLevel.ALL),
    AgentFacts(AGENT_ID, email="", level=NotificationLevel.ALL),
])
def test_an_inactive_agent_or_one_without_address_gets_nothing(agent):
    assert decide(appointment(), Event.CONFIRMATION, agents=[agent], action=ACTIONS["other"]) == []


def test_a_number_our_sms_do_not_reach_gets_no_sms_even_with_consent():
    landline = ContactFacts(1, phone="+33472000000", email=ADDRESS, sms_consent=True, email_consent=True)
    assert [r.channel for r in decide(appointment(), Event.CONFIRMATION, contacts=[landline])] == ["email"]


def test_the_soon_horizon_is_inclusive():
    data = AgentNotificationData.from_facts(
        AgentFacts(AGENT_ID, email=AGENT_EMAIL, level=NotificationLevel.SOON), event=Event.CHANGE,
        action=ACTIONS["citizen"], starts_at=NOW + SOON, now=NOW)
    assert data == AgentNotificationData(AGENT_ID, email=True)
    later = AgentNotificationData.from_facts(
        AgentFacts(AGENT_ID, email=AGENT_EMAIL, level=NotificationLevel.SOON), event=Event.CHANGE,
        action=ACTIONS["citizen"], starts_at=NOW + SOON + timedelta(seconds=1), now=NOW)
    assert later.email is False


def test_contacts_first_each_sms_then_email_then_agents_in_their_order():
    lea, _ = CONTACTS["both"]
    hugo = ContactFacts(2, phone="+33611111111", sms_consent=True, textable=True)
    agents = [AgentFacts(AGENT_ID, email=AGENT_EMAIL, level=NotificationLevel.ALL),
              AgentFacts(9, email="julien@demo.rdv.fr", level=NotificationLevel.ALL)]
    records = decide(appointment(), Event.CHANGE, contacts=[lea, hugo], agents=agents, action=ACTIONS["citizen"])
    assert [(r.contact_id, r.agent_id, r.channel) for r in records] == [
        (1, None, "sms"), (1, None, "email"), (2, None, "sms"), (None, AGENT_ID, "email"), (None, 9, "email")]


def test_the_flags_of_one_contact():
    both, _ = CONTACTS["both"]
    assert ContactNotificationData.from_facts(both, channels=["sms", "email"]) == ContactNotificationData(1, True, True)
    assert ContactNotificationData.from_facts(both, channels=["email"]) == ContactNotificationData(1, False, True)
    withdrawn, _ = CONTACTS["withdrawn"]
    assert ContactNotificationData.from_facts(withdrawn, channels=["sms", "email"]) == ContactNotificationData(
        1, False, False)
