"""`make bench`: run every benchmark, print a table, write bench/results.json.

    python -m bench [--only noop,sweep,pages,pipeline,callbacks] [--sizes 10000,100000,1000000] [--keep-db]
"""

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from .env import activate

RESULTS = Path(__file__).resolve().parent / "results.json"
SECTIONS = ("noop", "sweep", "pages", "pipeline", "callbacks")
# ../shared/CONTRACT.md: the keys results.json must hold.
CONTRACT_KEYS = ("pipeline_vs_noop", "worker_rss_mb", "drain_100k_s", "provider_latency_ms", "sweep_1m_over_10k",
                 "pages_vs_bare", "link_vs_bare", "pages_p95_ms", "callbacks_vs_sms_rate")
TARGETS = {
    "pipeline_vs_noop": ("≥ 0.50", lambda v: v >= 0.5),
    "sweep_1m_over_10k": ("≤ 1.5", lambda v: v <= 1.5),
    "pages_vs_bare": ("≥ 0.50", lambda v: v >= 0.5),
    "pages_p95_ms": ("< 100 ms", lambda v: v < 100),
    "drain_100k_s": ("< 600 s", lambda v: v < 600),
    "provider_latency_ms": ("≥ 150 ms", lambda v: v >= 150),
    "link_vs_bare": ("≥ 0.10", lambda v: v >= 0.1),
    "callbacks_vs_sms_rate": ("≥ 2", lambda v: v >= 2),
}
# The public pages of bench/pages.py, as the table names them.
PAGE_LABELS = (("home", "home"), ("service", "service"), ("motif", "motif"), ("place", "place"), ("slots", "slot"),
               ("link", "link"))


def main():
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--drain", type=int, default=100_000,
                        help="reminders in the drain run; drain_100k_s is extrapolated from it when under 100,000")
    parser.add_argument("--keep-db", action="store_true",
                        help="reuse the rdv_bench database as it is, and the figures of the sections not run again")
    args = parser.parse_args()
    sections = [s for s in args.only.split(",") if s]
    sizes = tuple(int(s) for s in args.sizes.split(","))

    from . import database

    if args.keep_db:
        database.manage("migrate", "--noinput")
    else:
        print("Creating the scratch database…", flush=True)
        database.recreate()
    activate()

    results = {}
    if args.keep_db and RESULTS.exists():
        # Sections not run again keep their figures from the run that made this database.
        results = json.loads(RESULTS.read_text())
    results.update(started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   machine=f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}")
    for section in sections:
        print(f"Running {section}…", flush=True)
        started = time.monotonic()
        module = __import__(f"bench.{section}", fromlist=["run"])
        arguments = {"sweep": (sizes,), "pipeline": (args.drain,)}.get(section, ())
        results.update(module.run(*arguments))
        results[f"{section}_bench_s"] = round(time.monotonic() - started, 1)
        _write(results)
    if "noop" in sections and "pipeline" in sections:
        _pipeline_ratio(results)
    if "callbacks" in sections and "pipeline" in sections:
        _callbacks_ratio(results)
    _write(complete(results))
    print_table(results)


def complete(results):
    """Every key the contract names, None where this run did not measure it (no verdict)."""
    for key in CONTRACT_KEYS:
        results.setdefault(key, None)
    return results


def _pipeline_ratio(results):
    if results.get("pipeline_per_s") and results.get("noop_tasks_per_s"):
        results["pipeline_vs_noop"] = round(results["pipeline_per_s"] / results["noop_tasks_per_s"], 2)


def _callbacks_ratio(results):
    if results.get("callbacks_per_s") and results.get("drain_sms_per_s"):
        results["callbacks_vs_sms_rate"] = round(results["callbacks_per_s"] / results["drain_sms_per_s"], 2)


def _cpus():
    import os

    return os.cpu_count()


def _write(results):
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def print_table(results):
    rows = [
        ("no-op Celery tasks / s (2-process worker)", results.get("noop_tasks_per_s"), "baseline", None),
        ("notifications delivered / s (stand-ins)", results.get("pipeline_per_s"), "", None),
        ("pipeline / no-op", results.get("pipeline_vs_noop"), *TARGETS["pipeline_vs_noop"]),
        ("worker RSS per process (MB)", results.get("worker_rss_mb"), "", None),
        ("provider latency in the drain (ms)", results.get("provider_latency_ms"), *TARGETS["provider_latency_ms"]),
        ("drain of 100,000 reminders (s)", results.get("drain_100k_s"), *TARGETS["drain_100k_s"]),
        ("sweep, 1,000 due among 10k (s)", results.get("sweep_10000_s"), "baseline", None),
        ("sweep, 1,000 due among 100k (s)", results.get("sweep_100000_s"), "", None),
        ("sweep, 1,000 due among 1M (s)", results.get("sweep_1000000_s"), "", None),
        ("sweep 1M / 10k", results.get("sweep_1m_over_10k"), *TARGETS["sweep_1m_over_10k"]),
        ("seed 1M appointments, from 100k (s)", results.get("seed_1000000_s"), "", None),
        ("bare Django view, req/s (median)", results.get("pages_bare_rps"), "baseline", None),
        *[(f"{label} page, req/s, x adjacent bare", _page(results, name), "", None) for name, label in PAGE_LABELS],
        ("slot page / bare", results.get("pages_vs_bare"), *TARGETS["pages_vs_bare"]),
        ("link page / bare", results.get("link_vs_bare"), *TARGETS["link_vs_bare"]),
        *[(f"{label} page p50 / p95 (ms)", _pair(results, f"pages_{name}"), "", None) for name, label in PAGE_LABELS],
        ("pages p95, worst (ms)", results.get("pages_p95_ms"), *TARGETS["pages_p95_ms"]),
        ("SMS delivered / s in the drain", results.get("drain_sms_per_s"), "", None),
        ("status callbacks / s (gunicorn, signed)", results.get("callbacks_per_s"), "", None),
        ("status callbacks / s over SMS / s", results.get("callbacks_vs_sms_rate"), *TARGETS["callbacks_vs_sms_rate"]),
    ]
    print(f"\n{'figure':<44} {'value':>16}  {'target':<10} ok")
    print("-" * 78)
    for label, value, target, check in rows:
        shown = "—" if value is None else (", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value)
        ok = "" if check is None or value is None else ("yes" if check(value) else "NO")
        print(f"{label:<44} {str(shown):>16}  {target:<10} {ok}")
    for key, value in results.items():
        if key.endswith("_skipped") or key.endswith("_note"):
            print(f"{key}: {value}")
    print(f"\nwritten to {RESULTS}")


def _get(results, key, field):
    return (results.get(key) or {}).get(field)


def _page(results, name):
    """A page's req/s, and its ratio to the bare runs measured around it (bench/pages.py)."""
    report = results.get(f"pages_{name}")
    if not report:
        return None
    return (report["rps"], report["vs_bare"]) if "vs_bare" in report else report["rps"]


def _pair(results, key):
    report = results.get(key)
    return None if not report else (report["p50_ms"], report["p95_ms"])


if __name__ == "__main__":
    main()
