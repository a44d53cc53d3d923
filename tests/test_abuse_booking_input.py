"""Bad input at the booking path (issue 10, item 5): every start re-checked on POST against the
slot page's rules, clear French refusals, no 500 from any parameter, durations in UTC."""

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from appointments import services
from appointments.models import Appointment, BookedBy
from appointments.slots import format_slot_param

from .public_pages import CONTACT, book, contact_url, first_slot_url, slot_start, text
from .support.dates import next_offset_change

PARIS = ZoneInfo("Europe/Paris")


def assert_refused(response, status=400):
    assert response.status_code == status
    page = text(response)
    assert "Ce créneau n'est pas proposé" in page
    assert "au plus 12 semaines à l'avance" in page
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("debut", ["9999-12-31T08:00Z", "9999-12-31T23:59Z", "0001-01-01T00:00Z"])
def test_year_9999_and_year_1_are_refused_on_every_step(demo, client, debut):
    url = f"/reserver/coordonnees/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&debut={debut}"
    assert_refused(client.get(url))
    assert_refused(client.post(url, CONTACT))
    assert_refused(client.post(url, {**CONTACT, "confirmer": "1"}))


def test_a_real_slot_time_beyond_the_weeks_offered_is_refused(demo, client):
    offered = slot_start(first_slot_url(client, demo.cni, demo.lyon_place))
    # The same weekday and hour, inside opening hours, 13 and 60 weeks on.
    for weeks in (13, 60):
        url = contact_url(demo.cni, offered + timedelta(weeks=weeks), demo.lyon_place)
        assert_refused(book(client, url))


def test_a_start_sooner_than_the_lead_time_is_refused(demo, client):
    soon = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    assert_refused(book(client, contact_url(demo.cni, soon, demo.lyon_place)))


def test_an_off_hours_start_is_refused_cleanly(demo, client):
    offered = slot_start(first_slot_url(client, demo.cni, demo.lyon_place))
    night = datetime.combine(offered.astimezone(PARIS).date() + timedelta(days=1), time(3, 0), tzinfo=PARIS)
    response = book(client, contact_url(demo.cni, night, demo.lyon_place))
    assert response.status_code == 409
    assert "Ce créneau n'est plus disponible" in text(response)
    assert not Appointment.objects.exists()


def test_the_last_offered_week_can_still_be_booked(demo, client):
    # The window's end is the slot page's, not one day shorter.
    today = timezone.localdate(timezone.now(), PARIS)
    last_week = today + timedelta(weeks=12) - timedelta(days=6)
    page = client.get(f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&semaine={last_week.isoformat()}")
    from .public_pages import links

    urls = links(page, "/reserver/coordonnees/")
    assert urls, "the demo offers slots in the last week"
    assert book(client, urls[-1]).status_code == 302


HOSTILE = ["²", "٣", "１", "-1", "1.0", "9" * 40, "\x00", "' OR 1=1--", "1e3", "0x10", " 1", "1 ", "🙂", "%", "[]"]


@pytest.mark.parametrize("value", HOSTILE)
def test_no_parameter_value_makes_a_500(demo, client, value):
    motif, place = demo.cni.pk, demo.lyon_place.pk
    start = format_slot_param(timezone.now() + timedelta(days=3))
    urls = [
        ("/reserver/motif/", {"service": value}),
        ("/reserver/lieu/", {"motif": value}),
        ("/reserver/creneau/", {"motif": value}),
        ("/reserver/creneau/", {"motif": motif, "lieu": value}),
        ("/reserver/creneau/", {"motif": motif, "lieu": place, "semaine": value}),
        ("/reserver/coordonnees/", {"motif": motif, "lieu": place, "debut": value}),
        ("/reserver/coordonnees/", {"motif": motif, "lieu": value, "debut": start}),
        ("/reserver/coordonnees/", {"motif": value, "lieu": place, "debut": start}),
    ]
    for path, params in urls:
        assert client.get(path, params).status_code in (200, 302, 400, 404, 409), (path, params)
        posted = client.post(f"{path}?{urlencode(params)}", {**CONTACT, "confirmer": "1"})
        assert posted.status_code in (200, 302, 400, 404, 405, 409), (path, params)
    assert client.get(f"/r/{value}").status_code in (404, 301, 302)


def test_unicode_digits_in_a_slot_start_are_not_a_way_around_the_window(demo, client):
    # strptime reads Arabic-Indic digits: the window still applies to what they say.
    assert_refused(client.get(f"/reserver/coordonnees/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}"
                              "&debut=٩٩٩٩-12-31T08:00Z"))


# --- Durations in UTC --------------------------------------------------------------------------------


@pytest.mark.parametrize("hour, minute, duration", [(2, 0, 30), (2, 30, 60), (2, 45, 30)])
def test_the_repeated_autumn_hour_books_with_a_real_duration(demo, hour, minute, duration):
    day = next_offset_change(PARIS, to_summer=False)
    second = datetime(day.year, day.month, day.day, hour, minute, fold=1, tzinfo=PARIS)
    first = second.replace(fold=0)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    for starts_at in (first, second):
        appointment = services.book(
            motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[demo.camille],
            contacts=[demo.contact()], booked_by=BookedBy.AGENT, booked_by_agent=demo.camille, duration_minutes=duration,
        )
        appointment.refresh_from_db()
        assert appointment.starts_at == starts_at.astimezone(UTC)
        assert appointment.ends_at - appointment.starts_at == timedelta(minutes=duration)
