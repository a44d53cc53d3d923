"""Planned reminders: written when an appointment is booked, changed or cancelled
(receivers.py), claimed by the sweep that the beat schedule runs every minute and
`send_reminders` runs once.

The rule (which touches, when) is schedule.py; this module keeps the table in step with it.
Each PlannedReminder is one touch for one version (`sequence`) of an appointment. A change
cancels what was still planned and plans the new version's touches; a cancellation cancels
them all, in the transaction of the change.

The sweep claims due rows in batches through the partial index planned_reminder_due_idx
(only rows still planned) — SELECT ... ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED, then
marks them sent — and in the same transaction creates their Notification records; the tasks
are enqueued after commit. Two sweeps at once take disjoint batches (SKIP LOCKED); a second
sweep finds nothing (no longer planned); a crash before commit leaves them due for the next
sweep. A change racing a sweep waits for the sweep's row locks, then finds the claimed rows
no longer planned; the delivery drops a reminder of a version that was changed since. Each
sweep that completes records when it ended (health.record_sweep, for the deep health check).
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from appointments.models import Appointment, AppointmentStatus, Channel, Contact
from appointments.zones import zone_for

from . import schedule
from .health import record_sweep
from .models import Event, Notification, PlannedReminder, ReminderSchedule, ReminderState, ReminderTouch, Status
from .planning import appointment_facts, notifications_for, save_and_enqueue
from .recipients import DueReminder, reminder_stands

log = logging.getLogger(__name__)


# --- The schedule of each motif -------------------------------------------------------------

def touches_for(motif_ids):
    """{motif_id: [Touch]} in one query; the default for a motif without its own schedule."""
    found = {motif_id: [] for motif_id in motif_ids}
    own = set(ReminderSchedule.objects.filter(motif_id__in=list(found)).values_list("motif_id", flat=True))
    touches = ReminderTouch.objects.filter(schedule__motif_id__in=own)
    for motif_id, hours, channels in touches.values_list("schedule__motif_id", "hours_before", "channels"):
        found[motif_id].append(schedule.Touch(hours, channels))
    return {motif_id: touches if motif_id in own else schedule.default_touches() for motif_id, touches in found.items()}


def planned_for(appointment, now, *, touches=None, zone=None):
    """[schedule.Planned] for this appointment as it stands, decided at `now`."""
    if appointment.status != AppointmentStatus.CONFIRMED:
        return []
    if touches is None:
        touches = touches_for([appointment.motif_id])[appointment.motif_id]
    return schedule.plan(touches, starts_at=appointment.starts_at, zone=zone or appointment.zone, now=now)


def _rows(appointment, planned):
    return [PlannedReminder(appointment=appointment, sequence=appointment.sequence, stage=p.stage, due_at=p.due_at,
                            channels=p.channels) for p in planned]


# --- Keeping the table in step with the appointments ----------------------------------------

def cancel_reminders(appointment, now=None):
    """Cancel what is still planned for this appointment (any version)."""
    return PlannedReminder.objects.filter(appointment=appointment, status=ReminderState.PLANNED).update(
        status=ReminderState.CANCELLED, done_at=now or timezone.now())


def plan_reminders(appointment, now=None):
    """(Re)plan the appointment's reminders as it now stands: the touches of its current
    version still ahead, what was planned for an earlier version cancelled."""
    now = now or timezone.now()
    cancel_reminders(appointment, now)
    PlannedReminder.objects.bulk_create(_rows(appointment, planned_for(appointment, now)), ignore_conflicts=True)


def plan_in_bulk(appointments):
    """Plan the reminders of appointments stored in bulk as already confirmed (demo and
    benchmark data), each as decided when it was booked (`booked_at`): touches that fell due
    since then stay planned, overdue, as they would be had the system been down."""
    touches = touches_for({a.motif_id for a in appointments})
    zones = {}
    rows = []
    for appointment in appointments:
        key = (appointment.organisation_id, appointment.place_id)
        if key not in zones:
            zones[key] = zone_for(appointment.organisation, appointment.place if appointment.place_id else None)
        planned = planned_for(appointment, appointment.booked_at, touches=touches[appointment.motif_id], zone=zones[key])
        rows += _rows(appointment, planned)
    PlannedReminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
    return len(rows)


# --- One reminder SMS per number and day ---------------------------------------------------

# How far ahead the sweep looks for a number's other reminders of the same day: a day, plus
# the earliest a quiet-hours move can bring a touch forward.
SAME_DAY_LOOKAHEAD = timedelta(hours=36)
GROUPED = "Regroupé dans le rappel SMS du rendez-vous #%s (un SMS par jour et par numéro)."


def one_sms_per_day(rows, now):
    """A citizen with several appointments on one day gets one reminder SMS naming them all.

    For each reminder SMS of this batch, the same number's reminders of the same stage for
    appointments on the same local day — claimed in this batch or still planned — are named in
    it (`also`); theirs are recorded as cancelled ("regroupé"), so that the unique key stops
    the later sweep from creating them again. Emails are not grouped. One query per batch,
    through the partial index (what is planned in the next day and a half)."""
    sms = [row for row in rows if row.event == Event.REMINDER and row.channel == Channel.SMS]
    if not sms:
        return rows
    # (number, stage) -> {appointment_id: (starts_at, sequence, contact_id, row or None)}
    candidates = {}
    for row in sms:
        candidates.setdefault((row.to, row.stage), {})[row.appointment_id] = (
            row.appointment.starts_at, row.sequence, row.contact_id, row)
    planned = PlannedReminder.objects.filter(
        status=ReminderState.PLANNED, due_at__gt=now, due_at__lte=now + SAME_DAY_LOOKAHEAD,
        stage__in={row.stage for row in sms}, channels__contains=schedule.SMS,
        appointment__status=AppointmentStatus.CONFIRMED, appointment__contacts__phone__in={row.to for row in sms},
    ).values_list("appointment_id", "sequence", "stage", "appointment__contacts__id", "appointment__contacts__phone",
                  "appointment__starts_at")
    for appointment_id, sequence, stage, contact_id, phone, starts_at in planned:
        group = candidates.get((str(phone), stage))
        if group is not None:
            group.setdefault(appointment_id, (starts_at, sequence, contact_id, None))
    grouped = set()
    extra = []
    zones = {}  # one zone lookup per organisation and place, not per message
    for row in sorted(sms, key=lambda r: r.appointment.starts_at):
        if id(row) in grouped:
            continue
        key = (row.appointment.organisation_id, row.appointment.place_id)
        zone = zones[key] if key in zones else zones.setdefault(key, row.appointment.zone)
        day = timezone.localdate(row.appointment.starts_at, zone)
        same_day = sorted(
            (starts_at, appointment_id, sequence, contact_id, other)
            for appointment_id, (starts_at, sequence, contact_id, other) in candidates[(row.to, row.stage)].items()
            if appointment_id != row.appointment_id and timezone.localdate(starts_at, zone) == day
            and (other is None or id(other) not in grouped)
        )
        if not same_day:
            continue
        row.also = [appointment_id for _, appointment_id, *_ in same_day]
        for _, appointment_id, sequence, contact_id, other in same_day:
            if other is not None:
                other.status, other.error_message = Status.CANCELLED, GROUPED % row.appointment_id
                grouped.add(id(other))
            else:
                extra.append(Notification(
                    appointment_id=appointment_id, contact_id=contact_id, event=Event.REMINDER, channel=Channel.SMS,
                    sequence=sequence, stage=row.stage, to=row.to, status=Status.CANCELLED,
                    error_message=GROUPED % row.appointment_id))
        group = candidates[(row.to, row.stage)]
        for appointment_id in [row.appointment_id, *row.also]:
            group.pop(appointment_id, None)  # named once: no other SMS of this batch names them again
    return rows + extra


# --- The sweep --------------------------------------------------------------------------------

def due(now):
    """Planned reminders due now, through the partial index, oldest first."""
    return PlannedReminder.objects.filter(status=ReminderState.PLANNED, due_at__lte=now).order_by("due_at")


def claim_batch(now, batch_size):
    rows = list(due(now).select_for_update(skip_locked=True).values_list("pk", "appointment_id", "sequence", "stage",
                                                                          "channels")[:batch_size])
    if rows:
        PlannedReminder.objects.filter(pk__in=[row[0] for row in rows]).update(status=ReminderState.SENT, done_at=now)
    return rows


def sweep_due_reminders(now=None, batch_size=1000):
    """Claim every due reminder and create its notifications; returns how many reminders
    went out (a reminder of an appointment that has begun or no longer stands is dropped)."""
    now = now or timezone.now()
    total = dropped = 0
    while True:
        with transaction.atomic():
            claimed = claim_batch(now, batch_size)
            if not claimed:
                break
            # The organisation and place tell each appointment's zone (its day, for grouping SMS);
            # each contact's organisation, whether its number takes our SMS (one query, not one
            # per contact).
            contacts = Prefetch("contacts", queryset=Contact.objects.select_related("organisation"))
            appointments = (Appointment.objects.filter(pk__in={row[1] for row in claimed})
                            .select_related("organisation", "place__organisation").prefetch_related(contacts).in_bulk())
            rows, expired = [], []
            for pk, appointment_id, sequence, stage, channels in claimed:
                appointment, reminder = appointments[appointment_id], DueReminder(sequence, stage, channels)
                if not reminder_stands(appointment_facts(appointment), reminder, now):
                    expired.append(pk)
                    continue
                rows += notifications_for(appointment, Event.REMINDER, reminder=reminder,
                                          contacts=appointment.contacts.all(), now=now)
            if expired:
                PlannedReminder.objects.filter(pk__in=expired).update(status=ReminderState.EXPIRED)
            save_and_enqueue(one_sms_per_day(rows, now))
        total += len(claimed) - len(expired)
        dropped += len(expired)
    if total or dropped:
        log.info("reminder sweep: %s reminders claimed, %s expired reminders dropped", total, dropped)
    # The deep health check's heartbeat: a sweep that raised above records nothing.
    record_sweep()
    return total
