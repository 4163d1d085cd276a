"""The cost model rule by rule, with the arithmetic written out (definitions: docs/costs.md)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporter.compute import compute_results, costs
from reporter.compute.runs import UNATTRIBUTED
from reporter.config import parse_config
from reporter.gather import gather
from reporter.weeks import IsoWeek
from tests.conftest import WEEK, Store, at

G5 = {"instance_type": "g5.2xlarge"}


def config(**extra):
    base = {
        "rate_card": {
            "currency": "USD",
            "rules": [
                {"tag": "instance_type", "value": "g5.2xlarge", "rate": 2.0},
                {"param": "device", "value": "cpu", "rate": 0.25},
                {"experiment": "batch", "rate": 1.5},
            ],
            "max_open_run_hours": 10,
        }
    }
    base.update(extra)
    return parse_config(base)


def results_for(store: Store, cfg, history_weeks: int = 2):
    return compute_results(gather(store.uri, WEEK, history_weeks=history_weeks), cfg)


def test_open_run_is_charged_to_the_cap_and_counted_as_waste(store: Store) -> None:
    # given a run started Friday 08:00 and still running, with a 10 h cap
    store.run("exp", at(27, 8), None, "RUNNING", tags=G5)
    cost = results_for(store, config()).cost
    # then it is charged 10 h x 2.0 = 20.00, flagged capped, and all of it is waste
    assert (cost.compute, cost.charged_hours) == (20.0, 10.0)
    assert (cost.open_runs, cost.open_runs_capped) == (1, 1)
    assert cost.waste == 20.0 and cost.waste_share == 1.0


def test_invalid_times_are_charged_zero_never_negative(store: Store) -> None:
    # given an end before its start, and a start written in seconds
    store.run("exp", at(24, 12), at(24, 10), tags=G5)
    store.run("exp", at(24, 9), at(24, 10), tags=G5)  # valid: 1 h x 2.0 = 2.00
    seconds_start = at(24, 9) // 1000
    store.run("exp", seconds_start, at(24, 10), tags=G5)  # started "in 1970": not in the window
    cost = results_for(store, config()).cost
    assert cost.compute == 2.0
    assert cost.runs_with_invalid_times == 1  # the one that started in the week
    assert all(w.compute >= 0 for w in cost.per_week)


def test_rules_match_tags_then_params_then_experiment_first_match_wins(store: Store) -> None:
    # 2 h on g5 with param device=cpu: the tag rule comes first -> 2 x 2.0 = 4.00
    store.run("batch", at(24, 8), at(24, 10), tags=G5, params={"device": "cpu"})
    # 4 h with device=cpu in experiment batch: param rule -> 4 x 0.25 = 1.00
    store.run("batch", at(24, 8), at(24, 12), params={"device": "cpu"})
    # 1 h in experiment batch, nothing else: 1 x 1.5 = 1.50
    store.run("batch", at(25, 8), at(25, 9))
    # 3 h elsewhere with no match and no default: unpriced
    store.run("other", at(25, 8), at(25, 11))
    cost = results_for(store, config()).cost
    assert cost.compute == 4.0 + 1.0 + 1.5
    assert [(r.experiment, r.hours) for r in cost.unpriced_runs] == [("other", 3.0)]
    assert cost.priced_share == round((2 + 4 + 1) / (2 + 4 + 1 + 3), 4)
    # with a default rate of 0.1 the same run costs 3 x 0.1 = 0.30
    with_default = config(rate_card={**config().rate_card.model_dump(), "default_rate": 0.1})
    assert results_for(store, with_default).cost.compute == 4.0 + 1.0 + 1.5 + 0.3


def test_instance_count_multiplies_and_bad_counts_count_as_one(store: Store) -> None:
    store.run("exp", at(24, 8), at(24, 9), tags={**G5, "num_nodes": "4"})  # 1 x 2.0 x 4 = 8.00
    store.run("exp", at(24, 8), at(24, 9), tags=G5, params={"num_nodes": "3"})  # 6.00
    store.run("exp", at(24, 8), at(24, 9), tags={**G5, "num_nodes": "many"})  # 2.00
    store.run("exp", at(24, 8), at(24, 9), tags={**G5, "num_nodes": "-2"})  # 2.00
    assert results_for(store, config()).cost.compute == 18.0


def test_fixed_costs_budgets_and_forecast(store: Store) -> None:
    # given 10 h x 2.0 = 20.00 of compute in W48 and 5 h = 10.00 in W47
    store.experiment("exp", team="search")
    store.run("exp", at(24, 8), at(24, 18), tags=G5)
    store.run("exp", at(17, 8), at(17, 13), tags=G5)
    cfg = config(
        fixed_costs=[
            # W48 = Nov 23..29, all in November (30 days): 7 x 3000 / 30 = 700.00
            {"name": "ML engineers", "category": "personnel", "amount": 3000.0, "period": "month"},
            # 2026 has 365 days: 7 x 3650 / 365 = 70.00
            {"name": "Feature store", "category": "software", "amount": 3650.0, "period": "year"},
            {"name": "Labelling", "category": "data", "amount": 5.0, "period": "week"},
        ],
        budgets={"compute_weekly": 15.0, "teams": {"search": 25.0, "fraud": 10.0}},
    )
    cost = results_for(store, cfg).cost
    assert (cost.compute, cost.fixed, cost.total) == (20.0, 775.0, 795.0)
    assert [(a.name, a.cost) for a in cost.by_category] == [
        ("personnel", 700.0),
        ("software", 70.0),
        ("infrastructure", 20.0),
        ("data", 5.0),
    ]
    assert round(sum(a.cost for a in cost.by_category), 2) == cost.total
    # last week: 10.00 compute + the same 775.00 fixed (W47 is also all November)
    assert (cost.delta.absolute, cost.delta.percent) == (10.0, round(10 / 785 * 100, 1))
    budgets = [(b.team, b.actual, b.used_share, b.over) for b in cost.budgets]
    assert budgets == [
        (None, 20.0, round(20 / 15, 4), True),
        ("fraud", 0.0, 0.0, False),
        ("search", 20.0, 0.8, False),
    ]
    assert cost.over_budget
    # trend through (0, 10.00) and (1, 20.00): +10.00 a week, so W49 compute = 30.00;
    # W49 = Nov 30 (1/30 of 3000) + Dec 1..6 (6/31 of 3000) = 100.00 + 580.645.. = 680.65 fixed + 70 + 5
    fc = cost.forecast
    assert (fc.week, fc.compute, fc.trend_per_week) == ("2026-W49", 30.0, 10.0)
    assert fc.fixed == round(3000 / 30 + 6 * 3000 / 31, 2) + 70.0 + 5.0
    assert "least-squares" in fc.method


@pytest.mark.parametrize(
    ("period", "week", "cents"),
    [
        ("week", "2026-W48", 123_456),
        ("month", "2026-W48", round(7 * 1234.56 / 30 * 100)),
        # 2026-W05 = Jan 26..Feb 1: 6 days of January (31) + 1 of February (28)
        ("month", "2026-W05", round((6 * 1234.56 / 31 + 1234.56 / 28) * 100)),
        # 2024 is a leap year
        ("year", "2024-W10", round(7 * 1234.56 / 366 * 100)),
    ],
)
def test_fixed_amounts_are_prorated_by_calendar_day(period: str, week: str, cents: int) -> None:
    assert costs.prorated_cents(1234.56, period, IsoWeek.parse(week)) == cents


def test_monthly_amount_over_a_year_of_weeks_sums_to_twelve_months() -> None:
    weeks = IsoWeek.parse("2025-W02").history(52)  # Jan 6 2025 .. Jan 4 2026 = 364 days
    total = sum(costs.prorated_cents(1000.0, "month", w) for w in weeks)
    assert abs(total - 1_200_000) < 1000 * 100 * 2 / 28  # short of a year by at most ~2 days


run_strategy = st.fixed_dictionaries(
    {
        "start_h": st.floats(min_value=-200, max_value=400, allow_nan=False),
        "length_h": st.one_of(st.none(), st.floats(min_value=-5, max_value=300, allow_nan=False)),
        "status": st.sampled_from(["FINISHED", "FAILED", "KILLED", "RUNNING"]),
        "team": st.sampled_from(["a", "b", None]),
        "instance": st.sampled_from(["g5.2xlarge", "unknown", None]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(run_strategy, min_size=0, max_size=25))
def test_breakdowns_sum_to_the_total_and_proration_conserves_hours(specs) -> None:
    weeks = WEEK.history(3)
    origin = weeks[0].start_ms
    rows = []
    for i, spec in enumerate(specs):
        start = origin + int(spec["start_h"] * 3_600_000)
        end = None if spec["length_h"] is None else start + int(spec["length_h"] * 3_600_000)
        rows.append(
            {
                "run_id": f"r{i}",
                "run_name": f"run {i}",
                "experiment_id": "1",
                "experiment": "e",
                "user": "u",
                "status": spec["status"]
                if end is None
                else ("FINISHED" if spec["status"] == "RUNNING" else spec["status"]),
                "start_time": start,
                "end_time": end,
                "team": spec["team"] or UNATTRIBUTED,
                "instance_type": spec["instance"],
                "estimator": None,
                "parent_run_id": None,
            }
        )
    runs = pd.DataFrame(
        rows,
        columns=[
            "run_id",
            "run_name",
            "experiment_id",
            "experiment",
            "user",
            "status",
            "start_time",
            "end_time",
            "team",
            "instance_type",
            "estimator",
            "parent_run_id",
        ],
    )
    runs["start_time"] = runs["start_time"].astype("Int64")
    runs["end_time"] = runs["end_time"].astype("Int64")
    tags = pd.DataFrame(
        [
            {"run_id": r["run_id"], "key": "instance_type", "value": r["instance_type"]}
            for r in rows
            if r["instance_type"]
        ],
        columns=["run_id", "key", "value"],
    )
    params = pd.DataFrame(columns=["run_id", "key", "value"])
    card = config().rate_card
    lines = costs.cost_lines(runs, tags, params, card, weeks, open_until_ms=weeks[-1].end_ms)
    assert (lines["cost_cents"] >= 0).all() and (lines["hours"] > 0).all()
    for week in weeks:
        part = lines[lines["week"] == str(week)]
        total = int(part["cost_cents"].sum())
        for column in ("team", "instance_type", "experiment", "user", "estimator"):
            assert sum(c for _, c in costs.breakdown(part, column)) == total
    # proration conserves hours: each run's hours over all weeks = its charged time in the window
    intervals = costs.charge_intervals(runs, weeks[-1].end_ms, card.max_open_run_hours)
    window = (weeks[0].start_ms, weeks[-1].end_ms)
    for row in intervals.itertuples():
        expected = 0.0
        if row.charge_start == row.charge_start:  # not NaN
            expected = (
                max(0.0, min(row.charge_end, window[1]) - max(row.charge_start, window[0]))
                / 3_600_000
            )
        got = float(lines.loc[lines["run_id"] == row.run_id, "hours"].sum())
        assert got == pytest.approx(expected, abs=1e-9)
