"""The client address behind our proxies (issue 10, item 2): the right-most X-Forwarded-For entry
not added by a trusted proxy, never what the client wrote; everything counts by it."""

import pytest
from django.test import RequestFactory, override_settings

from appointments.ratelimit import client_address

PROXY = "172.30.0.10"


def address(remote, **headers):
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


@pytest.mark.parametrize("headers", [
    {"HTTP_X_FORWARDED_FOR": "10.9.9.9"},
    {"HTTP_X_REAL_IP": "10.9.9.9"},
    {"HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.7", "HTTP_X_REAL_IP": "10.8.8.8"},
])
def test_without_a_trusted_proxy_forwarding_headers_are_ignored(headers):
    assert address("203.0.113.7", **headers) == "203.0.113.7"


@override_settings(TRUSTED_PROXIES=[PROXY])
def test_a_client_talking_straight_to_gunicorn_cannot_pick_its_address():
    # Not from the proxy: the headers are the client's own words.
    assert address("198.51.100.4", HTTP_X_FORWARDED_FOR="10.9.9.9", HTTP_X_REAL_IP="10.9.9.9") == "198.51.100.4"


@override_settings(TRUSTED_PROXIES=[PROXY])
def test_behind_the_proxy_the_right_most_entry_is_the_client():
    assert address(PROXY, HTTP_X_FORWARDED_FOR="198.51.100.4") == "198.51.100.4"
    # A proxy that appends: what the client wrote is on the left, and ignored.
    assert address(PROXY, HTTP_X_FORWARDED_FOR="10.9.9.9, 1.2.3.4, 198.51.100.4") == "198.51.100.4"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", PROXY])
def test_entries_added_by_trusted_proxies_are_skipped_from_the_right():
    assert address(PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4, 10.1.2.3") == "198.51.100.4"
    # Everything trusted: the furthest proxy seen.
    assert address(PROXY, HTTP_X_FORWARDED_FOR="10.1.2.3, 10.4.5.6") == "10.1.2.3"


@override_settings(TRUSTED_PROXIES=[PROXY])
@pytest.mark.parametrize("forwarded", ["", "   ", "not-an-address", "198.51.100.4, ²", "1.2.3.4, <script>"])
def test_garbage_never_becomes_the_address(forwarded):
    result = address(PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert result in (PROXY, "198.51.100.4", "1.2.3.4") and "<" not in result
    assert result == PROXY  # garbage at the right: nothing the proxy vouches for


@override_settings(TRUSTED_PROXIES=[PROXY], CLIENT_IP_HEADER="HTTP_X_REAL_IP")
def test_a_header_the_proxy_overwrites_is_read_only_from_the_proxy():
    assert address(PROXY, HTTP_X_REAL_IP="198.51.100.4", HTTP_X_FORWARDED_FOR="6.6.6.6") == "198.51.100.4"
    assert address("198.51.100.9", HTTP_X_REAL_IP="6.6.6.6") == "198.51.100.9"
    # A list is not what our proxy writes.
    assert address(PROXY, HTTP_X_REAL_IP="6.6.6.6, 198.51.100.4") == PROXY


def test_axes_counts_by_the_same_function(settings):
    assert settings.AXES_CLIENT_IP_CALLABLE == "appointments.ratelimit.client_address"


def test_spoofed_headers_do_not_escape_the_booking_rate_limit(demo, client, settings):
    from appointments.models import Appointment

    from .public_pages import book, first_slot_url

    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_ip": (2, 3600)}
    statuses = []
    for n in range(4):
        url = first_slot_url(client, demo.cni, demo.lyon_place)
        statuses.append(book(client, url, {"phone": f"06 12 34 56 7{n}", "email": f"lea{n}@exemple.fr"}, REMOTE_ADDR="203.0.113.50",
                             HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", HTTP_X_REAL_IP=f"10.1.0.{n}").status_code)
    assert statuses == [302, 302, 429, 429]
    assert Appointment.objects.count() == 2
