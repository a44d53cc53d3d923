"""Filters and tags of the public pages: French dates written in the datetime's own zone, and
the page chrome rendered once."""

from django import template
from django.template.loader import render_to_string

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


@register.simple_tag(takes_context=True)
def site_chrome(context, template_name):
    """A part of the page that depends only on the DSFR site configuration and the language
    (header, footer, style sheets, scripts): rendered once per process while that
    configuration is kept (appointments/context_processors.py), then reused. Without the
    context processors (Django's bare 500 page) it is rendered each time."""
    config = context.get("SITE_CONFIG")
    fragments = context.get("SITE_CHROME")
    if fragments is None:
        return render_to_string(template_name, {"SITE_CONFIG": config})
    if template_name not in fragments:
        fragments[template_name] = render_to_string(template_name, {"SITE_CONFIG": config})
    return fragments[template_name]
