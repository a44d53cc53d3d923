"""Filters of the agents' admin pages."""

from django import template

from .. import dates

register = template.Library()


@register.filter
def local_datetime(appointment):
    """"mardi 12 mars 2026 à 14h30", in the appointment's own zone (its place's)."""
    return dates.french_datetime(appointment.starts_at, appointment.zone)
