"""`make bench` writes the figures ../shared/CONTRACT.md names, and its table reads any
results.json, complete or not (the benchmarks themselves run in `make bench`, never here)."""

import json
import re
from pathlib import Path

from bench import __main__ as bench_main

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"


def contract_bench_keys():
    """The results.json keys that ../shared/CONTRACT.md's `make bench` paragraph names."""
    text = CONTRACT.read_text()
    start = text.index("- `make bench`")
    paragraph = text[start:text.index("\n## ", start)]
    return {key for key in re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", paragraph)}


def test_results_hold_every_key_the_contract_names():
    keys = contract_bench_keys()
    assert {"pipeline_vs_noop", "drain_100k_s", "callbacks_vs_sms_rate"} <= keys  # the paragraph was found
    results = bench_main.complete({"pipeline_vs_noop": 0.3})
    assert keys <= set(results)
    assert results["pipeline_vs_noop"] == 0.3 and results["callbacks_vs_sms_rate"] is None


def test_the_table_marks_targets_met_and_missed(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "results.json")
    results = {"sweep_10000_s": 0.4, "sweep_1000000_s": 0.5, "sweep_1m_over_10k": 1.25, "pages_vs_bare": 0.2,
               "pages_slots": {"rps": 40.0, "p50_ms": 700.0, "p95_ms": 1200.0}, "drain_note": "extrapolated"}
    bench_main._write(results)
    bench_main.print_table(json.loads((tmp_path / "results.json").read_text()))
    lines = capsys.readouterr().out.splitlines()
    row = {line[:44].strip(): line[44:].split() for line in lines if len(line) > 44}
    assert row["sweep 1M / 10k"][-1] == "yes"
    assert row["slot page / bare"][-1] == "NO"
    assert row["pipeline / no-op"] == ["—", "≥", "0.50"]  # not measured: no verdict
    assert "drain_note: extrapolated" in lines
