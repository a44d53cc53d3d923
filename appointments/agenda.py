"""The agents' agenda: a day or a week of one or more agents, in a place's local time, with
their appointments and their free slots.

Free slots come from slots.free_slots(), the computation the public pages use, restricted to
the shown agents' opening hours at the place. The number of queries does not depend on the
number of appointments: the agents, the motifs, the opening hours, the busy ranges, the
appointments (one join), their contacts (one prefetch) and the notification marks (one).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Prefetch
from django.utils import timezone

from . import notices, slots
from .models import AppointmentAgent, Contact, LocationType, Motif, OpeningHours

DAY, WEEK = "jour", "semaine"


@dataclass
class Item:
    """One line of an agent's day: an appointment, or a free slot."""

    starts_at: datetime  # local, in the agenda's zone
    ends_at: datetime
    appointment: object = None
    marks: list = field(default_factory=list)

    @property
    def is_free(self):
        return self.appointment is None


@dataclass
class Cell:
    agent: object
    day: date
    items: list = field(default_factory=list)


@dataclass
class Agenda:
    zone: object
    days: list
    agents: list
    motif: object
    place: object
    rows: list  # [(day, [Cell per agent])]
    appointment_count: int = 0


def week_start(day):
    return day - timedelta(days=day.weekday())


def period(view, day):
    """The days shown: the day itself, or its week from Monday."""
    if view == DAY:
        return [day]
    monday = week_start(day)
    return [monday + timedelta(days=i) for i in range(7)]


def motifs_of(agent_ids, place=None):
    """The active motifs the agents' opening hours offer (at the place), for the slot picker."""
    hours = OpeningHours.objects.filter(agent_id__in=agent_ids)
    if place is not None:
        hours = hours.filter(place=place)
    return list(Motif.objects.filter(opening_hours__in=hours, active=True).select_related("service").distinct()
                .order_by("service__name", "name"))


def build(agents, days, *, place, zone, motif=None, now=None):
    """The agenda of `agents` (in column order) over `days` (local dates in `zone`)."""
    now = now or timezone.now()
    agent_ids = [a.pk for a in agents]
    first, last = days[0], days[-1]
    period_start = datetime.combine(first, time(0), tzinfo=zone)
    period_end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)

    cells = {(a.pk, d): Cell(a, d) for a in agents for d in days}

    rows = (
        AppointmentAgent.objects.filter(agent_id__in=agent_ids, starts_at__lt=period_end, ends_at__gt=period_start)
        .select_related("appointment__motif", "appointment__place__organisation", "appointment__organisation")
        # With their organisation: the marks ask whether each contact can receive SMS.
        .prefetch_related(Prefetch("appointment__contacts", queryset=Contact.objects.select_related("organisation")))
        .order_by("starts_at", "appointment_id")
    )
    rows = list(rows)
    appointments = {row.appointment_id: row.appointment for row in rows}
    marks = notices.marks_for(appointments.values())
    for row in rows:
        appointment = row.appointment
        local_start = appointment.starts_at.astimezone(zone)
        cell = cells.get((row.agent_id, local_start.date()))
        if cell is not None:
            cell.items.append(Item(local_start, appointment.ends_at.astimezone(zone), appointment,
                                   marks.get(appointment.pk, [])))

    if motif is not None:
        hours = slots.opening_hours_for(motif, place).filter(agent_id__in=agent_ids)
        for day, found in slots.free_slots(motif, place=place, first_day=first, days=len(days), now=now,
                                           display_zone=zone, hours=hours):
            for slot in found:
                for agent_id in slot.agent_ids:
                    cell = cells.get((agent_id, day))
                    if cell is not None:
                        cell.items.append(Item(slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone)))

    for cell in cells.values():
        # Appointments before free slots at the same time (a cancelled one leaves its slot free).
        cell.items.sort(key=lambda item: (item.starts_at, item.is_free))
    return Agenda(
        zone=zone, days=days, agents=list(agents), motif=motif, place=place,
        rows=[(d, [cells[(a.pk, d)] for a in agents]) for d in days], appointment_count=len(appointments),
    )


def booking_params(item, agent, motif, place):
    """The GET parameters that open the booking form pre-filled for a free slot."""
    params = {"motif": motif.pk, "assigned_agents": agent.pk, "date": item.starts_at.date().isoformat(),
              "time": item.starts_at.strftime("%H:%M")}
    if place is not None:
        params["place"] = place.pk
    return params


def is_on_site(motif):
    return motif is not None and motif.location_type == LocationType.ON_SITE
