"""Incremental history: reuse last week's snapshot for the older weeks, fetch only this week.

A 12-week trend then costs about one week of reading MLflow. Last week's snapshot S was
gathered after its week ended, so it holds every run that overlapped its window as it was
then. This week's fetch holds every run overlapping this week (started in it, still open,
or ended in it). A run in S that is not in this week's fetch had ended before this week
began: it cannot have changed since, unless someone edited or deleted it afterwards, which
this shortcut does not see (a full fetch, `--full-history`, does).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from reporter.gather.mlflow_source import Keys
from reporter.gather.snapshot import SNAPSHOT_FILE, Snapshot, load_snapshot, make_table
from reporter.weeks import IsoWeek, iso_utc

RUN_TABLES = ("run_tags", "run_params", "run_metrics")


def reusable_snapshot(
    out: Path, week: IsoWeek, history_weeks: int, tracking_uri: str, keys: Keys | None = None
) -> Snapshot | None:
    """Last week's snapshot in `out`, if it can stand in for this week's older history
    (read from the same server, far enough back, and holding the run `keys` needed)."""
    path = out / str(week.shift(-1)) / SNAPSHOT_FILE
    if not path.is_file():
        return None
    previous = load_snapshot(path)
    info = previous.info
    history_start = iso_utc(week.shift(1 - history_weeks).start)
    if (
        info.gathered_at < info.window_end  # gathered before its week was over
        or info.history_start > history_start  # does not reach back far enough
        or info.tracking_uri != tracking_uri
        or not Keys.described(info.kept_keys).covers(keys or Keys())
    ):
        return None
    return previous


def merge_history(previous: Snapshot, this_week: Snapshot, history_weeks: int) -> Snapshot | None:
    """This week's fetch (`history_weeks=1`) plus the runs of `previous` that ended before it;
    None when the two excluded different experiments (then only a full fetch is right).

    Experiments and the registry come from this week's fetch; runs of experiments deleted
    since are dropped.
    """
    if sorted(previous.info.experiments_excluded) != sorted(this_week.info.experiments_excluded):
        return None
    week = IsoWeek.parse(this_week.info.week)
    history_start = week.shift(1 - history_weeks).start_ms
    old_runs = previous.tables["runs"]
    fetched = set(this_week.tables["runs"]["run_id"])
    experiments = set(this_week.tables["experiments"]["experiment_id"])
    end = old_runs["end_time"].fillna(old_runs["start_time"])
    keep = (
        ~old_runs["run_id"].isin(fetched)
        & old_runs["experiment_id"].isin(experiments)
        & (end >= history_start)
        & (old_runs["start_time"] < week.start_ms)
    )
    reused = old_runs[keep.fillna(False).astype(bool)]
    ids = set(reused["run_id"])
    tables = dict(this_week.tables)
    tables["runs"] = _union("runs", this_week.tables["runs"], reused)
    for name in RUN_TABLES:
        old = previous.tables[name]
        tables[name] = _union(name, this_week.tables[name], old[old["run_id"].isin(ids)])
    info = dataclasses.replace(
        this_week.info,
        history_weeks=history_weeks,
        history_start=iso_utc(week.shift(1 - history_weeks).start),
        runs_reused=len(reused),
        reused_from=previous.info.week,
    )
    return Snapshot(info=info, tables=tables)


def _union(name: str, first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    rows = pd.concat([first, second], ignore_index=True).to_dict("records")
    return make_table(name, rows)
