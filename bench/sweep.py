"""Reminder sweep: time to find and enqueue the due reminders, with 10k, 100k and 1M
appointments in PostgreSQL and the same number due each time. The cost must follow what is
due, not the size of the table."""

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from . import broker, database

SIZES = (10_000, 100_000, 1_000_000)
DUE = 1_000
REPEATS = 3


def make_due(count):
    """Exactly `count` planned reminders due now, picked at random among those still ahead;
    the ones seed_demo left overdue already count as sent."""
    from notifications.models import PlannedReminder, ReminderState

    now = timezone.now()
    PlannedReminder.objects.filter(status=ReminderState.PLANNED, due_at__lte=now).update(status=ReminderState.SENT)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_plannedreminder SET due_at = %s WHERE id IN ("
            " SELECT id FROM notifications_plannedreminder WHERE status = %s"
            " ORDER BY random() LIMIT %s)",
            [now - timedelta(minutes=1), ReminderState.PLANNED, count],
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
    except ImportError as exc:
        return {"sweep_skipped": f"notifications.reminders.sweep_due_reminders missing ({exc})"}
    results, seeded = {}, 0
    for size in sizes:
        seconds = database.seed(size - seeded)
        results[f"seed_{size}_s"] = round(seconds, 1)
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
