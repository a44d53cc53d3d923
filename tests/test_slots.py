"""Free slots: opening hours minus confirmed appointments, in the place's own local time."""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from django.test.utils import CaptureQueriesContext

from appointments import services, slots
from appointments.models import BookedBy, Motif, OpeningHours

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
# Before every date used below, so that the minimum lead time never hides a slot.
LONG_BEFORE = datetime(2026, 11, 1, tzinfo=UTC)
# The tests name calendar days (a DST change, a Saturday): "now" is LONG_BEFORE, whatever today is.
pytestmark = [pytest.mark.time_machine(LONG_BEFORE, tick=True), pytest.mark.usefixtures("opening_hours_since_2026")]


def day_slots(motif, day, *, place, now=LONG_BEFORE):
    [(_, found)] = slots.free_slots(motif, place=place, first_day=day, days=1, now=now)
    return found


def local_times(found):
    return [s.local_starts_at.strftime("%H:%M") for s in found]


def test_slots_follow_the_opening_hours_and_the_motif_duration(demo):
    monday = date(2026, 12, 7)
    found = day_slots(demo.cni, monday, place=demo.lyon_place)
    # 9h-12h and 13h30-17h in steps of the motif's 20 minutes; the last slot ends at closing.
    assert local_times(found)[:3] == ["09:00", "09:20", "09:40"]
    assert "11:40" in local_times(found) and "12:00" not in local_times(found)
    assert local_times(found)[-1] == "16:30"  # 13h30 + 9 x 20 min; 16h50 would end after 17h
    assert all(s.ends_at - s.starts_at == timedelta(minutes=20) for s in found)
    # Saturday: no opening hours.
    assert day_slots(demo.cni, date(2026, 12, 12), place=demo.lyon_place) == []


def test_slots_keep_their_wall_clock_time_across_the_spring_dst_change(demo):
    """Europe/Paris moves from UTC+1 to UTC+2 on Sunday 28 March 2027."""
    friday, monday = date(2027, 3, 26), date(2027, 3, 29)
    before = day_slots(demo.cni, friday, place=demo.lyon_place)[0]
    after = day_slots(demo.cni, monday, place=demo.lyon_place)[0]
    assert before.local_starts_at.strftime("%H:%M") == after.local_starts_at.strftime("%H:%M") == "09:00"
    assert before.starts_at.astimezone(UTC).hour == 8
    assert after.starts_at.astimezone(UTC).hour == 7


def test_the_hour_skipped_by_the_dst_change_offers_no_slot(demo):
    night = OpeningHours(agent=demo.camille, place=demo.lyon_place, weekdays=[6], start_time=time(1), end_time=time(4),
                         valid_from=date(2027, 1, 1))
    night.save()
    night.motifs.set([demo.cni])
    sunday = date(2027, 3, 28)
    found = day_slots(demo.cni, sunday, place=demo.lyon_place)
    # 02:00-03:00 does not exist that night in Paris.
    assert local_times(found) == ["01:00", "01:20", "01:40", "03:00", "03:20", "03:40"]
    # In UTC the slots follow one another without a gap or an overlap.
    assert [s.starts_at.astimezone(UTC).strftime("%H:%M") for s in found] == ["00:00", "00:20", "00:40", "01:00", "01:20", "01:40"]


def test_the_hour_repeated_in_autumn_gives_slots_that_never_overlap(demo):
    """Paris goes back from UTC+2 to UTC+1 at 03:00 on Sunday 31 October 2027."""
    night = OpeningHours(agent=demo.camille, place=demo.lyon_place, weekdays=[6], start_time=time(1), end_time=time(4),
                         valid_from=date(2027, 1, 1))
    night.save()
    night.motifs.set([demo.cni])
    found = day_slots(demo.cni, date(2027, 10, 31), place=demo.lyon_place)
    assert local_times(found) == ["01:00", "01:20", "01:40", "02:00", "02:20", "02:40", "03:00", "03:20", "03:40"]
    for earlier, later in pairwise(found):
        assert earlier.ends_at <= later.starts_at
    # The repeated hour is offered once, at its first occurrence (summer time).
    assert found[3].starts_at.astimezone(UTC).strftime("%H:%M") == "00:00"
    assert found[6].starts_at.astimezone(UTC).strftime("%H:%M") == "02:00"


def test_overseas_slots_are_in_the_place_local_time(demo):
    motif = demo.guadeloupe.motifs.get()
    place = demo.guadeloupe_place
    for monday in (date(2026, 12, 7), date(2027, 3, 29)):  # on both sides of the Paris DST change
        first = day_slots(motif, monday, place=place)[0]
        assert first.local_starts_at.strftime("%H:%M") == "09:00"
        assert first.local_starts_at.utcoffset() == timedelta(hours=-4)
        assert first.starts_at.astimezone(UTC).strftime("%H:%M") == "13:00"
        assert first.agent_ids == (demo.marie.pk,)


