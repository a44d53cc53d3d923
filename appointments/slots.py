"""Free slots: the opening hours of agents, minus their confirmed appointments.

Opening hours are wall-clock times at a place ("9h–12h, Monday to Friday"): each candidate
slot is built as a local time in the place's zone and converted to UTC, so that slots stay
at 9h on both sides of a daylight-saving change and overseas places keep their own hours.
Local times that do not exist (the hour skipped in spring) are not offered.

Two queries, whatever the number of appointments: the opening hours, and the busy ranges of
their agents over the period.
"""

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import BigIntegerField, Func
from django.utils import timezone

from .models import AppointmentAgent, OpeningHours


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    zone: object  # where it is shown
    agent_ids: tuple = field(default=())  # free agents, in a stable order

    @property
    def local_starts_at(self):
        return self.starts_at.astimezone(self.zone)

    @property
    def param(self):
        """The slot's start as it travels in GET parameters: UTC, to the minute."""
        return format_slot_param(self.starts_at)


def format_slot_param(starts_at):
    return starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def parse_slot_param(value):
    """The UTC datetime of a slot parameter, or None when it isn't one."""
    try:
        return datetime.strptime(value or "", "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _local_to_utc(day, wall_time, zone):
    """The UTC instant of a wall-clock time at a place, or None if that time doesn't exist
    there that day (skipped by a daylight-saving change). Repeated times take the first."""
    local = datetime.combine(day, wall_time, tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def opening_hours_for(motif, place=None):
    """The opening hours offering this motif (at this place, when there is one)."""
    hours = OpeningHours.objects.filter(motifs=motif, organisation_id=motif.organisation_id).select_related(
        "place__organisation"
    ).order_by("agent_id", "start_time", "pk")
    if place is not None:
        hours = hours.filter(place=place)
    return hours


def free_slots(motif, *, place=None, first_day, days=7, now=None, display_zone=None, hours=None):
    """The free slots for `motif` from `first_day` (a local date) for `days` days.

    Returns a list of (date, [Slot, ...]) for each day, in order, days without slot included.
    `display_zone`: where times are shown when there is no place (phone, visio, home);
    opening hours are always read in their own place's zone.
    """
    now = now or timezone.now()
    earliest = now + timedelta(minutes=settings.BOOKING_MIN_LEAD_MINUTES)
    duration = timedelta(minutes=motif.default_duration_minutes)
    hours = list(hours if hours is not None else opening_hours_for(motif, place))
    last_day = first_day + timedelta(days=days - 1)
    zone_for_days = place.zone if place is not None else display_zone or timezone.get_default_timezone()

    # Every candidate (start, end, agent), then one query for what is taken. Agents often
    # share the same hours: each local time is converted once.
    instants = {}

    def to_utc(day, wall_time, zone):
        key = (day, wall_time, zone)
        if key not in instants:
            instants[key] = _local_to_utc(day, wall_time, zone)
        return instants[key]

    candidates = []
    for opening in hours:
        zone = opening.place.zone
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            if not opening.is_open_on(day):
                continue
            closes = to_utc(day, opening.end_time, zone)
            if closes is None:
                continue
            step = datetime.combine(day, opening.start_time)
            end_wall = datetime.combine(day, opening.end_time)
            while step + duration <= end_wall:
                start = to_utc(day, step.time(), zone)
                if start is not None and start >= earliest and start + duration <= closes:
                    candidates.append((start, start + duration, opening.agent_id))
                step += duration
    if not candidates:
        return [(first_day + timedelta(days=d), []) for d in range(days)]

    busy = _busy_ranges({agent for _, _, agent in candidates}, min(c[0] for c in candidates), max(c[1] for c in candidates))
    free = {}
    for start, end, agent_id in candidates:
        if not _overlaps(busy.get(agent_id, ([], [])), _epoch(start), _epoch(end)):
            free.setdefault((start, end), []).append(agent_id)

    by_day = {first_day + timedelta(days=d): [] for d in range(days)}
    for (start, end), agent_ids in sorted(free.items()):
        local_day = start.astimezone(zone_for_days).date()
        if first_day <= local_day <= last_day:
            by_day[local_day].append(Slot(start, end, zone_for_days, tuple(sorted(set(agent_ids)))))
    return list(by_day.items())


class Epoch(Func):
    """A datetime column as whole seconds since 1970: a busy week of many agents is
    thousands of rows, and integers load several times faster than timestamps."""

    output_field = BigIntegerField()
    template = "CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s)) AS bigint)"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS integer)", **extra)


def _epoch(moment):
    return int(moment.timestamp())


def _busy_ranges(agent_ids, period_start, period_end):
    """{agent_id: (starts sorted, ends in the same order)} of confirmed appointments, in
    seconds since 1970."""
    rows = AppointmentAgent.objects.filter(
        agent_id__in=agent_ids, active=True, starts_at__lt=period_end, ends_at__gt=period_start
    ).order_by("agent_id", "starts_at").values_list("agent_id", Epoch("starts_at"), Epoch("ends_at"))
    # Through the cursor: the rows are plain integers, Django's per-row converters would
    # only cost time.
    sql, params = rows.query.sql_with_params()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    busy = {}
    for agent_id, start, end in rows:
        starts, ends = busy.setdefault(agent_id, ([], []))
        starts.append(start)
        ends.append(end)
    return busy


def _overlaps(ranges, start, end):
    starts, ends = ranges
    # Ranges of one agent never overlap each other (the database refuses it), so sorted by
    # start they are sorted by end too: only the neighbours of `start` can overlap.
    index = bisect_left(ends, start)
    while index < len(starts) and starts[index] < end:
        if ends[index] > start:
            return True
        index += 1
    return False


def within_booking_window(starts_at, zone, now=None):
    """Is `starts_at` within what the public pages offer: from BOOKING_MIN_LEAD_MINUTES from now
    to the last day of BOOKING_MAX_WEEKS_AHEAD weeks (local dates, as the slot page counts)?
    Checked before any date arithmetic, so that year 9999 is refused, not an overflow."""
    now = now or timezone.now()
    if starts_at < now + timedelta(minutes=settings.BOOKING_MIN_LEAD_MINUTES):
        return False
    last_day = timezone.localdate(now, zone) + timedelta(weeks=settings.BOOKING_MAX_WEEKS_AHEAD)
    return starts_at <= now + timedelta(weeks=settings.BOOKING_MAX_WEEKS_AHEAD + 1) and starts_at.astimezone(zone).date() <= last_day


def find_slot(motif, starts_at, *, place=None, now=None, display_zone=None):
    """The free Slot starting at `starts_at` (UTC), or None if it isn't offered now: the same
    rules as the slot page (lead time, weeks ahead, opening hours, still free)."""
    zone = place.zone if place is not None else display_zone or timezone.get_default_timezone()
    if not within_booking_window(starts_at, zone, now):
        return None
    day = starts_at.astimezone(zone).date()
    for _, slots in free_slots(motif, place=place, first_day=day, days=1, now=now, display_zone=display_zone):
        for slot in slots:
            if slot.starts_at == starts_at:
                return slot
    return None


def first_day_with_slots(motif, *, place=None, from_day, now=None, display_zone=None, weeks=None):
    """The first local date at or after `from_day` with a free slot, within `weeks`, or None.

    One pass over the whole period (still two queries)."""
    weeks = weeks or settings.BOOKING_MAX_WEEKS_AHEAD
    for day, slots in free_slots(motif, place=place, first_day=from_day, days=7 * weeks, now=now, display_zone=display_zone):
        if slots:
            return day
    return None



def next_free_slots(appointment, *, count=10, now=None, weeks=None):
    """The next free slots where every agent of `appointment` is free, for its motif at its
    place: what rescheduling offers. Its own current time is not among them (it is busy)."""
    agent_ids = set(appointment.agent_slots.values_list("agent_id", flat=True))
    if not agent_ids:
        return []
    now = now or timezone.now()
    place = appointment.place
    zone = appointment.zone
    hours = opening_hours_for(appointment.motif, place).filter(agent_id__in=agent_ids)
    found = []
    weeks = weeks or settings.BOOKING_MAX_WEEKS_AHEAD
    for _day, day_slots in free_slots(appointment.motif, place=place, first_day=timezone.localdate(now, zone),
                                      days=7 * weeks, now=now, display_zone=zone, hours=hours):
        found += [slot for slot in day_slots if agent_ids <= set(slot.agent_ids)]
        if len(found) >= count:
            break
    return found[:count]


def agents_outside_opening_hours(agents, starts_at, ends_at, place=None):
    """The agents (of `agents`) whose opening hours (at `place`, when given) do not cover
    [starts_at, ends_at), read as wall-clock times in each opening's own place."""
    hours = OpeningHours.objects.filter(agent__in=agents).select_related("place__organisation")
    if place is not None:
        hours = hours.filter(place=place)
    covered = set()
    for opening in hours:
        zone = opening.place.zone
        start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
        if (start.date() == end.date() and opening.is_open_on(start.date())
                and opening.start_time <= start.time() and end.time() <= opening.end_time):
            covered.add(opening.agent_id)
    return [agent for agent in agents if agent.pk not in covered]
