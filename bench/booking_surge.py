"""The booking surge (issue 10, item 3), measured with real processes: 20 source addresses
(127.0.0.2–127.0.0.21, loopback, each client socket bound to its own) book one motif's slots
of the coming week as fast as they can for 2 minutes through `gunicorn rdv.wsgi`, each booking
with a fresh phone number and email; then the share of that week's slots they got.

    python -m bench.booking_surge [--seconds 120] [--addresses 20]      (make bench-surge)

Runs on its own scratch database (rdv_bench_surge) and Redis database 5 (the counters), never
the tests'. Target: < 10 % of the week's slots."""

import argparse
import json
import os
import random
import re
import threading
import time
from datetime import timedelta

os.environ.setdefault("BENCH_DB_NAME", "rdv_bench_surge")

from tests.support.httpjson import session_from  # noqa: E402

from . import database, env  # noqa: E402

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SLOT_LINK = re.compile(r'href="(/reserver/coordonnees/\?[^"]+)"')


def attacker(index, address, base_url, slots_path, deadline, tally, lock):
    import html

    session = session_from(address)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            page = session.get(base_url + slots_path, timeout=10)
            links = [html.unescape(link) for link in SLOT_LINK.findall(page.text)]
            if page.status_code != 200:
                outcome = f"slot_page_{page.status_code}"
            elif not links:
                outcome = "no_slot"
            else:
                url = base_url + random.choice(links)
                form = session.get(url, timeout=10)
                token = CSRF.search(form.text)
                data = {"csrfmiddlewaretoken": token.group(1) if token else "", "first_name": "Jean",
                        "last_name": "Robot", "phone": f"06{index:02d}{n:06d}", "email": f"bot{index}-{n}@exemple.fr",
                        "confirmer": "1"}
                # Production cookies are Secure and this is plain HTTP on loopback: sent by hand.
                cookies = {name: session.cookies.get(name) for name in ("csrftoken", "sessionid") if session.cookies.get(name)}
                answer = session.post(url, data=data, timeout=10, allow_redirects=False, cookies=cookies,
                                      headers={"X-Forwarded-For": f"10.{index}.{n % 250}.1", "X-Real-IP": f"10.9.{index}.{n % 250}"})
                outcome = {302: "booked", 429: "refused_429", 409: "refused_409"}.get(answer.status_code, f"http_{answer.status_code}")
        except Exception as exc:  # a refused connection under load: counted, not fatal
            outcome = exc.__class__.__name__
        with lock:
            tally[outcome] = tally.get(outcome, 0) + 1


def run(seconds=120, addresses=20):
    from tests.support.processes import GunicornProcess, flush_redis

    database.recreate()
    database.manage("seed_demo")
    cache_url = f"redis://127.0.0.1:6379/{env.REDIS_DB}"
    flush_redis(cache_url)
    env.activate()
    from django.utils import timezone

    from appointments import slots
    from appointments.models import Appointment, BookedBy, Motif, OpeningHours

    hours = OpeningHours.objects.filter(motifs__bookable_publicly=True).select_related("place__organisation").first()
    motif = Motif.objects.filter(opening_hours=hours, bookable_publicly=True).first()
    place = hours.place
    now = timezone.now()
    today = timezone.localdate(now, place.zone)
    week = slots.free_slots(motif, place=place, first_day=today, days=7, now=now)
    week_slots = sum(len(day_slots) for _day, day_slots in week)
    slots_path = f"/reserver/creneau/?motif={motif.pk}&lieu={place.pk}"

    server = GunicornProcess(env.bench_env(CACHE_URL=cache_url, SMS_BACKEND="outbox",
                                           EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
                             extra_args=["--log-level", "warning"])
    tally, lock = {}, threading.Lock()
    with server:
        server.wait_ready()
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=attacker, args=(i, f"127.0.0.{i + 2}", server.url, slots_path, deadline, tally, lock))
                   for i in range(addresses)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    last_day = today + timedelta(days=6)
    taken = Appointment.objects.filter(motif=motif, place=place, booked_by=BookedBy.CITIZEN).filter(
        starts_at__date__gte=today, starts_at__date__lte=last_day + timedelta(days=1))
    taken_week = sum(1 for a in taken if today <= a.local_starts_at.date() <= last_day)
    result = {
        "surge_seconds": seconds, "surge_addresses": addresses, "surge_motif": motif.name,
        "surge_week_slots": week_slots, "surge_booked_in_week": taken_week,
        "surge_booked_total": Appointment.objects.filter(booked_by=BookedBy.CITIZEN).count(),
        "surge_share": round(taken_week / week_slots, 4) if week_slots else None,
        "surge_requests": tally,
    }
    flush_redis(cache_url)
    database.drop()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--addresses", type=int, default=20)
    options = parser.parse_args()
    result = run(options.seconds, options.addresses)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    share = result["surge_share"]
    print(f"booking surge: {result['surge_booked_in_week']} of {result['surge_week_slots']} slots of the coming week "
          f"({share:.1%}) in {options.seconds} s from {options.addresses} addresses — target < 10 %: "
          f"{'met' if share is not None and share < 0.10 else 'MISSED'}")
