"""A small run of the benchmark harness, so that it keeps working. Nothing here checks a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import Plan, copy_runs
from tests.conftest import Store

ROOT = Path(__file__).resolve().parent.parent


def test_a_small_benchmark_run_builds_its_store_and_checks_every_reader_agrees(
    tmp_path: Path,
) -> None:
    # given a folder for the generated store
    results = tmp_path / "results.json"
    # when the harness runs on a 200-run store with a 100-run window, over HTTP too
    options = ["--sizes", "200", "--window", "100", "--no-stages", "--workers", "2"]
    options += ["--dir", str(tmp_path / "stores"), "--json", str(results)]
    run = subprocess.run(
        [sys.executable, "-m", "bench", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then it succeeds: every reader returned the same 100 runs (the harness asserts it)
    assert run.returncode == 0, run.stderr[-3000:]
    measured = json.loads(results.read_text())
    assert measured["reads"]["200"]["runs"] == 100
    assert measured["http"]["200"]["runs"] == 100
    assert {"raw_sql_s", "gather_sql_s", "gather_client_s", "search_runs_s"} <= set(
        measured["reads"]["200"]
    )
    # and it printed the ratios it measured, the store staying outside the repository
    assert "mlflow.search_runs / gather" in run.stdout
    assert sorted(p.name for p in (tmp_path / "stores").glob("*.db")) == [
        "runs200-window100-seed7.db",
        "templates-seed7.db",
    ]


def test_a_plan_that_does_not_fit_its_templates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="window_runs"):
        copy_runs(f"sqlite:///{tmp_path / 'none.db'}", Plan(runs=100, window_runs=10))


def test_the_charts_benchmark_renders_every_image_of_a_report_in_one_session(
    small_store: Store,
) -> None:
    # given the hand-made week and the demo's config
    from bench.__main__ import DEMO_CONFIG
    from bench.measure import chart_rendering

    # when the charts benchmark runs once on it
    measured = chart_rendering(small_store.uri, "2026-W48", DEMO_CONFIG, 1)
    # then it rendered the report's figures and their email copies, and derived the cost of
    # one more image from the two sessions it timed side by side
    assert measured["images"] == measured["figures"] + 2 and measured["figures"] >= 5
    expected = (measured["all_s"] - measured["start_s"]) / (measured["images"] - 1)
    assert measured["per_image_s"] == expected
    assert measured["ahead_s"] > 0
