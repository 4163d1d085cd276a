"""Model registry activity: versions created per week and per model."""

from __future__ import annotations

import pandas as pd

from reporter.weeks import IsoWeek


def versions_per_week(model_versions: pd.DataFrame, weeks: list[IsoWeek]) -> list[tuple[str, int]]:
    created = model_versions["creation_time"]
    return [(str(w), int(((created >= w.start_ms) & (created < w.end_ms)).sum())) for w in weeks]


def versions_by_model(model_versions: pd.DataFrame, week: IsoWeek) -> list[tuple[str, int]]:
    """Versions created in `week` per registered model, most first."""
    created = model_versions["creation_time"]
    in_week = model_versions[(created >= week.start_ms) & (created < week.end_ms)]
    counts = in_week.groupby("name").size()
    return sorted(
        ((str(n), int(c)) for n, c in counts.items()), key=lambda item: (-item[1], item[0])
    )
