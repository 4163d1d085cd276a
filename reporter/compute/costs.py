"""Compute cost: which hours of which run are charged, at what rate, in which week.

Definitions live in docs/costs.md; in short, a run-week charge is
    hours in that week x hourly rate x instance count, rounded to the cent,
and every total or breakdown is a sum of those cents, so breakdowns reconcile exactly.
"""

from __future__ import annotations

import calendar
from datetime import timedelta

import numpy as np
import pandas as pd

from reporter.compute.runs import tag_values
from reporter.config import FixedCost, RateCard
from reporter.weeks import IsoWeek

MS_PER_HOUR = 3_600_000
# A start time below this (1973-03-03 in ms) is almost surely seconds written as milliseconds.
MIN_PLAUSIBLE_START_MS = 100_000_000_000
WASTE_STATUSES = ("FAILED", "KILLED")
OPEN_STATUSES = ("RUNNING", "SCHEDULED")


def match_rates(
    runs: pd.DataFrame, run_tags: pd.DataFrame, run_params: pd.DataFrame, card: RateCard
) -> pd.DataFrame:
    """Per run: the hourly rate and the rule that gave it (first match wins, then the default).

    Runs no rule matches and with no default rate get rate NaN and `priced` False.
    """
    rate = pd.Series(np.nan, index=runs["run_id"], dtype="float64")
    rule_name = pd.Series(pd.NA, index=runs["run_id"], dtype="string")
    experiments = runs.set_index("run_id")["experiment"]
    for rule in card.rules:
        if rule.experiment is not None:
            hits = experiments == rule.experiment
        else:
            source = run_tags if rule.tag is not None else run_params
            values = tag_values(source, rule.tag or rule.param).reindex(rate.index)
            hits = (values == rule.value).fillna(False).astype(bool)
        new = hits & rate.isna()
        rate[new] = rule.rate
        rule_name[new] = rule.describe()
    if card.default_rate is not None:
        unmatched = rate.isna()
        rate[unmatched] = card.default_rate
        rule_name[unmatched] = "default_rate"
    return pd.DataFrame(
        {
            "run_id": rate.index,
            "rate": rate.to_numpy(),
            "rate_rule": rule_name.to_numpy(),
            "priced": rate.notna().to_numpy(),
        }
    )


def instance_counts(
    runs: pd.DataFrame, run_tags: pd.DataFrame, run_params: pd.DataFrame, key: str | None
) -> pd.Series:
    """The instance multiplier per run: tag `key`, else param `key`, else 1. Non-positive or
    non-numeric values count as 1 (the run is not silently zeroed)."""
    ones = pd.Series(1.0, index=runs["run_id"])
    if key is None:
        return ones
    raw = tag_values(run_tags, key).reindex(ones.index)
    raw = raw.fillna(tag_values(run_params, key).reindex(ones.index))
    count = pd.to_numeric(raw, errors="coerce")
    return count.where(count > 0, 1.0).astype("float64")


def charge_intervals(runs: pd.DataFrame, open_until_ms: int, max_open_hours: float) -> pd.DataFrame:
    """Per run: the [charge_start, charge_end) interval that is charged and why.

    - finished runs: start to end;
    - open runs (RUNNING/SCHEDULED, no end): start to `open_until_ms`, capped at
      `max_open_hours`; `open_capped` marks those cut by the cap;
    - nested runs whose parent is in the data: nothing (the parent's wall time covers them);
    - end before start, a start that looks like seconds, or a finished run without an end:
      nothing, flagged `invalid_time`.
    """
    start = runs["start_time"].astype("Float64")
    end = runs["end_time"].astype("Float64")
    is_open = runs["status"].isin(OPEN_STATUSES) & end.isna()
    cap_end = start + max_open_hours * MS_PER_HOUR
    open_end = np.minimum(float(open_until_ms), cap_end)
    open_capped = is_open & (cap_end < open_until_ms)
    effective_end = end.where(~is_open, open_end)
    invalid = (
        start.isna()
        | (start < MIN_PLAUSIBLE_START_MS)
        | effective_end.isna()
        | (effective_end < start)
    )
    known_runs = set(runs["run_id"])
    is_child = runs["parent_run_id"].isin(known_runs).fillna(False).astype(bool)
    charged = ~invalid & ~is_child
    return pd.DataFrame(
        {
            "run_id": runs["run_id"].to_numpy(),
            "charge_start": start.where(charged).to_numpy(dtype="float64", na_value=np.nan),
            "charge_end": effective_end.where(charged).to_numpy(dtype="float64", na_value=np.nan),
            "is_open": is_open.fillna(False).to_numpy(dtype=bool),
            "open_capped": open_capped.fillna(False).to_numpy(dtype=bool),
            "is_child": is_child.to_numpy(dtype=bool),
            "invalid_time": invalid.fillna(True).to_numpy(dtype=bool),
        }
    )


