"""Helpers for the tests of the citizens' public pages (their fixtures: tests/support/fixtures.py)."""

import html
import re
from datetime import UTC, datetime

from appointments.slots import format_slot_param

CONTACT = {"first_name": "Léa", "last_name": "Dupont", "phone": "06 12 34 56 78", "email": "lea.dupont@exemple.fr"}


def links(response, prefix):
    """The hrefs of a page that start with `prefix`, unescaped."""
    found = re.findall(r'href="(%s[^"]*)"' % re.escape(prefix), response.content.decode())
    return [html.unescape(href) for href in found]


def text(response):
    """The page's HTML with entities decoded, to look for sentences in it."""
    return html.unescape(response.content.decode())


def contact_url(motif, starts_at, place=None):
    url = f"/reserver/coordonnees/?motif={motif.pk}&debut={format_slot_param(starts_at.astimezone(UTC))}"
    return url + (f"&lieu={place.pk}" if place else "")


def first_slot_url(client, motif, place=None):
    url = f"/reserver/creneau/?motif={motif.pk}" + (f"&lieu={place.pk}" if place else "")
    return links(client.get(url), "/reserver/coordonnees/")[0]


def book(client, url, data=None, **meta):
    """Post the contact details, then confirm them, as the two buttons do."""
    data = {**CONTACT, **(data or {})}
    client.post(url, data, **meta)
    return client.post(url, {**data, "confirmer": "1"}, **meta)


def slot_start(url):
    value = re.search(r"debut=([^&]+)", url).group(1).replace("%3A", ":")
    return datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
