"""Reminder sweep: time to find and enqueue the due reminders, with 10k, 100k and 1M
appointments in PostgreSQL and the same number due each time. The cost must follow what is
due, not the size of the table.

Every seeded motif carries a three-touch schedule (THREE_TOUCHES), so that the planned
reminders table holds up to three rows per appointment (fewer for those booked after a touch
had passed), as with a motif that follows the practice the issue cites."""

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from notifications.schedule import BOTH, EMAIL, SMS

from . import broker, database

SIZES = (10_000, 100_000, 1_000_000)
DUE = 1_000
REPEATS = 3
# (hours before, channels): a week before by email, two days before on both, the day before by SMS.
THREE_TOUCHES = ((168, EMAIL), (48, BOTH), (24, SMS))


def three_touch_schedules():
    """Give every motif of the demo data THREE_TOUCHES (before its appointments are seeded:
    seed_demo plans each appointment's reminders from its motif's schedule)."""
    from appointments.models import Motif
    from notifications.models import ReminderSchedule, ReminderTouch

    database.manage("seed_demo")  # the organisations and motifs, no appointment yet
    for motif in Motif.objects.all():
        schedule, _ = ReminderSchedule.objects.get_or_create(motif=motif)
        schedule.touches.all().delete()
        ReminderTouch.objects.bulk_create([ReminderTouch(schedule=schedule, hours_before=hours, channels=channels)
                                           for hours, channels in THREE_TOUCHES])


def planned_per_appointment():
    """Planned reminder rows (any state) per appointment: what the seed planned."""
    from appointments.models import Appointment
    from notifications.models import PlannedReminder

    return round(PlannedReminder.objects.count() / max(Appointment.objects.count(), 1), 2)


def make_due(count, channels=None):
    """Exactly `count` planned reminders due now, picked at random among those still ahead (of
    the touches on `channels` only, when given); the ones seed_demo left overdue already count
    as sent."""
    from notifications.models import PlannedReminder, ReminderState

    now = timezone.now()
    PlannedReminder.objects.filter(status=ReminderState.PLANNED, due_at__lte=now).update(status=ReminderState.SENT)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_plannedreminder SET due_at = %s WHERE id IN ("
            " SELECT id FROM notifications_plannedreminder WHERE status = %s AND (%s IS NULL OR channels = %s)"
            " ORDER BY random() LIMIT %s)",
            [now - timedelta(minutes=1), ReminderState.PLANNED, channels, channels, count],
        )
        return cursor.rowcount


def time_sweep():
    from notifications.reminders import sweep_due_reminders

    broker.flush()
    ready = make_due(DUE)
    started = time.perf_counter()
    swept = sweep_due_reminders()
    seconds = time.perf_counter() - started
    broker.flush()  # the enqueued reminders are not delivered here (see pipeline)
    return ready, swept, seconds


def run(sizes=SIZES):
    try:
        import notifications.reminders  # noqa: F401
        import notifications.tasks  # noqa: F401  (as in the worker that runs the sweep: no import in the timing)
    except ImportError as exc:
        return {"sweep_skipped": f"notifications.reminders.sweep_due_reminders missing ({exc})"}
    results, seeded = {"sweep_touches": [f"{hours} h {channels}" for hours, channels in THREE_TOUCHES]}, 0
    three_touch_schedules()
    for size in sizes:
        seconds = database.seed(size - seeded)
        results[f"seed_{size}_s"] = round(seconds, 1)
        results[f"sweep_{size}_planned_per_appointment"] = planned_per_appointment()
        seeded = size
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        timings = []
        for _ in range(REPEATS):
            ready, swept, elapsed = time_sweep()
            if swept != ready:
                raise RuntimeError(f"sweep at {size}: {ready} due, {swept} swept")
            timings.append(elapsed)
        results[f"sweep_{size}_s"] = round(statistics.median(timings), 3)
    results["sweep_due"] = DUE
    if "sweep_10000_s" in results and "sweep_1000000_s" in results:
        results["sweep_1m_over_10k"] = round(results["sweep_1000000_s"] / results["sweep_10000_s"], 2)
    return results
