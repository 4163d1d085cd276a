"""Reusing last week's snapshot gives exactly what a full fetch of the history gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas.testing as pdt
import pytest

from reporter.compute import compute_results
from reporter.config import parse_config
from reporter.gather import gather
from reporter.gather.incremental import merge_history, reusable_snapshot
from reporter.gather.snapshot import TABLES
from reporter.job import save_report
from tests.conftest import RATE_CARD, WEEK, Store

MONDAY = datetime(2026, 11, 30, 6, 17, tzinfo=UTC)


def test_incremental_history_equals_a_full_fetch(small_store: Store, tmp_path: Path) -> None:
    # given last week's report, built the Monday after it ended
    config = parse_config(RATE_CARD)
    last_week = gather(
        small_store.uri, WEEK.shift(-1), 2, now=datetime(2026, 11, 23, 6, 17, tzinfo=UTC)
    )
    save_report(last_week, config, tmp_path)
    # when this week is built from last week's snapshot plus a one-week fetch
    previous = reusable_snapshot(tmp_path, WEEK, 2, last_week.info.tracking_uri)
    assert previous is not None
    one_week = gather(small_store.uri, WEEK, 1, now=MONDAY)
    merged = merge_history(previous, one_week, 2)
    assert merged is not None
    full = gather(small_store.uri, WEEK, 2, now=MONDAY)
    # then every run table and every figure equal the full fetch
    for name in TABLES:
        pdt.assert_frame_equal(merged.tables[name], full.tables[name], obj=name)
    assert merged.info.runs_reused > 0 and merged.info.runs_fetched < full.info.runs_fetched
    ignore = {"completeness"}
    assert compute_results(merged, config).model_dump(exclude=ignore) == compute_results(
        full, config
    ).model_dump(exclude=ignore)


def test_a_snapshot_taken_before_its_week_ended_is_not_reused(
    small_store: Store, tmp_path: Path
) -> None:
    early = gather(small_store.uri, WEEK.shift(-1), 2, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    save_report(early, parse_config(RATE_CARD), tmp_path)
    assert reusable_snapshot(tmp_path, WEEK, 2, early.info.tracking_uri) is None


def test_the_weekly_build_reuses_last_weeks_snapshot(small_store: Store, tmp_path: Path) -> None:
    import json

    import yaml

    from tests.test_cli import reporter

    config_file = tmp_path / "reporter.yaml"
    config_file.write_text(yaml.safe_dump(RATE_CARD))
    common = (
        "--tracking-uri",
        small_store.uri,
        "--history-weeks",
        "2",
        "--config",
        str(config_file),
    )
    assert reporter("build", "--week", "2026-W47", *common, cwd=tmp_path).returncode == 0
    second = reporter("build", "--week", "2026-W48", *common, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    kpis = json.loads((tmp_path / "reports" / "2026-W48" / "kpis.json").read_text())
    assert (
        kpis["completeness"]["reused_from"] == "2026-W47"
        and kpis["completeness"]["runs_reused"] > 0
    )
    assert kpis["cost"]["total"] == 32.75 and kpis["runs"]["total"] == 9  # as the full fetch


def test_a_saved_snapshot_reloads_equal_and_its_slice_size_only_moves_line_breaks(
    small_store: Store, tmp_path: Path, monkeypatch
) -> None:
    import io

    import reporter.gather.snapshot as snapshot_module
    from reporter.gather.snapshot import export_snapshot, load_snapshot, save_snapshot

    # given a gathered snapshot (with a run still open: a missing end time)
    snapshot = gather(small_store.uri, WEEK, history_weeks=2)
    # when it is streamed to a file, and exported again with one row per line
    saved = io.BytesIO()
    save_snapshot(snapshot, saved)
    monkeypatch.setattr(snapshot_module, "ROWS_PER_LINE", 1)
    one_per_line = export_snapshot(snapshot)
    # then the file reloads into equal tables and info
    (tmp_path / "snapshot.json").write_bytes(saved.getvalue())
    again = load_snapshot(tmp_path / "snapshot.json")
    assert again.info == snapshot.info
    for name in TABLES:
        pdt.assert_frame_equal(again.tables[name], snapshot.tables[name])
    # and the slice size changes only where lines break (JSON strings never hold a raw newline)
    streamed = saved.getvalue().decode("utf-8")
    assert one_per_line.count("\n") > streamed.count("\n")
    assert one_per_line.replace("\n   ", "") == streamed.replace("\n   ", "")


def test_a_snapshot_of_only_the_report_keys_gives_the_same_figures_and_says_so(
    small_store: Store, tmp_path: Path
) -> None:
    from reporter.compute import report_keys
    from reporter.errors import UsageError
    from reporter.job import rerender_report

    # given the hand-made store and a config that reads a KPI metric
    config = parse_config(
        {**RATE_CARD, "kpis": [{"name": "AUC", "metric": "auc", "experiment": "fraud"}]}
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    # when it is gathered with only the keys the report reads, and with every key
    narrow = gather(small_store.uri, WEEK, history_weeks=2, now=now, keys=report_keys(config))
    full = gather(small_store.uri, WEEK, history_weeks=2, now=now)
    # then the figures are the same, from fewer rows, and the snapshot records its keys
    assert compute_results(narrow, config) == compute_results(full, config)
    assert len(narrow.tables["run_tags"]) < len(full.tables["run_tags"])
    assert narrow.info.kept_keys["metrics"] == ["auc"] and full.info.kept_keys is None
    # and a build that needs other keys never reuses it, nor re-renders from it
    save_report(narrow, config, tmp_path)
    other = parse_config(
        {**RATE_CARD, "kpis": [{"name": "Loss", "metric": "loss", "experiment": "fraud"}]}
    )
    next_week = WEEK.shift(1)
    assert reusable_snapshot(tmp_path, next_week, 2, full.info.tracking_uri, None) is None
    needed = report_keys(other)
    assert reusable_snapshot(tmp_path, next_week, 2, full.info.tracking_uri, needed) is None
    assert reusable_snapshot(tmp_path, next_week, 2, full.info.tracking_uri, report_keys(config))
    with pytest.raises(UsageError, match="build again from MLflow"):
        rerender_report(tmp_path / str(WEEK), other, tmp_path / "again")