def test_a_booked_agent_is_not_offered_but_a_free_colleague_is(demo):
    monday = date(2026, 12, 7)
    nine = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
    demo.book(starts_at=nine, agents=[demo.camille])
    [first] = [s for s in day_slots(demo.cni, monday, place=demo.lyon_place) if s.starts_at == nine]
    assert first.agent_ids == (demo.julien.pk,)

    demo.book(starts_at=nine + timedelta(minutes=10), agents=[demo.julien])  # overlaps 9h00 and 9h20
    found = local_times(day_slots(demo.cni, monday, place=demo.lyon_place))
    assert "09:00" not in found
    assert found[0] == "09:20"  # camille is free again at 9h20


def test_a_cancelled_appointment_frees_its_slot(demo):
    nine = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
    first = demo.book(starts_at=nine, agents=[demo.camille])
    second = demo.book(starts_at=nine, agents=[demo.julien])
    assert "09:00" not in local_times(day_slots(demo.cni, date(2026, 12, 7), place=demo.lyon_place))
    services.cancel(first, actor=BookedBy.AGENT)
    services.cancel(second, actor=BookedBy.CITIZEN)
    assert "09:00" in local_times(day_slots(demo.cni, date(2026, 12, 7), place=demo.lyon_place))


def test_slots_too_soon_are_not_offered(demo, settings):
    settings.BOOKING_MIN_LEAD_MINUTES = 30
    now = datetime(2026, 12, 7, 8, 45, tzinfo=PARIS)
    found = local_times(day_slots(demo.cni, date(2026, 12, 7), place=demo.lyon_place, now=now))
    assert found[0] == "09:20"


def test_opening_hours_apply_only_within_their_validity_dates(demo):
    OpeningHours.objects.filter(agent__in=[demo.camille, demo.julien]).update(valid_until=date(2026, 12, 31))
    assert day_slots(demo.cni, date(2026, 12, 31), place=demo.lyon_place)
    assert day_slots(demo.cni, date(2027, 1, 4), place=demo.lyon_place) == []


def test_a_motif_not_in_the_opening_hours_has_no_slot(demo):
    other = Motif.objects.create(organisation=demo.lyon, service=demo.cni.service, name="Motif sans plage", bookable_publicly=True)
    assert day_slots(other, date(2026, 12, 7), place=demo.lyon_place) == []


def test_slot_parameters_round_trip_and_refuse_garbage():
    start = datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    assert slots.parse_slot_param(slots.format_slot_param(start)) == start
    for garbage in ("", "2027-03-29", "2027-13-01T07:00Z", "2027-03-29T07:00+02:00", "<script>"):
        assert slots.parse_slot_param(garbage) is None


def _book_many(demo, count, first_day):
    contact = demo.contact()
    start = datetime.combine(first_day, time(9), tzinfo=PARIS)
    for i in range(count):
        services.book(motif=demo.cni, place=demo.lyon_place, starts_at=start + timedelta(minutes=20 * i), agents=[demo.camille],
                      contacts=[contact], booked_by=BookedBy.AGENT, duration_minutes=20)


@pytest.mark.parametrize("appointments", [10, 200])
def test_the_slot_page_runs_a_constant_number_of_queries(demo, client, django_assert_max_num_queries, appointments):
    today = timezone.localdate()
    first_day = today + timedelta(days=7 - today.weekday())  # next Monday
    url = f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&semaine={first_day.isoformat()}"
    client.get(url)  # warm up: anything cached per process
    with CaptureQueriesContext(connection) as before:
        assert client.get(url).status_code == 200
    _book_many(demo, appointments, first_day)
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200
    with CaptureQueriesContext(connection) as after:
        client.get(url)
    assert len(after) == len(before)
    # The appointments did take camille's slots: only julien's remain on Monday morning.
    assert response.context["days"][0][1][0].agent_ids == (demo.julien.pk,)


def test_dates_are_written_the_french_way_in_the_place_time_zone():
    from appointments.dates import french_datetime, french_duration

    instant = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
    assert french_datetime(instant, PARIS) == "mardi 10 mars 2026 à 14h30"
    assert french_datetime(instant, GUADELOUPE) == "mardi 10 mars 2026 à 9h30"
    assert french_datetime(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), PARIS) == "mardi 1er décembre 2026 à 9h00"
    assert [french_duration(m) for m in (20, 60, 90)] == ["20 minutes", "1 heure", "1 h 30"]
