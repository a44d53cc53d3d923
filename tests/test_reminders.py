"""The reminder sweep: every confirmed future appointment is reminded once, REMINDER_DELAY_HOURS
before it starts, whatever runs twice or late; through an index, in batches."""

import io
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments import services
from appointments.models import BookedBy
from notifications.models import Event, Notification, PlannedReminder, ReminderState, Status
from notifications.reminders import due, sweep_due_reminders
from .notifying import planned_due, make_due
from .support.dates import last_afternoon


PARIS = ZoneInfo("Europe/Paris")


def reminders(appointment=None):
    rows = Notification.objects.filter(event=Event.REMINDER)
    if appointment is not None:
        rows = rows.filter(appointment=appointment)
    return sorted(rows.values_list("channel", "status"))


def test_a_reminder_goes_out_once_48_hours_before(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    due_at = appointment.starts_at - timedelta(hours=48)
    with committed():
        assert sweep_due_reminders(now=due_at - timedelta(minutes=1)) == 0
        assert sweep_due_reminders(now=due_at) == 1
        assert sweep_due_reminders(now=due_at + timedelta(minutes=1)) == 0
    assert reminders(appointment) == [("email", "sent"), ("sms", "sent")]
    assert sms_outbox[0].body.startswith("Rappel : RDV Titres d'identité le ")
    assert mail.outbox[0].subject.startswith("Rappel : rendez-vous le")


def test_reminders_missed_while_down_are_caught_up_while_the_appointment_is_ahead(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    with committed():
        # The system was down from the due time until 3 hours before the appointment.
        assert sweep_due_reminders(now=appointment.starts_at - timedelta(hours=3)) == 1
    assert reminders(appointment) == [("email", "sent"), ("sms", "sent")]


def test_no_reminder_once_the_appointment_has_started(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    with committed():
        assert sweep_due_reminders(now=appointment.starts_at + timedelta(minutes=5)) == 0
    assert reminders() == []
    # Dropped, so it leaves the index.
    assert list(appointment.planned_reminders.values_list("status", flat=True)) == ["expired"]


def test_no_reminder_for_a_cancelled_appointment(demo, committed):
    appointment = demo.book(days=10)
    services.cancel(appointment, actor=BookedBy.CITIZEN)
    with committed():
        assert sweep_due_reminders(now=appointment.starts_at - timedelta(hours=1)) == 0
    assert reminders() == []


def test_no_reminder_when_booked_within_the_delay(demo, committed):
    appointment = demo.book(starts_at=timezone.now() + timedelta(hours=30))
    with committed():
        assert sweep_due_reminders(now=appointment.starts_at - timedelta(hours=1)) == 0
    assert reminders() == []


def test_a_moved_appointment_is_reminded_at_the_new_time_not_the_old(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    old_due = appointment.starts_at - timedelta(hours=48)
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=3), agent=demo.camille)
    with committed():
        assert sweep_due_reminders(now=old_due) == 0
        assert sweep_due_reminders(now=appointment.starts_at - timedelta(hours=48)) == 1
    [(channel, status, sequence)] = Notification.objects.filter(event=Event.REMINDER, channel="sms").values_list(
        "channel", "status", "sequence")
    assert (status, sequence) == (Status.SENT, 1)


def test_a_reminder_claimed_then_overtaken_by_a_move_is_not_sent(demo, django_capture_on_commit_callbacks, sms_outbox):
    appointment = demo.book(days=10)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sweep_due_reminders(now=appointment.starts_at - timedelta(hours=47))
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=7), agent=demo.camille)
    for callback in callbacks:
        callback()
    assert reminders(appointment) == [("email", "cancelled"), ("sms", "cancelled")]
    assert sms_outbox == []


def test_the_reminder_is_48_real_hours_before_across_a_dst_change(demo):
    # Monday 30 March 2026 9:00 in Paris (summer time since Sunday 2:00) is 7:00 UTC;
    # 48 hours earlier is Saturday 28 March 7:00 UTC, i.e. 8:00 in Paris (winter time).
    with time_machine.travel(datetime(2026, 3, 16, 12, 0, tzinfo=PARIS), tick=False):
        appointment = demo.book(starts_at=datetime(2026, 3, 30, 9, 0, tzinfo=PARIS))
    assert planned_due(appointment) == [datetime(2026, 3, 28, 8, 0, tzinfo=PARIS)]


