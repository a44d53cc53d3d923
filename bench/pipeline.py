"""Notification pipeline: reminders delivered per second to the provider stand-ins (the
Twilio-compatible HTTP endpoint and the SMTP server, each in its own process) through Redis
and a real 2-process worker; then the drain of 100,000 reminders, sweep included.

Two conditions: the rate with stand-ins answering at once (CPU efficiency: `pipeline_vs_noop`),
and the drain with both stand-ins answering after PROVIDER_LATENCY_MS, as Twilio or an ESP does
from Europe (`drain_100k_s`, `provider_latency_ms`).

The sweep enqueues reminders in batch tasks (notifications/dispatch.py: 100 records per task,
one provider connection per batch), so deliveries are counted where they arrive, at the
stand-ins. Celery's per-provider rate limits (SMS_RATE_LIMIT, EMAIL_RATE_LIMIT) are switched
off here: they are a policy agreed with each provider, not the capacity being measured.
"""

import time

from django.utils import timezone

from notifications.schedule import BOTH  # the touches that send an SMS and an email

from . import broker, database
from . import processes
from .sweep import make_due

APPOINTMENTS = 2_000  # x 2 channels = 4,000 notifications for the rate
DRAIN_REMINDERS = 100_000
PROVIDER_LATENCY_MS = 150
NOTIFICATION_QUEUES = ["sms", "email"]


def _delivered(twilio, smtp):
    return twilio.stats()["accepted"] + smtp.stats()["received"]


def _due(count):
    """`count` reminders due now on both channels, seeding appointments first if the database
    (a fresh one, when the sweep section did not run) has too few touches ahead."""
    from notifications.models import PlannedReminder, ReminderState

    ahead = PlannedReminder.objects.filter(status=ReminderState.PLANNED, channels=BOTH).count()
    if ahead < count:
        database.seed(int((count - ahead) * 1.2) + 100)  # a touch of each seeded appointment sends both
    return make_due(count, channels=BOTH)


def _sweep():
    """Run the sweep; returns (appointments swept, the SMS and emails it planned to deliver).
    Counted from the records (a touch may be SMS-only, reminders of one number and day go in
    one SMS): not every swept appointment makes two messages."""
    from django.db.models import Count

    from notifications.models import Notification, Status
    from notifications.reminders import sweep_due_reminders

    started = timezone.now()
    swept = sweep_due_reminders()
    planned = dict(Notification.objects.filter(created_at__gte=started)
                   .exclude(status__in=[Status.CANCELLED, Status.LIMITED, Status.FAILED])
                   .values_list("channel").annotate(n=Count("pk")))
    return swept, planned.get("sms", 0), planned.get("email", 0)


def _time_deliveries(twilio, smtp, expected, worker, timeout=3600):
    """Watch the stand-ins' counters: from the first message delivered to the last; returns
    (messages counted in that span, seconds). Counting where the messages arrive works
    whatever the tasks carry (one notification, or a batch of them)."""
    before = _delivered(twilio, smtp)
    deadline = time.monotonic() + timeout
    while (first := _delivered(twilio, smtp) - before) == 0:
        _check(worker, deadline, 0, expected)
        time.sleep(0.02)
    started = time.monotonic()
    while (done := _delivered(twilio, smtp) - before) < expected:
        _check(worker, deadline, done, expected)
        time.sleep(0.05)
    return done - first, time.monotonic() - started


def _check(worker, deadline, done, expected):
    if time.monotonic() > deadline or not worker.alive():
        raise RuntimeError(f"{done} of {expected} notifications delivered")


def measure_rate(twilio, smtp, worker_env, appointments=APPOINTMENTS):
    """Queue 2N reminders first (the sweep), then start the worker and time the deliveries."""
    broker.flush()
    due = _due(appointments)
    _, sms, emails = _sweep()
    expected = sms + emails
    with processes.worker(name="pipeline-worker", **worker_env) as worker:
        counted, seconds = _time_deliveries(twilio, smtp, expected, worker)
        rss = worker.rss_mb()
    return {
        "pipeline_appointments": due,
        "pipeline_notifications": expected,
        "pipeline_per_s": round(counted / seconds, 1),
        "pipeline_worker_rss_mb": rss,
        "worker_rss_mb": max(rss),
    }


def measure_drain(twilio, smtp, worker_env, reminders=DRAIN_REMINDERS, latency_ms=PROVIDER_LATENCY_MS):
    """The realistic case: the worker is up, the providers answer after `latency_ms`, the
    sweep finds `reminders` due at once (reminders / 2 appointments, SMS + email each); time
    until the last one is delivered."""
    broker.flush()
    twilio.set_delay(latency_ms / 1000)
    smtp.set_delay(latency_ms / 1000)
    appointments = reminders // 2
    _due(appointments)
    before = _delivered(twilio, smtp)
    with processes.worker(name="drain-worker", **worker_env) as worker:
        worker.wait_ready()
        started = time.monotonic()
        claimed, sms, emails = _sweep()
        sweep_s = time.monotonic() - started
        expected = sms + emails
        deadline = started + 3600
        while _delivered(twilio, smtp) - before < expected:
            _check(worker, deadline, _delivered(twilio, smtp) - before, expected)
            time.sleep(0.2)
        drain_s = time.monotonic() - started
    twilio.set_delay(0)
    smtp.set_delay(0)
    results = {"provider_latency_ms": latency_ms, "drain_sms_per_s": round(sms / drain_s, 1),
               "drain_reminders": expected, "drain_appointments": claimed, "drain_sweep_s": round(sweep_s, 1),
               "drain_measured_s": round(drain_s, 1), "drain_100k_s": round(drain_s * DRAIN_REMINDERS / expected, 1)}
    if expected != DRAIN_REMINDERS:
        results["drain_note"] = (f"drain_100k_s extrapolated linearly from a measured drain of {expected:,} reminders "
                                 f"({drain_s:.0f} s): 100,000 is too long a run for this machine")
    return results


def run(drain_reminders=DRAIN_REMINDERS):
    try:
        import notifications.reminders  # noqa: F401
        from tests.support.processes import smtp_server_process, twilio_standin_process
    except ImportError as exc:
        return {"pipeline_skipped": f"notification pipeline or stand-ins missing ({exc})"}
    with twilio_standin_process(validation="fast") as twilio, smtp_server_process() as smtp:
        worker_env = {**twilio.settings(), **smtp.settings(), "SMS_RATE_LIMIT": "", "EMAIL_RATE_LIMIT": ""}
        results = measure_rate(twilio, smtp, worker_env)
        results.update(measure_drain(twilio, smtp, worker_env, drain_reminders))
    return results
