"""The slot page against a database holding many appointments: query count and median time.

    DATABASE_URL=postgres://.../rdv_pages_scratch python manage.py seed_demo --appointments 100000
    DATABASE_URL=postgres://.../rdv_pages_scratch python -m bench.pages_slots [--bench-agents-open]

With production settings (no query log, DEBUG=false), add DEBUG=false SECRET_KEY=…
DJANGO_SETTINGS_MODULE=bench.settings (static files without collectstatic) SECURE_SSL_REDIRECT=false.

--bench-agents-open gives the bench agents (who hold the bulk appointments) opening hours for
the motif at the place, so that the page reads their busy calendars too (the heavier case).
Prints the number of queries and the median / p95 time of the page, in-process through
Django's test client (no network, no web server), for this week and for a week 10 weeks ahead.
"""

import os
import statistics
import sys
import time
import warnings
from datetime import date, time as clock, timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdv.settings")
# Development settings (DEBUG=true: static files need no collectstatic), quiet logging.
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("LOG_LEVEL", "ERROR")

import django  # noqa: E402

django.setup()
warnings.simplefilter("ignore")

from django.test.utils import setup_test_environment  # noqa: E402

setup_test_environment()  # responses carry their template context (to count the slots shown)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from appointments.models import Agent, Appointment, Motif, OpeningHours  # noqa: E402

RUNS = 50


def main():
    motif = Motif.objects.get(name__startswith="Demande ou renouvellement de carte nationale")
    place = motif.organisation.places.get()
    if "--bench-agents-open" in sys.argv:
        for agent in Agent.objects.filter(user__username__startswith="bench.agent.").exclude(opening_hours__isnull=False):
            for start, end in ((clock(9), clock(12)), (clock(13, 30), clock(17))):
                hours = OpeningHours(agent=agent, place=place, weekdays=[0, 1, 2, 3, 4], start_time=start, end_time=end,
                                     valid_from=date(2026, 1, 1))
                hours.save()
                hours.motifs.set([motif])
    agents = OpeningHours.objects.filter(motifs=motif, place=place).values("agent").distinct().count()
    print(f"appointments in the database: {Appointment.objects.count()}; agents open for the motif: {agents}")
    client = Client()
    today = timezone.localdate(timezone.now(), place.zone)
    for label, first_day in (("this week", today), ("in 10 weeks", today + timedelta(weeks=10))):
        url = f"/reserver/creneau/?motif={motif.pk}&lieu={place.pk}&semaine={first_day.isoformat()}"
        assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        # Counted now: `queries` reads the connection's query log, which the next request
        # empties (and, with DEBUG=false, leaves empty).
        count = len(queries)
        slots = sum(len(day) for _, day in response.context["days"]) if response.context else "?"
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        print(f"{label:12} queries={count} free slots={slots} median={statistics.median(timings):.1f} ms "
              f"p95={timings[int(RUNS * 0.95) - 1]:.1f} ms")


if __name__ == "__main__":
    main()
