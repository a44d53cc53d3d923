"""The public pages' cache (appointments/page_cache.py): served from Redis, and dropped as soon as
a committed booking, change, cancellation or opening-hours edit touches it — never a slot
already taken. Real PostgreSQL transactions, so that the on-commit hooks run as in production."""

import gzip
import uuid
from datetime import time, timedelta

import pytest
import redis
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments import page_cache as page_cache_module
from appointments import services
from appointments.models import AppointmentAgent, BookedBy, LocationType, Motif, OpeningHours

from .public_pages import book, contact_url, links, slot_start
from .servers import REDIS_URL
from .support.dates import upcoming
from .support.polling import poll

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page_cache(settings):
    """Django's cache on this checkout's Redis database, under a prefix of this test's own,
    with the page cache on; the test's keys are removed at the end."""
    prefix = f"rdv-test-page-cache-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": prefix}}
    settings.PUBLIC_PAGE_CACHE_SECONDS = 15
    yield settings
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


def slot_page(client, motif, place, starts_at):
    """The slot page of the week starting on the day of `starts_at` (local)."""
    day = starts_at.astimezone(place.zone).date()
    return client.get(f"/reserver/creneau/?motif={motif.pk}&lieu={place.pk}&semaine={day.isoformat()}")


def offered(response):
    return {slot_start(url) for url in links(response, "/reserver/coordonnees/")}


def from_cache(response):
    """Served without rendering a template: a cache hit."""
    return response.status_code == 200 and not response.templates


def monday_ten(demo):
    return upcoming(0, 10, zone=demo.lyon_place.zone, after_days=14)


def cached_then_moved_behind_the_services_back(demo, client, starts_at, tuesday):
    """Both agents booked on `tuesday`, the page of `starts_at`'s week cached, then their
    calendars moved to `starts_at` by bulk SQL: no version replaced, so only a new render
    shows it."""
    booked = [services.book(motif=demo.cni, place=demo.lyon_place, starts_at=tuesday, agents=[agent],
                            contacts=[demo.contact()], booked_by=BookedBy.AGENT) for agent in (demo.camille, demo.julien)]
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    AppointmentAgent.objects.filter(appointment__in=booked).update(starts_at=starts_at, ends_at=starts_at + timedelta(minutes=20))


def test_a_page_is_rendered_once_then_served_from_redis_with_the_same_headers(demo, page_cache):
    starts_at = monday_ten(demo)
    first = slot_page(Client(), demo.cni, demo.lyon_place, starts_at)
    second = slot_page(Client(), demo.cni, demo.lyon_place, starts_at)
    assert not from_cache(first) and from_cache(second)
    assert second.content == first.content and starts_at in offered(second)
    for header in ("Cache-Control", "Referrer-Policy", "Content-Security-Policy"):
        assert second[header] == first[header], header
    assert "no-store" in second["Cache-Control"] and "private" in second["Cache-Control"]
    # One copy for everyone: no per-request CSP nonce in it.
    assert b"nonce=" not in second.content and "nonce-" not in second["Content-Security-Policy"]


def test_a_slot_booked_on_the_public_pages_disappears_at_once(demo, page_cache):
    starts_at = monday_ten(demo)
    services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[demo.julien],
                  contacts=[demo.contact()], booked_by=BookedBy.AGENT, booked_by_agent=demo.julien)
    client = Client()
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    cached = slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert from_cache(cached) and starts_at in offered(cached)  # camille is still free at 10h

    assert book(Client(), contact_url(demo.cni, starts_at, demo.lyon_place)).status_code == 302

    after = slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert not from_cache(after)
    assert starts_at not in offered(after) and starts_at + timedelta(minutes=20) in offered(after)


def test_a_booking_change_and_cancellation_made_by_an_agent_show_at_once(demo, page_cache):
    starts_at = monday_ten(demo)
    later = starts_at + timedelta(hours=1)
    client = Client()

    def page():
        return slot_page(client, demo.cni, demo.lyon_place, starts_at)

    def book_agent(agent, when):
        return services.book(motif=demo.cni, place=demo.lyon_place, starts_at=when, agents=[agent],
                             contacts=[demo.contact()], booked_by=BookedBy.AGENT, booked_by_agent=agent)

    book_agent(demo.julien, starts_at)
    book_agent(demo.julien, later)
    page()
    assert from_cache(page()) and {starts_at, later} <= offered(page())

    booked = book_agent(demo.camille, starts_at)  # as the admin's "add" does
    assert starts_at not in offered(page())

    services.reschedule(booked, starts_at=later, actor=BookedBy.AGENT, agent=demo.camille)  # admin's "change"
    found = offered(page())
    assert starts_at in found and later not in found

    services.cancel(booked, actor=BookedBy.AGENT, agent=demo.camille)
    assert later in offered(page())


