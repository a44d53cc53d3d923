"""The only ways an appointment is booked, changed or cancelled.

The admin, the public pages and the demo data all go through these functions, so that the
invariants (no double booking, sequence) hold and each domain event is sent
exactly once.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import page_cache, signals
from .models import Agent, Appointment, AppointmentAgent, AppointmentStatus, BookedBy, Participation, end_of

# Fields whose change the citizen must be told about.
NOTIFIED_FIELDS = ("starts_at", "duration_minutes", "place_id", "location_type", "address", "visio_url")

SLOT_TAKEN = _("Ce créneau vient d'être pris. Merci d'en choisir un autre.")


class SlotUnavailable(ValidationError):
    """The agent already has a confirmed appointment overlapping this time."""

    def __init__(self, message=SLOT_TAKEN):
        super().__init__(message, code="slot_taken")


def _save_guarded(appointment, agent_ids):
    """Save and sync the agents' calendar rows; overlapping bookings become SlotUnavailable.

    The explicit check gives a clear error everywhere; on PostgreSQL the exclusion
    constraint is what makes it hold when two requests race.
    """
    if appointment.status == AppointmentStatus.CONFIRMED:
        # Bookings of the same agents queue up here, so the second one sees the first and
        # gets a clear refusal instead of racing it into the constraint (or a deadlock).
        list(Agent.objects.select_for_update().filter(pk__in=agent_ids).order_by("pk").values_list("pk", flat=True))
        appointment.ends_at = end_of(appointment.starts_at, appointment.duration_minutes)
        if appointment.overlapping_for_agents(agent_ids).exists():
            raise SlotUnavailable()
    try:
        with transaction.atomic():
            appointment.save()
            existing = set(appointment.agent_slots.values_list("agent_id", flat=True))
            AppointmentAgent.objects.filter(appointment=appointment).exclude(agent_id__in=agent_ids).delete()
            if existing:
                appointment.sync_agent_slots()
            for agent_id in agent_ids:
                if agent_id not in existing:
                    AppointmentAgent(appointment=appointment, agent_id=agent_id).save()
            # Agents taken off the appointment are free again, the others busy at the new time.
            page_cache.calendars_changed(existing | set(agent_ids))
    except IntegrityError as exc:
        if "no_agent_double_booking" in str(exc):
            raise SlotUnavailable() from exc
        raise


def book(*, motif, starts_at, agents, contacts, booked_by, booked_by_agent=None, place=None,
         location_type="", duration_minutes=None, address="", visio_url="", now=None):
    """Book a confirmed appointment and send `appointment_confirmed`."""
    appointment = Appointment(
        motif=motif, place=place, location_type=location_type or motif.location_type,
        duration_minutes=duration_minutes or motif.default_duration_minutes,
        starts_at=starts_at, address=address, visio_url=visio_url,
    )
    return confirm_new(appointment, agents=agents, contacts=contacts, booked_by=booked_by,
                       booked_by_agent=booked_by_agent, now=now)


@transaction.atomic
def confirm_new(appointment, *, agents, contacts, booked_by, booked_by_agent=None, now=None):
    """Save a new, unsaved appointment as confirmed and send `appointment_confirmed`."""
    if not agents:
        raise ValidationError(_("Un rendez-vous a besoin d'au moins un agent."))
    now = now or timezone.now()
    appointment.organisation_id = appointment.motif.organisation_id
    appointment.status = AppointmentStatus.CONFIRMED
    appointment.booked_by = booked_by
    appointment.booked_by_agent = booked_by_agent
    appointment.booked_at = now
    appointment.full_clean(exclude=["organisation", "ends_at", "token"])
    _save_guarded(appointment, [agent.pk for agent in agents])
    Participation.objects.bulk_create([Participation(appointment=appointment, contact=c) for c in contacts])
    signals.appointment_confirmed.send(
        sender=Appointment, appointment=appointment, actor=booked_by, agent=booked_by_agent
    )
    return appointment


def snapshot(appointment):
    """The values of the notified fields, to compare before and after a change."""
    return {field: getattr(appointment, field) for field in NOTIFIED_FIELDS}


@transaction.atomic
def save_change(appointment, previous, *, actor, agent=None, agent_ids=None, now=None):
    """Save an appointment whose fields were edited, and send `appointment_changed` when a
    notified field changed. `previous` is `snapshot()` taken before the edit."""
    changed = {f: v for f, v in previous.items() if getattr(appointment, f) != v}
    if agent_ids is None:
        agent_ids = list(appointment.agent_slots.values_list("agent_id", flat=True))
    if changed:
        appointment.sequence += 1
    appointment.full_clean(exclude=["organisation", "ends_at", "token"])
    _save_guarded(appointment, agent_ids)
    if changed:
        signals.appointment_changed.send(
            sender=Appointment, appointment=appointment, actor=actor, agent=agent, previous=changed
        )
    return changed


def reschedule(appointment, *, starts_at=None, place=None, location_type=None, actor=BookedBy.AGENT, agent=None, now=None):
    previous = snapshot(appointment)
    if starts_at is not None:
        appointment.starts_at = starts_at
    if place is not None:
        appointment.place = place
    if location_type is not None:
        appointment.location_type = location_type
    return save_change(appointment, previous, actor=actor, agent=agent, now=now)


@transaction.atomic
def cancel(appointment, *, actor, agent=None, reason="", now=None):
    """Cancel a confirmed appointment and send `appointment_cancelled` (once: cancelling a
    cancelled appointment is refused)."""
    now = now or timezone.now()
    # Lock the row: two cancellations at once (citizen and agent) must not both notify.
    locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if locked.status != AppointmentStatus.CONFIRMED:
        raise ValidationError(_("Ce rendez-vous n'est plus confirmé : il ne peut pas être annulé."))
    if locked.starts_at <= now:
        raise ValidationError(_("Ce rendez-vous est passé : il ne peut plus être annulé."))
    appointment.status = (
        AppointmentStatus.CANCELLED_BY_CITIZEN if actor == BookedBy.CITIZEN else AppointmentStatus.CANCELLED_BY_AGENT
    )
    appointment.cancellation_reason = reason
    appointment.cancelled_at = now
    appointment.sequence = locked.sequence + 1
    appointment.save(update_fields=["status", "cancellation_reason", "cancelled_at", "sequence", "ends_at"])
    appointment.sync_agent_slots()
    page_cache.calendars_changed(appointment.agent_slots.values_list("agent_id", flat=True))
    signals.appointment_cancelled.send(sender=Appointment, appointment=appointment, actor=actor, agent=agent)
    return appointment
