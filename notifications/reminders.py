"""The reminder sweep: what the beat schedule runs every minute and `send_reminders` runs
once.

An appointment carries `reminder_due_at` (set by appointments.services when booked or
moved, NULL when there is no reminder to send). The sweep claims due appointments in
batches through the partial index appointment_reminder_due_idx — SELECT ... ORDER BY
reminder_due_at LIMIT n FOR UPDATE SKIP LOCKED, then sets reminder_due_at to NULL — and in
the same transaction creates their reminder records; the tasks are enqueued after commit.
Two sweeps at once take disjoint batches (SKIP LOCKED); a second sweep finds nothing
(NULL); a crash before commit leaves everything due for the next sweep.
"""

import logging

from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment, AppointmentStatus

from .models import Event
from .planning import contact_notifications, save_and_enqueue

log = logging.getLogger(__name__)


def due(now):
    """Appointments whose reminder is due, through the partial index, oldest first."""
    return Appointment.objects.filter(
        reminder_due_at__isnull=False, reminder_due_at__lte=now,
        status=AppointmentStatus.CONFIRMED, starts_at__gt=now,
    ).order_by("reminder_due_at")


def claim_batch(now, batch_size):
    ids = list(due(now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size])
    if ids:
        Appointment.objects.filter(pk__in=ids).update(reminder_due_at=None)
    return ids


def drop_expired(now):
    """Reminders that can no longer be useful (the appointment began or stopped standing
    while the system was down) are dropped, so they leave the index."""
    return Appointment.objects.filter(reminder_due_at__isnull=False, reminder_due_at__lte=now).exclude(
        status=AppointmentStatus.CONFIRMED, starts_at__gt=now
    ).update(reminder_due_at=None)


def sweep_due_reminders(now=None, batch_size=1000):
    """Claim every due reminder and plan its notifications; returns how many appointments
    were claimed."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = claim_batch(now, batch_size)
            if not ids:
                break
            appointments = Appointment.objects.filter(pk__in=ids).prefetch_related("contacts")
            rows = []
            for appointment in appointments:
                rows += contact_notifications(appointment, Event.REMINDER, contacts=appointment.contacts.all())
            save_and_enqueue(rows)
        total += len(ids)
    dropped = drop_expired(now)
    if total or dropped:
        log.info("reminder sweep: %s appointments claimed, %s expired reminders dropped", total, dropped)
    return total