def test_nothing_is_dropped_before_the_commit(demo, page_cache):
    starts_at = monday_ten(demo)
    client = Client()
    other = Client()
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    with transaction.atomic():
        for agent in (demo.camille, demo.julien):
            services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[agent],
                          contacts=[demo.contact()], booked_by=BookedBy.AGENT, booked_by_agent=agent)
        # Not committed: the version still stands (what the page shows is still true for
        # every other connection).
        assert from_cache(slot_page(other, demo.cni, demo.lyon_place, starts_at))
    after = slot_page(other, demo.cni, demo.lyon_place, starts_at)
    assert not from_cache(after) and starts_at not in offered(after)


def test_opening_hours_edits_show_at_once(demo, page_cache):
    starts_at = monday_ten(demo)
    client = Client()
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert starts_at in offered(slot_page(client, demo.cni, demo.lyon_place, starts_at))

    # Both agents now close at 9h40 on that morning's hours, saved as the admin saves them.
    for hours in OpeningHours.objects.filter(place=demo.lyon_place, start_time=time(9)):
        hours.end_time = time(9, 40)
        hours.save()
    found = offered(slot_page(client, demo.cni, demo.lyon_place, starts_at))
    assert starts_at not in found and starts_at - timedelta(minutes=60) in found

    # The motif taken off the opening hours: no slot at all.
    for hours in OpeningHours.objects.filter(motifs=demo.cni):
        hours.motifs.remove(demo.cni)
    assert offered(slot_page(client, demo.cni, demo.lyon_place, starts_at)) == set()


def test_two_motifs_or_places_never_share_an_entry(demo, page_cache):
    starts_at = monday_ten(demo)
    retrait = Motif.objects.get(name__startswith="Retrait de carte")
    guadeloupe = demo.guadeloupe.motifs.get()
    client = Client()
    pages = {
        "cni": lambda: slot_page(client, demo.cni, demo.lyon_place, starts_at),
        "retrait": lambda: slot_page(client, retrait, demo.lyon_place, starts_at),
        "guadeloupe": lambda: slot_page(client, guadeloupe, demo.guadeloupe_place, starts_at),
    }
    first = {name: page() for name, page in pages.items()}
    again = {name: page() for name, page in pages.items()}
    assert all(from_cache(response) for response in again.values())
    assert len({response.content for response in again.values()}) == 3
    for name in pages:
        assert again[name].content == first[name].content
    # 20-minute slots for the CNI, 10-minute ones for collecting it, at the same place.
    assert starts_at + timedelta(minutes=20) in offered(again["cni"]) and starts_at + timedelta(minutes=10) not in offered(again["cni"])
    assert starts_at + timedelta(minutes=10) in offered(again["retrait"])

    # A booking at Lyon drops Lyon's pages (their agents), never Guadeloupe's.
    services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[demo.camille],
                  contacts=[demo.contact()], booked_by=BookedBy.AGENT, booked_by_agent=demo.camille)
    assert not from_cache(pages["cni"]()) and not from_cache(pages["retrait"]())
    assert from_cache(pages["guadeloupe"]())


def test_a_stale_entry_expires(demo, page_cache):
    """A change made without the services (bulk SQL, as seed_demo --appointments does) replaces
    no version: the entries' expiry bounds how long a page can lag behind it."""
    page_cache.PUBLIC_PAGE_CACHE_SECONDS = 1
    starts_at = monday_ten(demo)
    tuesday = starts_at + timedelta(days=1)
    client = Client()
    cached_then_moved_behind_the_services_back(demo, client, starts_at, tuesday)
    stale = slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert from_cache(stale) and starts_at in offered(stale) and tuesday not in offered(stale)

    def refreshed():
        page = slot_page(client, demo.cni, demo.lyon_place, starts_at)
        return page if starts_at not in offered(page) else None

    fresh = poll(refreshed, timeout=10, describe=lambda: "the stale page is still served")
    assert tuesday in offered(fresh)


