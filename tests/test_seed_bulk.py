"""seed_demo --appointments, as the benchmarks use it: runs add up, nobody double-booked,
every contact reachable on both channels."""

import io
from collections import Counter

import pytest
from django.core.management import call_command

from appointments.models import Appointment, AppointmentAgent, Contact


def seed(n):
    call_command("seed_demo", "--appointments", str(n), stdout=io.StringIO())


@pytest.mark.slow
@pytest.mark.django_db
def test_bulk_runs_add_up_without_double_booking_an_agent():
    seed(30)
    seed(6_000)  # more than one agent's year: the second run needs a second bench agent
    assert Appointment.objects.count() == 6_030
    slots = Counter(AppointmentAgent.objects.filter(active=True).values_list("agent_id", "starts_at"))
    assert slots.most_common(1)[0][1] == 1
    assert len({agent for agent, _ in slots}) == 2


@pytest.mark.django_db
def test_bulk_contacts_can_receive_sms_and_email():
    seed(50)
    contacts = list(Contact.objects.filter(appointments__isnull=False).distinct())
    assert len(contacts) >= 50
    assert all(contact.can_receive_sms() and contact.can_receive_email() for contact in contacts)
    # Each consent is recorded, one record per channel.
    assert all(contact.consent_records.count() == 2 for contact in contacts)
