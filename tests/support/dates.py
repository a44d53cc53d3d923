"""Dates for tests that cannot freeze "now" (real worker processes read their own clock): always
ahead of today, whatever the date the suite runs on, and an oracle for the French date format that
does not share code with the formatter under test."""

from datetime import datetime, time, timedelta

from django.utils import timezone

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def french(moment, zone):
    """'mardi 16 février 2027 à 14h30', as a French reader expects it, in `zone`."""
    local = moment.astimezone(zone)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{WEEKDAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year} à {local.hour}h{local.minute:02d}"


def french_compact(moment, zone):
    """'mar. 16/02 à 14h30', the SMS date, in `zone`."""
    local = moment.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()][:3]}. {local.day:02d}/{local.month:02d} à {local.hour}h{local.minute:02d}"


def upcoming(weekday, hour, minute=0, *, zone, after_days=30):
    """The first `weekday` (0 = Monday) at least `after_days` after today in `zone`, at hour:minute."""
    day = timezone.localdate(timezone.now(), zone) + timedelta(days=after_days)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def next_offset_change(zone, *, to_summer, after_days=30):
    """The first day, at least `after_days` after today, on which `zone` moves its clocks forward
    (to_summer) or back: the day whose noon offset differs from the day before's."""
    day = timezone.localdate(timezone.now(), zone) + timedelta(days=after_days)
    for _ in range(2 * 366):
        before, after = (datetime.combine(d, time(12), tzinfo=zone).utcoffset() for d in (day - timedelta(days=1), day))
        if after != before and (after > before) == to_summer:
            return day
        day += timedelta(days=1)
    raise LookupError(f"{zone} changes its clocks no more")


def last_afternoon(zone, hour=14):
    """The latest `hour` o'clock (local) not after now: for a test whose rule depends on the time
    of day (the quiet hours), moved back to a daytime hour rather than forward (a session opened
    by a fixture stays valid)."""
    now = timezone.localtime(timezone.now(), zone)
    moment = datetime.combine(now.date(), time(hour), tzinfo=zone)
    return moment if moment <= now else moment - timedelta(days=1)