def cost_lines(
    runs: pd.DataFrame,
    run_tags: pd.DataFrame,
    run_params: pd.DataFrame,
    card: RateCard,
    weeks: list[IsoWeek],
    open_until_ms: int,
) -> pd.DataFrame:
    """One row per run and week it was charged in: hours, rate, instances and cost in cents.

    `runs` is `run_frame(...)`. A run crossing a week boundary gets one row per week, split by
    the time it spent in each; hours outside `weeks` are not charged here.
    """
    intervals = charge_intervals(runs, open_until_ms, card.max_open_run_hours)
    rates = match_rates(runs, run_tags, run_params, card)
    instances = instance_counts(runs, run_tags, run_params, card.instance_count_key)
    starts = intervals["charge_start"].to_numpy()[:, None]
    ends = intervals["charge_end"].to_numpy()[:, None]
    week_starts = np.array([w.start_ms for w in weeks], dtype="float64")[None, :]
    week_ends = np.array([w.end_ms for w in weeks], dtype="float64")[None, :]
    with np.errstate(invalid="ignore"):
        overlap = np.clip(np.minimum(ends, week_ends) - np.maximum(starts, week_starts), 0, None)
    overlap = np.nan_to_num(overlap, nan=0.0)
    run_index, week_index = np.nonzero(overlap > 0)
    hours = overlap[run_index, week_index] / MS_PER_HOUR
    base = runs.iloc[run_index].reset_index(drop=True)
    rate = rates["rate"].to_numpy()[run_index]
    count = instances.to_numpy()[run_index]
    cents = np.round(np.nan_to_num(hours * rate * count * 100.0, nan=0.0)).astype("int64")
    lines = pd.DataFrame(
        {
            "run_id": base["run_id"],
            "run_name": base["run_name"],
            "week": [str(weeks[i]) for i in week_index],
            "week_start_ms": [weeks[i].start_ms for i in week_index],
            "experiment": base["experiment"],
            "team": base["team"],
            "user": base["user"],
            "instance_type": base["instance_type"],
            "estimator": base["estimator"],
            "status": base["status"],
            "hours": hours,
            "instances": count,
            "rate": rate,
            "rate_rule": rates["rate_rule"].to_numpy()[run_index],
            "priced": rates["priced"].to_numpy()[run_index],
            "is_open": intervals["is_open"].to_numpy()[run_index],
            "open_capped": intervals["open_capped"].to_numpy()[run_index],
            "cost_cents": cents,
        }
    )
    lines["is_waste"] = lines["status"].isin(WASTE_STATUSES) | lines["open_capped"]
    return lines


def breakdown(lines: pd.DataFrame, column: str) -> list[tuple[str, int]]:
    """Cost in cents per value of `column`, largest first; missing values are "unattributed".

    The parts sum to `lines.cost_cents.sum()` exactly.
    """
    keys = lines[column].astype("string").fillna("unattributed").replace("", "unattributed")
    sums = lines["cost_cents"].groupby(keys.to_numpy()).sum()
    ordered = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    return [(str(name), int(cents)) for name, cents in ordered]


def prorated_cents(amount: float, period: str, week: IsoWeek) -> int:
    """A fixed amount's share of one week, in cents, prorated by calendar day.

    week: the amount; month: each day of the week gets amount / days in its month;
    year: each day gets amount / days in its year. A week spanning two months takes its
    days from each, so twelve monthly shares add up to the monthly amounts exactly.
    """
    if period == "week":
        return round(amount * 100)
    share = 0.0
    for offset in range(7):
        day = (week.start + timedelta(days=offset)).date()
        if period == "month":
            share += amount / calendar.monthrange(day.year, day.month)[1]
        else:
            share += amount / (366 if calendar.isleap(day.year) else 365)
    return round(share * 100)


def fixed_costs(items: list[FixedCost], week: IsoWeek) -> list[tuple[FixedCost, int]]:
    """Each configured fixed cost with its share of `week` in cents."""
    return [(item, prorated_cents(item.amount, item.period, week)) for item in items]


def linear_trend(values: list[int]) -> tuple[float, float]:
    """Least-squares line through (0, v0), (1, v1)...: (slope per step, value at the next step)."""
    n = len(values)
    if n < 2:
        return 0.0, float(values[0]) if values else 0.0
    x = np.arange(n, dtype="float64")
    slope, intercept = np.polyfit(x, np.asarray(values, dtype="float64"), 1)
    return float(slope), float(intercept + slope * n)


def budget_status(actual_cents: int, budget: float) -> tuple[int, int, float, bool]:
    """(budget in cents, actual in cents, share of the budget used, over budget?)."""
    budget_cents = round(budget * 100)
    return (
        budget_cents,
        actual_cents,
        round(actual_cents / budget_cents, 4),
        actual_cents > budget_cents,
    )