def test_every_page_before_the_contact_form_is_cached_and_a_catalogue_edit_drops_it(demo, page_cache):
    service = demo.cni.service
    urls = ["/", f"/reserver/motif/?service={service.pk}", f"/reserver/lieu/?motif={demo.cni.pk}"]
    client = Client()
    for url in urls:
        client.get(url)
        assert from_cache(client.get(url)), url
    service.name = "Cartes d'identité et passeports"
    service.save()
    for url in urls:
        response = client.get(url)
        assert not from_cache(response) and "Cartes d&#x27;identité et passeports" in response.content.decode(), url


def test_a_cache_hit_runs_no_query_and_a_miss_a_constant_number(demo, page_cache):
    starts_at = monday_ten(demo)
    client = Client()
    client.get("/")  # what each process reads once (the DSFR configuration)
    with CaptureQueriesContext(connection) as few:
        slot_page(client, demo.cni, demo.lyon_place, starts_at)
    contact = demo.contact()
    for i in range(60):
        services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at + timedelta(days=i // 9, minutes=20 * (i % 9)),
                      agents=[demo.camille], contacts=[contact], booked_by=BookedBy.AGENT)
    with CaptureQueriesContext(connection) as many:
        assert not from_cache(slot_page(client, demo.cni, demo.lyon_place, starts_at))
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as hit:
        assert from_cache(slot_page(client, demo.cni, demo.lyon_place, starts_at))
    assert len(hit) == 0


def test_a_motif_without_place_is_one_page_whatever_place_is_asked(demo, page_cache):
    phone = Motif.objects.filter(location_type=LocationType.PHONE, bookable_publicly=True).first()
    place = phone.organisation.places.first()
    response = Client().get(f"/reserver/creneau/?motif={phone.pk}&lieu={place.pk}&semaine=2030-01-07")
    assert response.status_code == 302
    assert response["Location"] == f"/reserver/creneau/?motif={phone.pk}&semaine=2030-01-07"