def test_the_send_reminders_command_runs_the_same_sweep(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    out = io.StringIO()
    with committed(), time_machine.travel(appointment.starts_at - timedelta(hours=47), tick=False):
        call_command("send_reminders", stdout=out)
    assert "1 appointment(s) reminded." in out.getvalue()
    assert reminders(appointment) == [("email", "sent"), ("sms", "sent")]


def test_what_beat_schedules_is_the_sweep_every_reminder_sweep_seconds(demo, committed, sms_outbox):
    """The task the beat entry names, run through Celery, reminds what is due.
    (That a real beat sends it at this interval: tests/test_faults.py, two beats at once.)"""
    from rdv.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["send-due-reminders"]
    assert entry["schedule"] == settings.REMINDER_SWEEP_SECONDS == 60
    appointment = demo.book(days=10)
    with committed(), time_machine.travel(appointment.starts_at - timedelta(hours=47), tick=False):
        app.tasks[entry["task"]].delay()  # eager in tests: runs here
    assert reminders(appointment) == [("email", "sent"), ("sms", "sent")]


def test_a_double_sweep_in_one_transaction_creates_nothing_twice(demo, committed, sms_outbox):
    appointment = demo.book(days=10)
    now = appointment.starts_at - timedelta(hours=47)
    make_due([appointment], now - timedelta(hours=1))
    with committed():
        sweep_due_reminders(now=now)
        # As if a second sweep had seen the reminder still due (it can't: it is claimed).
        PlannedReminder.objects.filter(appointment=appointment).update(status=ReminderState.PLANNED)
        sweep_due_reminders(now=now)
    assert reminders(appointment) == [("email", "sent"), ("sms", "sent")]
    assert len(sms_outbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_remind_each_appointment_once(sms_outbox, settings):
    from .factories import Demo

    call_command("seed_demo", stdout=io.StringIO())
    demo = Demo()
    # The daily per-recipient limits (notifications/limits.py) are not what this test is about:
    # the 40 contacts share one email address.
    settings.SMS_PER_NUMBER_PER_DAY = settings.EMAIL_PER_ADDRESS_PER_DAY = 1000
    base = timezone.now().replace(microsecond=0) + timedelta(days=10)
    # One number each: a number's appointments of one day share one reminder SMS
    # (test_reminder_schedule.py), and this test counts one SMS per appointment.
    appointments = [demo.book(contacts=[demo.contact(phone=f"+3361000{i:04d}")], starts_at=base + timedelta(minutes=30 * i))
                    for i in range(40)]
    mail.outbox = []
    sms_outbox.clear()
    now = max(a.starts_at for a in appointments) - timedelta(hours=47)
    counts, errors = [], []
    barrier = threading.Barrier(2)

    def sweep():
        try:
            barrier.wait()
            counts.append(sweep_due_reminders(now=now, batch_size=5))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 40
    assert Notification.objects.filter(event=Event.REMINDER, channel="sms").count() == 40
    assert Notification.objects.filter(event=Event.REMINDER, status=Status.SENT).count() == 80
    assert len(sms_outbox) == 40 and len(mail.outbox) == 40


@pytest.mark.postgres
def test_the_sweep_reads_due_appointments_through_the_partial_index(demo):
    call_command("seed_demo", appointments=5_000, stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_plannedreminder")
    now = timezone.now() + timedelta(days=3)
    query = due(now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:1000]
    plan = query.explain()
    print(plan)
    assert "planned_reminder_due_idx" in plan
    assert "Seq Scan" not in plan


def test_bulk_demo_appointments_are_reminded_on_both_channels(demo, committed, sms_outbox, time_machine):
    time_machine.move_to(last_afternoon(PARIS))  # at night the quiet hours would hold the SMS touches
    call_command("seed_demo", appointments=20, stdout=io.StringIO())
    # They start tomorrow: their reminders are due (overdue) now.
    with committed():
        claimed = sweep_due_reminders()
    assert claimed > 0
    assert Notification.objects.filter(event=Event.REMINDER, channel="sms").count() == claimed
    assert Notification.objects.filter(event=Event.REMINDER, channel="email").count() == claimed


def test_the_sweeps_queries_do_not_grow_with_the_reminders_due(demo):
    """One batch costs the same queries for 10 reminders as for 30: the contacts come with
    their organisation (whether a number takes our SMS), not one query each."""
    counts = []
    for size in (10, 30):
        call_command("seed_demo", appointments=size, stdout=io.StringIO())
        # Every planned touch due now, whatever the hour (at night the quiet hours move them).
        PlannedReminder.objects.filter(status=ReminderState.PLANNED).update(due_at=timezone.now() - timedelta(minutes=1))
        with CaptureQueriesContext(connection) as queries:
            swept = sweep_due_reminders()
        counts.append((swept, len(queries)))
    (fewer, queries_for_fewer), (more, queries_for_more) = counts
    assert 0 < fewer < more
    assert queries_for_fewer == queries_for_more
