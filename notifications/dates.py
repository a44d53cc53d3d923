"""Dates as a French reader expects them, in the appointment's own time zone."""

from django.utils import dateformat, timezone, translation


def local(value, zone):
    return timezone.localtime(value, zone)


def long_date(value, zone):
    """"mardi 12 mars 2026 à 14h30", "lundi 1er juin 2026 à 9h05" — always in French."""
    moment = local(value, zone)
    with translation.override("fr"):
        weekday = dateformat.format(moment, "l")
        month = dateformat.format(moment, "F")
    day = "1er" if moment.day == 1 else str(moment.day)
    return f"{weekday} {day} {month} {moment.year} à {clock(moment)}"


def short_date(value, zone):
    """"12/03 à 14h30": where room is short (an SMS saying what a change replaced)."""
    moment = local(value, zone)
    return f"{moment:%d/%m} à {clock(moment)}"


def clock(moment):
    return f"{moment.hour}h{moment.minute:02d}"
