"""Model delivery, DORA-style: deployments, lead time, change failures, time to restore.

Definitions and tier thresholds: docs/kpis.md. Alias moves are derived from the chain of
alias observations saved by successive builds (gather.alias_history): MLflow keeps no
history of its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from statistics import median

import pandas as pd

from reporter.gather.alias_history import AliasObservation
from reporter.weeks import IsoWeek

HOUR_MS = 3_600_000
TIERS = ("Elite", "High", "Medium", "Low")


@dataclass(frozen=True)
class AliasMove:
    """An alias seen on a different version than in the previous observation."""

    model: str
    alias: str
    week: str  # the report week of the observation that first saw the move
    observed_at: str
    from_version: int | None
    to_version: int | None

    @property
    def kind(self) -> str:
        if self.to_version is None:
            return "removed"
        if self.from_version is None or self.to_version > self.from_version:
            return "promotion"
        return "rollback"


def ms_of(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def alias_moves(observations: list[AliasObservation], aliases: list[str]) -> list[AliasMove]:
    """Moves of the watched `aliases` between consecutive observations, oldest first."""
    moves = []
    for before, after in itertools.pairwise(observations):
        old = {(m, a): v for m, a, v in before.aliases if a in aliases}
        new = {(m, a): v for m, a, v in after.aliases if a in aliases}
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                moves.append(
                    AliasMove(
                        key[0], key[1], after.week, after.observed_at, old.get(key), new.get(key)
                    )
                )
    return moves


def restore_hours(moves: list[AliasMove]) -> list[float]:
    """For each rollback: hours until a version newer than the rolled-back-to one took the alias."""
    hours = []
    for i, move in enumerate(moves):
        if move.kind != "rollback":
            continue
        later = (
            m
            for m in moves[i + 1 :]
            if (m.model, m.alias) == (move.model, move.alias)
            and m.to_version is not None
            and m.to_version > (move.to_version or 0)
        )
        restored = next(later, None)
        if restored is not None:
            hours.append((ms_of(restored.observed_at) - ms_of(move.observed_at)) / HOUR_MS)
    return hours


def versions_in(
    model_versions: pd.DataFrame, week: IsoWeek, column: str = "creation_time"
) -> pd.DataFrame:
    stamp = model_versions[column]
    return model_versions[(stamp >= week.start_ms) & (stamp < week.end_ms)]


def stage_deployments(model_versions: pd.DataFrame, week: IsoWeek, stage: str) -> pd.DataFrame:
    """Versions in `stage` whose last update (the stage transition, in registries that use
    stages) falls in `week`."""
    in_stage = model_versions[model_versions["current_stage"] == stage]
    return versions_in(in_stage, week, "last_updated_time")


def lead_time_hours(versions: pd.DataFrame, runs: pd.DataFrame) -> list[float]:
    """Version created minus its source run's start, for versions whose run is in the data."""
    # Filter the runs by the few version run ids, not the versions by every run id: `isin`
    # over a million arrow strings builds a Python list of them (minutes at 1M runs).
    source_runs = runs[runs["run_id"].isin(versions["run_id"].dropna().unique())]
    starts = source_runs.set_index("run_id")["start_time"]
    known = versions[versions["run_id"].isin(starts.index)]
    started = known["run_id"].map(starts).astype("Float64")
    return [float(h) for h in (known["creation_time"].astype("Float64") - started) / HOUR_MS]


def stale_models(
    registered: pd.DataFrame, model_versions: pd.DataFrame, week: IsoWeek, weeks: int
) -> list[tuple[str, int | None]]:
    """Models with no version created in the `weeks` weeks up to the end of `week`, with the
    age in whole weeks of their newest version (None: no version at all)."""
    newest = model_versions.groupby("name")["creation_time"].max()
    cutoff = week.shift(1 - weeks).start_ms
    stale = []
    for name in sorted(registered["name"]):
        created = newest.get(name)
        if created is None or pd.isna(created):
            stale.append((str(name), None))
        elif created < cutoff:
            stale.append((str(name), int((week.end_ms - int(created)) // (7 * 24 * HOUR_MS))))
    return stale


def median_or_none(values: list[float]) -> float | None:
    return round(median(values), 2) if values else None


def frequency_tier(per_day: float | None) -> str | None:
    """On demand (>= 1 a day) / >= 1 a week / >= 1 a month (30 days) / less."""
    if per_day is None:
        return None
    return (
        TIERS[0]
        if per_day >= 1
        else TIERS[1]
        if per_day >= 1 / 7
        else TIERS[2]
        if per_day >= 1 / 30
        else TIERS[3]
    )


def lead_time_tier(hours: float | None) -> str | None:
    """< 1 day / < 1 week / < 1 month (30 days) / longer."""
    if hours is None:
        return None
    return (
        TIERS[0]
        if hours < 24
        else TIERS[1]
        if hours < 168
        else TIERS[2]
        if hours < 720
        else TIERS[3]
    )


def failure_rate_tier(rate: float | None) -> str | None:
    """<= 5% / <= 10% / <= 15% / more."""
    if rate is None:
        return None
    return (
        TIERS[0]
        if rate <= 0.05
        else TIERS[1]
        if rate <= 0.10
        else TIERS[2]
        if rate <= 0.15
        else TIERS[3]
    )


def restore_tier(hours: float | None) -> str | None:
    """< 1 hour / < 1 day / < 1 week / longer."""
    if hours is None:
        return None
    return (
        TIERS[0] if hours < 1 else TIERS[1] if hours < 24 else TIERS[2] if hours < 168 else TIERS[3]
    )


def overall_tier(tiers: list[str | None]) -> str | None:
    """The lowest tier among the metrics that have data."""
    known = [TIERS.index(t) for t in tiers if t is not None]
    return TIERS[max(known)] if known else None
