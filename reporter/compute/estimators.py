"""Which model classes the week's runs trained, from sklearn autolog's estimator tags."""

from __future__ import annotations

import pandas as pd

from reporter.compute.runs import short_estimator


def top_estimators(week_runs: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(short name, full class, runs) per estimator, most runs first; untagged runs are left out."""
    counts = week_runs["estimator"].dropna().value_counts()
    rows = [(short_estimator(str(full)), str(full), int(n)) for full, n in counts.items()]
    return sorted(rows, key=lambda row: (-row[2], row[1]))
