"""Booking, changing and cancelling: invariants, reminder time, and one event per change."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from appointments import services, signals
from appointments.models import AppointmentAgent, AppointmentStatus, BookedBy
from .notifying import planned_due


@pytest.fixture
def events():
    received = []

    def make(name):
        def receiver(sender, appointment, **kwargs):
            received.append((name, appointment.pk, kwargs.get("previous")))
        return receiver

    handlers = {name: make(name) for name in ("confirmed", "changed", "cancelled")}
    signals.appointment_confirmed.connect(handlers["confirmed"])
    signals.appointment_changed.connect(handlers["changed"])
    signals.appointment_cancelled.connect(handlers["cancelled"])
    yield received
    signals.appointment_confirmed.disconnect(handlers["confirmed"])
    signals.appointment_changed.disconnect(handlers["changed"])
    signals.appointment_cancelled.disconnect(handlers["cancelled"])


def test_each_event_is_sent_once(demo, events):
    appointment = demo.book()
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=1))
    services.cancel(appointment, actor=BookedBy.AGENT, agent=demo.camille, reason="Agent absent")
    assert [(name, pk) for name, pk, _ in events] == [
        ("confirmed", appointment.pk), ("changed", appointment.pk), ("cancelled", appointment.pk)]
    assert set(events[1][2]) == {"starts_at"}
    assert appointment.sequence == 2


def test_a_change_that_changes_nothing_sends_nothing(demo, events):
    appointment = demo.book()
    services.reschedule(appointment, starts_at=appointment.starts_at)
    assert [name for name, *_ in events] == ["confirmed"]
    assert appointment.sequence == 0


def test_cancelling_twice_is_refused_and_notifies_once(demo, events):
    appointment = demo.book()
    services.cancel(appointment, actor=BookedBy.CITIZEN)
    with pytest.raises(ValidationError):
        services.cancel(appointment, actor=BookedBy.AGENT, agent=demo.camille)
    assert [name for name, *_ in events] == ["confirmed", "cancelled"]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED_BY_CITIZEN


def test_a_past_appointment_cannot_be_cancelled(demo):
    appointment = demo.book()
    with pytest.raises(ValidationError):
        services.cancel(appointment, actor=BookedBy.CITIZEN, now=appointment.starts_at + timedelta(minutes=1))


def test_reminder_is_due_48_hours_before_and_follows_a_move(demo):
    appointment = demo.book(days=10)
    assert planned_due(appointment) == [appointment.starts_at - timedelta(hours=48)]
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=3))
    assert planned_due(appointment) == [appointment.starts_at - timedelta(hours=48)]


def test_no_reminder_when_booked_or_moved_within_the_delay(demo):
    appointment = demo.book(starts_at=timezone.now() + timedelta(hours=30))
    assert planned_due(appointment) == []
    later = demo.book(days=10, hour=11)
    services.reschedule(later, starts_at=timezone.now() + timedelta(hours=20))
    assert planned_due(later) == []


def test_cancelling_clears_the_reminder_and_frees_the_agent(demo):
    appointment = demo.book()
    services.cancel(appointment, actor=BookedBy.AGENT, agent=demo.camille)
    assert planned_due(appointment) == []
    again = demo.book(starts_at=appointment.starts_at)
    assert again.status == AppointmentStatus.CONFIRMED


def test_an_agent_cannot_be_double_booked(demo):
    first = demo.book()
    with pytest.raises(services.SlotUnavailable):
        demo.book(starts_at=first.starts_at + timedelta(minutes=10))
    # Another agent at the same time is fine.
    demo.book(starts_at=first.starts_at, agents=[demo.julien])


def test_moving_onto_a_taken_slot_is_refused(demo):
    first = demo.book(hour=9)
    second = demo.book(hour=11)
    with pytest.raises(services.SlotUnavailable):
        services.reschedule(second, starts_at=first.starts_at)


@pytest.mark.postgres
def test_the_database_itself_refuses_overlapping_confirmed_appointments(demo):
    """The guarantee holds even for code that skips the services' own check."""
    first = demo.book()
    second = demo.book(agents=[demo.julien])
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        AppointmentAgent.objects.create(appointment=second, agent=demo.camille)
    assert "no_agent_double_booking" in str(error.value)
    # A cancelled appointment no longer holds the slot.
    services.cancel(first, actor=BookedBy.AGENT)
    AppointmentAgent.objects.create(appointment=second, agent=demo.camille)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_bookings_racing_for_one_slot_one_wins(demo):
    """Two connections book the same agent and time at once: exactly one succeeds."""
    import threading

    from django.db import connection

    starts_at = timezone.now().replace(microsecond=0) + timedelta(days=5)
    contacts = [demo.contact(), demo.contact(first_name="Noé")]
    barrier, results = threading.Barrier(2), []

    def attempt(contact):
        try:
            with transaction.atomic():
                # Both pass the services' check before either commits.
                barrier.wait(timeout=10)
                demo.book(starts_at=starts_at, contacts=[contact])
            results.append("booked")
        except services.SlotUnavailable:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(c,)) for c in contacts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["booked", "refused"]
    assert AppointmentAgent.objects.filter(agent=demo.camille, active=True, starts_at=starts_at).count() == 1


def test_local_time_uses_the_place_time_zone(demo):
    motif = demo.guadeloupe.motifs.get()
    appointment = demo.book(motif=motif, agents=[demo.marie], contacts=[demo.contact(demo.guadeloupe)], hour=8)
    assert appointment.local_starts_at.hour == 8
    assert appointment.local_starts_at.utcoffset() == timedelta(hours=-4)
    assert appointment.starts_at.astimezone(timezone.get_default_timezone()).hour in (12, 13, 14)
