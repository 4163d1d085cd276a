"""Run counts per week and status, and failure rates."""

from __future__ import annotations

import pandas as pd

from reporter.compute.runs import STATUSES
from reporter.weeks import IsoWeek


def week_of_start(runs: pd.DataFrame, weeks: list[IsoWeek]) -> pd.Series:
    """The ISO week label each run started in, or NA when it started outside `weeks`."""
    labels = pd.Series(pd.NA, index=runs.index, dtype="string")
    start = runs["start_time"]
    for week in weeks:
        labels[(start >= week.start_ms) & (start < week.end_ms)] = str(week)
    return labels


def status_counts(runs: pd.DataFrame, weeks: list[IsoWeek]) -> pd.DataFrame:
    """Runs started per week (rows, oldest first) and status (columns, STATUSES order)."""
    labels = week_of_start(runs, weeks)
    counts = pd.crosstab(labels, runs["status"]) if len(runs) else pd.DataFrame()
    return (
        counts.reindex(index=[str(w) for w in weeks], columns=list(STATUSES), fill_value=0)
        .fillna(0)
        .astype("int64")
    )


def failure_rate(counts: pd.Series) -> float | None:
    """(FAILED + KILLED) / (FINISHED + FAILED + KILLED): open runs have no outcome yet."""
    ended = int(counts["FINISHED"] + counts["FAILED"] + counts["KILLED"])
    if ended == 0:
        return None
    return round(int(counts["FAILED"] + counts["KILLED"]) / ended, 4)


def duration_percentiles(week_runs: pd.DataFrame) -> list[tuple[str, int, float, float]]:
    """(experiment, ended runs, p50 minutes, p95 minutes) over runs that ended with valid
    times, linear interpolation between closest ranks; experiments sorted by name."""
    ended = week_runs[
        week_runs["end_time"].notna() & (week_runs["end_time"] >= week_runs["start_time"])
    ]
    minutes = (ended["end_time"] - ended["start_time"]).astype("float64") / 60_000
    rows = []
    for experiment, values in minutes.groupby(ended["experiment"].to_numpy()):
        rows.append(
            (
                str(experiment),
                len(values),
                round(float(values.quantile(0.5)), 1),
                round(float(values.quantile(0.95)), 1),
            )
        )
    return sorted(rows)


def new_experiments(experiments: pd.DataFrame, week: IsoWeek) -> int:
    created = experiments["creation_time"]
    return int(((created >= week.start_ms) & (created < week.end_ms)).sum())