def test_the_pages_still_answer_when_redis_is_down(demo, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.PUBLIC_PAGE_CACHE_SECONDS = 15
    starts_at = monday_ten(demo)
    assert starts_at in offered(slot_page(Client(), demo.cni, demo.lyon_place, starts_at))



def entry_key(demo, starts_at):
    day = starts_at.astimezone(demo.lyon_place.zone).date().isoformat()
    return f"pages:{page_cache_module.ENTRY_FORMAT}:fr:slots:{demo.cni.pk}:{demo.lyon_place.pk}:{day}"


def hold_renewal(demo, starts_at):
    """Take the renewal of the slot page's entry, as a request rendering it again does."""
    key = entry_key(demo, starts_at)
    assert cache.get(key) is not None  # the key built here is the page's
    assert cache.add(page_cache_module._renewal_key(key), 1, 60)


def release_renewal(demo, starts_at):
    cache.delete(page_cache_module._renewal_key(entry_key(demo, starts_at)))


@pytest.fixture
def frozen_clock(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


def test_past_its_fresh_time_the_copy_is_served_only_while_another_request_renders_it(demo, page_cache, frozen_clock):
    starts_at = monday_ten(demo)
    tuesday = starts_at + timedelta(days=1)
    client = Client()
    cached_then_moved_behind_the_services_back(demo, client, starts_at, tuesday)
    frozen_clock.shift(page_cache.PUBLIC_PAGE_CACHE_SECONDS + 1)

    hold_renewal(demo, starts_at)
    during = slot_page(client, demo.cni, demo.lyon_place, starts_at)
    release_renewal(demo, starts_at)  # the other request failed: the renewal is free again
    renewed = slot_page(client, demo.cni, demo.lyon_place, starts_at)

    assert from_cache(during) and starts_at in offered(during)
    assert not from_cache(renewed) and starts_at not in offered(renewed) and tuesday in offered(renewed)
    assert from_cache(slot_page(client, demo.cni, demo.lyon_place, starts_at))


def test_past_its_fresh_time_a_replaced_version_is_never_served_even_while_renewing(demo, page_cache, frozen_clock):
    starts_at = monday_ten(demo)
    client = Client()
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    frozen_clock.shift(page_cache.PUBLIC_PAGE_CACHE_SECONDS + 1)
    hold_renewal(demo, starts_at)

    for agent in (demo.camille, demo.julien):
        services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[agent],
                      contacts=[demo.contact()], booked_by=BookedBy.AGENT)

    after = slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert not from_cache(after) and starts_at not in offered(after)


def test_past_its_fresh_time_the_page_is_rendered_once_then_served_from_the_cache(demo, page_cache, frozen_clock):
    starts_at = monday_ten(demo)
    client = Client()
    slot_page(client, demo.cni, demo.lyon_place, starts_at)
    assert from_cache(slot_page(client, demo.cni, demo.lyon_place, starts_at))
    frozen_clock.shift(page_cache.PUBLIC_PAGE_CACHE_SECONDS + 1)

    renewing, after = (slot_page(client, demo.cni, demo.lyon_place, starts_at) for _ in range(2))

    assert not from_cache(renewing) and from_cache(after)


def test_an_entry_is_fresh_for_at_most_the_setting_and_kept_a_bounded_time_after(demo, page_cache, frozen_clock):
    starts_at = monday_ten(demo)
    slot_page(Client(), demo.cni, demo.lyon_place, starts_at)
    _, fresh_until, _, _ = cache.get(entry_key(demo, starts_at))
    seconds = page_cache.PUBLIC_PAGE_CACHE_SECONDS
    assert 0.8 * seconds <= fresh_until - timezone.now().timestamp() <= seconds
    ttl = redis.Redis.from_url(REDIS_URL).ttl(cache.make_and_validate_key(entry_key(demo, starts_at)))
    assert 0 < ttl <= seconds + page_cache_module.STALE_SECONDS


def test_a_slot_booked_and_moved_in_the_admin_shows_at_once(demo, page_cache, camille_client):
    from appointments.models import Appointment

    from .factories import appointment_form

    starts_at = monday_ten(demo)
    eleven = starts_at + timedelta(hours=1)
    day = starts_at.astimezone(demo.lyon_place.zone).date()
    for when in (starts_at, eleven):
        services.book(motif=demo.cni, place=demo.lyon_place, starts_at=when, agents=[demo.julien],
                      contacts=[demo.contact()], booked_by=BookedBy.AGENT)
    citizen = Client()
    slot_page(citizen, demo.cni, demo.lyon_place, starts_at)
    before = slot_page(citizen, demo.cni, demo.lyon_place, starts_at)
    assert from_cache(before) and {starts_at, eleven} <= offered(before)
    contact = demo.contact()

    added = camille_client.post("/admin/appointments/appointment/add/", appointment_form(demo, contact, day=day))
    assert added.status_code == 302
    assert starts_at not in offered(slot_page(citizen, demo.cni, demo.lyon_place, starts_at))

    booked = Appointment.objects.get(contacts=contact)
    moved = camille_client.post(f"/admin/appointments/appointment/{booked.pk}/change/",
                                appointment_form(demo, contact, day=day, time="11:00"))
    assert moved.status_code == 302
    after = offered(slot_page(citizen, demo.cni, demo.lyon_place, starts_at))
    assert starts_at in after and eleven not in after


def test_a_page_goes_gzipped_to_the_browsers_that_accept_it_whether_cached_or_not(demo, page_cache):
    starts_at = monday_ten(demo)
    client = Client()
    gzipping = Client(headers={"Accept-Encoding": "gzip, deflate, br"})

    rendered = slot_page(gzipping, demo.cni, demo.lyon_place, starts_at)  # a miss: GZipMiddleware
    cached = slot_page(gzipping, demo.cni, demo.lyon_place, starts_at)
    plain = slot_page(client, demo.cni, demo.lyon_place, starts_at)

    assert not from_cache(rendered) and from_cache(cached) and from_cache(plain)
    assert rendered["Content-Encoding"] == cached["Content-Encoding"] == "gzip" and not plain.has_header("Content-Encoding")
    assert gzip.decompress(rendered.content) == gzip.decompress(cached.content) == plain.content
    assert len(cached.content) * 4 < len(plain.content)
    assert all("Accept-Encoding" in response["Vary"] for response in (rendered, cached, plain))
    assert int(cached["Content-Length"]) == len(cached.content)


def test_a_page_with_a_form_is_gzipped_with_breach_padding(demo, page_cache):
    appointment = demo.book()
    page = Client(headers={"Accept-Encoding": "gzip"}).get(f"/r/{appointment.token}")
    assert page.status_code == 200 and page["Content-Encoding"] == "gzip"
    assert b"csrfmiddlewaretoken" in gzip.decompress(page.content)
    # Django's mitigation: a random-length file name in the gzip header (GZipMiddleware).
    assert page.content[3] & 0x08  # FNAME flag
