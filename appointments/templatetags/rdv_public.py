"""Filters of the public pages: French dates written in the datetime's own zone."""

from django import template

from .. import dates

register = template.Library()


@register.filter
def fr_datetime(value):
    return dates.french_datetime(value) if value else ""


@register.filter
def fr_date(value):
    return dates.french_date(value) if value else ""


@register.filter
def fr_time(value):
    return dates.french_time(value) if value else ""


@register.filter
def fr_duration(minutes):
    return dates.french_duration(minutes) if minutes else ""
