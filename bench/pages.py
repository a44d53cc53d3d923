"""Public pages under gunicorn, loaded by wrk with 32 connections: the slot page and the
appointment link page against a bare Django view (bench/urls.py) in the same run."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import processes

CONNECTIONS = 32
DURATION_S = 15
WARMUP_S = 3
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


def wrk(url, paths, duration=DURATION_S, connections=CONNECTIONS):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(paths) + "\n")
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
               "-s", str(HERE / "wrk_report.lua"), url, "--", listing.name]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    report["rps"] = round(report["requests"] / report["duration_s"], 1)
    Path(listing.name).unlink()
    return report


def targets():
    """The paths each page is loaded through: the slot page of a public motif with opening
    hours, and the link pages of 1,000 upcoming appointments."""
    from django.urls import reverse

    from appointments.models import Appointment, AppointmentStatus, OpeningHours

    hours = OpeningHours.objects.filter(motifs__bookable_publicly=True).select_related("place").first()
    motif = hours.motifs.filter(bookable_publicly=True).first()
    slots = f"{reverse('booking_slots')}?motif={motif.pk}&lieu={hours.place_id}"
    tokens = Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).values_list("token", flat=True)[:1000]
    links = [reverse("appointment_link", args=[token]) for token in tokens]
    return {"bare": ["/bench/bare"], "slots": [slots], "link": links}


def run():
    from django.urls import NoReverseMatch

    ensure_wrk()
    try:
        paths = targets()
    except NoReverseMatch as exc:
        return {"pages_skipped": f"public pages missing ({exc})"}
    with processes.gunicorn() as server:
        server.wait_ready("/bench/bare")
        results = {"pages_connections": CONNECTIONS, "pages_gunicorn_workers": server.workers}
        for name, page_paths in paths.items():
            wrk(server.url, page_paths, duration=WARMUP_S)
            report = wrk(server.url, page_paths)
            if report["non_2xx"] or report["socket_errors"]:
                raise RuntimeError(f"{name}: {report['non_2xx']} non-2xx answers, {report['socket_errors']} socket errors")
            results[f"pages_{name}"] = report
    bare = results["pages_bare"]["rps"]
    slowest = min(results["pages_slots"]["rps"], results["pages_link"]["rps"])
    results["pages_bare_rps"] = bare
    results["pages_vs_bare"] = round(slowest / bare, 2)
    results["pages_p95_ms"] = max(results["pages_slots"]["p95_ms"], results["pages_link"]["p95_ms"])
    return results
