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
