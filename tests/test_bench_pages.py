"""The pages bench loads only pages that answer 200 (a 404 aborts `make bench`), whatever the
hour: at 01:00 in Paris it is still the day before in Guadeloupe, whose booking window then
ends a day earlier than Paris'."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from appointments.models import OpeningHours
from bench import pages

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def one_in_the_morning_in_paris(time_machine):
    tomorrow = timezone.localdate(timezone.now(), PARIS) + timedelta(days=1)
    time_machine.move_to(datetime.combine(tomorrow, time(1, 0), tzinfo=PARIS), tick=False)


def test_every_week_the_bench_browses_is_within_its_place_window(demo, one_in_the_morning_in_paris, client, settings):
    settings.PUBLIC_PAGE_CACHE_SECONDS = 0
    guadeloupe_pairs = OpeningHours.objects.filter(place__organisation=demo.guadeloupe, motifs__bookable_publicly=True)
    assert guadeloupe_pairs.exists()  # an overseas place is among those browsed

    browsed = pages.targets()["place"]

    assert any(f"lieu={hours.place_id}&semaine=" in path for hours in guadeloupe_pairs for path in browsed)
    answers = {path: client.get(path).status_code for path in browsed}
    assert {path: status for path, status in answers.items() if status != 200} == {}
