"""French dates and durations, written in the appointment's own time zone.

Django's `date` filter converts to the current time zone; these don't: a datetime already
in the place's zone stays there ("mardi 12 mars 2026 à 14h30").
"""

from datetime import datetime
from functools import lru_cache

from django.utils import dateformat
from django.utils.translation import get_language, gettext as _, ngettext


def local(value, zone=None):
    return value.astimezone(zone) if zone is not None else value


def french_date(value, zone=None):
    value = local(value, zone)
    # A week of slots writes the same few days dozens of times: each day is formatted once.
    return _french_day(value.date() if isinstance(value, datetime) else value, get_language())


@lru_cache(maxsize=4096)
def _french_day(day, language):
    if day.day == 1:  # "le 1er mars", as French writes it
        return dateformat.format(day, r"l j\e\r F Y")
    return dateformat.format(day, "l j F Y")


def french_time(value, zone=None):
    """"9h05", "14h30" (Django's format "G\\hi", written out: it runs for every slot shown)."""
    value = local(value, zone)
    return f"{value.hour}h{value.minute:02d}"


def french_datetime(value, zone=None):
    return _("%(date)s à %(time)s") % {"date": french_date(value, zone), "time": french_time(value, zone)}


def french_short_datetime(value, zone=None):
    """"12/03 à 14h30": where room is short (an SMS saying what a change replaced)."""
    return _("%(date)s à %(time)s") % {"date": dateformat.format(local(value, zone), "d/m"), "time": french_time(value, zone)}


def french_compact_datetime(value, zone=None):
    """"mar. 12/03 à 14h30": the SMS date, weekday, day, month and time kept, the year left
    out (the weekday settles it; appointments are booked weeks ahead)."""
    value = local(value, zone)
    return _("%(date)s à %(time)s") % {"date": dateformat.format(value, r"D. d/m"), "time": french_time(value)}


def french_duration(minutes):
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest}
    if not rest:
        return ngettext("%(n)d heure", "%(n)d heures", hours) % {"n": hours}
    return _("%(h)d h %(m)02d") % {"h": hours, "m": rest}


def french_short_duration(minutes):
    """"45 min", "1 h", "1 h 30": where room is short (an SMS)."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return _("%(m)d min") % {"m": rest}
    if not rest:
        return _("%(h)d h") % {"h": hours}
    return _("%(h)d h %(m)02d") % {"h": hours, "m": rest}
