"""Is the notification pipeline moving? The deep health check (`/healthz?deep=1`, rdv/views.py)
and the figures operators alert on (README, "Operations").

Three checks, each a read of a few milliseconds:

- reminder_sweep: the last reminder sweep ended at most HEALTH_SWEEP_MAX_SECONDS ago. The sweep
  (reminders.sweep_due_reminders: what beat runs every REMINDER_SWEEP_SECONDS, and what
  `manage.py send_reminders` runs once) records its end in a Heartbeat row; beat stopped, or no
  worker consuming the `celery` queue, or a sweep failing every time, and that row ages.
- oldest_pending_notification: no message has been waiting to go out (status pending) for more
  than HEALTH_PENDING_MAX_SECONDS since it was created. By creation, not updated_at: a record
  released for a retry is pending too, and the recovery sweep re-touches lost ones, so
  updated_at would make a message stuck for an hour look a few minutes old. One row read
  through the partial index notification_pending_age_idx (only pending rows, by created_at).
- sms_providers: every SMS route (sms/routes.py: the default one, each territory's, each
  organisation's) has a provider whose circuit breaker is not open (sms/breaker.py, state in
  the shared cache): a territory whose only provider is failing has its SMS held, even while
  the mainland's go out. A half-open breaker lets a probe through, so it counts as usable.

Ages are whole seconds; None when there is nothing to measure (no sweep recorded yet).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .models import Heartbeat, Notification, Status
from .sms.breaker import breaker_states
from .sms.routes import every_route_names

log = logging.getLogger(__name__)

REMINDER_SWEEP = "reminder_sweep"


@dataclass(frozen=True)
class Check:
    ok: bool
    age_seconds: int | None = None


def record_sweep(at=None):
    """The reminder sweep ended now: one upsert of one row."""
    Heartbeat.objects.bulk_create([Heartbeat(name=REMINDER_SWEEP, at=at or timezone.now())],
                                  update_conflicts=True, unique_fields=["name"], update_fields=["at"])


def _age(now, then):
    return None if then is None else max(0, int((now - then).total_seconds()))


def reminder_sweep(now):
    age = _age(now, Heartbeat.objects.filter(name=REMINDER_SWEEP).values_list("at", flat=True).first())
    return Check(age is not None and age <= settings.HEALTH_SWEEP_MAX_SECONDS, age)


def oldest_pending_notification(now):
    oldest = (Notification.objects.filter(status=Status.PENDING).order_by("created_at")
              .values_list("created_at", flat=True).first())
    age = _age(now, oldest) or 0
    return Check(age <= settings.HEALTH_PENDING_MAX_SECONDS, age)


def sms_providers():
    routes = every_route_names()
    states = breaker_states(sorted({name for route in routes for name in route}))
    return Check(all(any(states[name] != "open" for name in route) for route in routes))


def deep_checks(now=None, database=True):
    """{check name: Check}, in a stable order. A check that cannot be read (its database or its
    cache down; `database=False` when the caller already found the database down) fails, its age
    unknown: the check cannot vouch for the pipeline."""
    now = now or timezone.now()
    checks = {}
    for name, check in (("reminder_sweep", lambda: reminder_sweep(now)),
                        ("oldest_pending_notification", lambda: oldest_pending_notification(now)),
                        ("sms_providers", sms_providers)):
        if not database and name != "sms_providers":
            checks[name] = Check(False)
            continue
        try:
            checks[name] = check()
        except Exception as exc:
            # One line, not a traceback: a monitor probes every few seconds while it lasts.
            log.warning("deep health check %s could not be read (%s)", name, type(exc).__name__)
            checks[name] = Check(False)
    return checks
