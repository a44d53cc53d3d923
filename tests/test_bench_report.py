"""`make bench` writes the figures ../shared/CONTRACT.md names, and its table reads any
results.json, complete or not (the benchmarks themselves run in `make bench`, never here)."""

import json

from bench import __main__ as bench_main


def test_results_hold_the_contract_keys():
    assert set(bench_main.CONTRACT_KEYS) == {
        "pipeline_vs_noop", "worker_rss_mb", "drain_100k_s", "sweep_1m_over_10k", "pages_vs_bare", "pages_p95_ms",
    }


def test_the_table_marks_targets_met_and_missed(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "results.json")
    results = {"sweep_10000_s": 0.4, "sweep_1000000_s": 0.5, "sweep_1m_over_10k": 1.25, "pages_vs_bare": 0.2,
               "pages_slots": {"rps": 40.0, "p50_ms": 700.0, "p95_ms": 1200.0}, "drain_note": "extrapolated"}
    bench_main._write(results)
    bench_main.print_table(json.loads((tmp_path / "results.json").read_text()))
    lines = capsys.readouterr().out.splitlines()
    row = {line[:44].strip(): line[44:].split() for line in lines if len(line) > 44}
    assert row["sweep 1M / 10k"][-1] == "yes"
    assert row["slowest page / bare"][-1] == "NO"
    assert row["pipeline / no-op"] == ["—", "≥", "0.50"]  # not measured: no verdict
    assert "drain_note: extrapolated" in lines
