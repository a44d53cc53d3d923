"""Public pages under gunicorn, loaded by wrk with 32 connections: the six public pages (home,
service, motif, place, slot, link) against a bare Django view (bench/urls.py) in the same run,
the same gunicorn, with the production cache (Redis, bench/env.py)."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import database, processes

CONNECTIONS = 32
DURATION_S = 15
WARMUP_S = 3
# The bare view, measured before the first page and after each (see run()).
BARE_S = 6
HERE = Path(__file__).resolve().parent


def ensure_wrk():
    if shutil.which("wrk") is None:
        apt = ["apt-get", "install", "-y", "-qq", "wrk"]
        sudo = [] if _is_root() else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(sudo + apt, check=True, stdout=subprocess.DEVNULL, env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    return shutil.which("wrk")


def _is_root():
    import os

    return os.geteuid() == 0


def wrk(url, requests, duration=DURATION_S, connections=CONNECTIONS):
    """Load `url` with wrk cycling through `requests` (lines of bench/wrk_requests.lua: a path
    to GET, or path, form body and Twilio signature separated by tabs to POST); its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(requests) + "\n")
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
               "-s", str(HERE / "wrk_requests.lua"), url, "--", listing.name]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    report["rps"] = round(report["requests"] / report["duration_s"], 1)
    Path(listing.name).unlink()
    return report


# The pages measured, in the order of a citizen's path. "slots" is the page the contract's
# pages_vs_bare compares with the bare view; "link" the appointment link page before the
# initials (link_vs_bare); pages_p95_ms is the worst p95 of the six.
PAGES = ("home", "service", "motif", "place", "slots", "link")


def targets():
    """The paths each page is loaded through (wrk cycles through a page's list):

    - home: the list of services;
    - service: each service's motifs (/reserver/motif/?service=…);
    - motif: each on-site motif's places (/reserver/lieu/?motif=…);
    - place: the free-slot pages a citizen browses once a place is chosen — every public
      (motif, place) pair, every week ahead: many cache entries, so misses are measured too;
    - slots: one slot page, the first week of a public motif with opening hours (as before);
    - link: the link pages of 1,000 upcoming appointments, before the initials."""
    from datetime import timedelta

    from django.conf import settings
    from django.urls import reverse
    from django.utils import timezone

    from appointments.models import Appointment, AppointmentStatus, LocationType, Motif, OpeningHours, Place
    from appointments.zones import zone_for

    hours = OpeningHours.objects.filter(motifs__bookable_publicly=True).select_related("place").first()
    motif = hours.motifs.filter(bookable_publicly=True).first()
    slots = f"{reverse('booking_slots')}?motif={motif.pk}&lieu={hours.place_id}"
    public = Motif.objects.filter(bookable_publicly=True, active=True)
    services = sorted(set(public.values_list("service_id", flat=True)))
    on_site = public.filter(location_type=LocationType.ON_SITE)
    pairs = sorted(set(OpeningHours.motifs.through.objects.filter(motif__in=on_site).values_list(
        "motif_id", "openinghours__place_id")))
    # Weeks count from the place's own date: at 01:00 in Paris it is still yesterday in
    # Guadeloupe, where Paris' 13th week ahead is a day beyond the window (404).
    now = timezone.now()
    local_today = {place.pk: timezone.localdate(now, zone_for(place.organisation, place))
                   for place in Place.objects.filter(pk__in={p for _, p in pairs}).select_related("organisation")}
    places = [f"{reverse('booking_slots')}?motif={m}&lieu={p}" + (f"&semaine={(local_today[p] + timedelta(weeks=w)).isoformat()}" if w else "")
              for w in range(settings.BOOKING_MAX_WEEKS_AHEAD + 1) for m, p in pairs]
    tokens = Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).values_list("token", flat=True)[:1000]
    return {
        "bare": ["/bench/bare"],
        "home": [reverse("booking_home")],
        "service": [f"{reverse('booking_motif')}?service={s}" for s in services],
        "motif": [f"{reverse('booking_place')}?motif={m}" for m in sorted({m for m, _ in pairs})],
        "place": places,
        "slots": [slots],
        "link": [reverse("appointment_link", args=[token]) for token in tokens],
    }


def _ensure_data():
    """The demo's organisations and 10,000 appointments, when the sweep section did not seed
    this database (`--only pages` on a fresh one): the link pages need appointments."""
    from appointments.models import Appointment, OpeningHours

    if not OpeningHours.objects.exists():
        database.manage("seed_demo")
    if Appointment.objects.count() < 1000:
        database.seed(10_000)


def run():
    """Each page between two short runs of the bare view, its ratio against their mean: the
    machine is shared, its load drifts within a run, and a single bare figure taken at the
    start would compare a page with another moment's machine."""
    from django.urls import NoReverseMatch

    ensure_wrk()
    _ensure_data()
    try:
        paths = targets()
    except NoReverseMatch as exc:
        return {"pages_skipped": f"public pages missing ({exc})"}
    bare_paths = paths.pop("bare")
    with processes.gunicorn() as server:
        server.wait_ready("/bench/bare")
        results = {"pages_connections": CONNECTIONS, "pages_gunicorn_workers": server.workers,
                   "pages_cache_url": server.env.get("CACHE_URL", "")}

        def measure(page_paths, duration):
            wrk(server.url, page_paths, duration=WARMUP_S)
            report = wrk(server.url, page_paths, duration=duration)
            if report["non_2xx"] or report["socket_errors"]:
                raise RuntimeError(f"{page_paths[0]}: {report['non_2xx']} non-2xx answers, {report['socket_errors']} socket errors")
            report["paths"] = len(page_paths)
            return report

        bare_runs = [measure(bare_paths, BARE_S)]
        for name in PAGES:
            report = measure(paths[name], DURATION_S)
            bare_runs.append(measure(bare_paths, BARE_S))
            report["bare_rps"] = round((bare_runs[-2]["rps"] + bare_runs[-1]["rps"]) / 2, 1)
            report["vs_bare"] = round(report["rps"] / report["bare_rps"], 3)
            results[f"pages_{name}"] = report
    results["pages_bare_runs"] = bare_runs
    results["pages_bare"] = sorted(bare_runs, key=lambda run: run["rps"])[len(bare_runs) // 2]
    results["pages_bare_rps"] = results["pages_bare"]["rps"]
    results["pages_vs_bare"] = round(results["pages_slots"]["vs_bare"], 2)
    results["link_vs_bare"] = round(results["pages_link"]["vs_bare"], 2)
    results["pages_p95_ms"] = max(results[f"pages_{name}"]["p95_ms"] for name in PAGES)
    return results
