"""Every figure of a hand-made week, worked out by hand (see seed_small_week)."""

from __future__ import annotations

import pytest

from reporter.compute import compute_results
from reporter.config import parse_config
from reporter.gather import gather
from tests.conftest import RATE_CARD, WEEK, Store

CONFIG = parse_config(RATE_CARD)


@pytest.fixture(scope="module")
def results(small_store: Store):
    # given a hand-made W48 and W47 (seed_small_week)
    # when the week is gathered (small pages) and computed
    snapshot = gather(small_store.uri, WEEK, history_weeks=2, page_size=3)
    return compute_results(snapshot, CONFIG)


def test_run_counts_by_status_and_week(results) -> None:
    # then 9 runs started in W48 (7 top-level + 2 nested children) and 2 in W47
    runs = results.runs
    assert runs.total == 9
    assert runs.by_status.model_dump() == {
        "FINISHED": 6,
        "FAILED": 1,
        "KILLED": 1,
        "RUNNING": 1,
        "SCHEDULED": 0,
    }
    # failure rate = (FAILED + KILLED) / ended = 2 / 8
    assert runs.failure_rate == 0.25
    assert [(w.week, w.total) for w in runs.per_week] == [("2026-W47", 2), ("2026-W48", 9)]
    assert runs.delta_total == 9 - 2


def test_cost_total_and_its_parts(results) -> None:
    cost = results.cost
    # rf_ok 2h x 0.5 = 1.00; rf_failed 1.5h x 0.5 = 0.75; lgbm 4h x 2.0 x 2 nodes = 16.00;
    # killed 1h x 2.0 = 2.00; unpriced 0; open run Sun 20:00 -> window end 4h x 2.0 = 8.00;
    # tuning parent 2h x 2.0 = 4.00 (children covered); crossing run 2h of W48 x 0.5 = 1.00
    assert cost.total == 32.75
    assert cost.currency == "EUR"
    # waste: failed 0.75 + killed 2.00
    assert cost.waste == 2.75
    assert [(a.name, a.cost) for a in cost.by_team] == [
        ("search", 30.0),
        ("risk", 2.75),
        ("unattributed", 0.0),
    ]
    assert [(a.name, a.cost) for a in cost.by_instance_type] == [
        ("g5.2xlarge", 30.0),
        ("m5.xlarge", 2.75),
        ("custom-gpu", 0.0),
    ]
    # W47: crossing run's 2h before midnight 1.00 + last_week 4h x 0.5 = 2.00
    assert [(w.week, w.compute) for w in cost.per_week] == [("2026-W47", 3.0), ("2026-W48", 32.75)]
    assert cost.delta is not None
    assert (cost.delta.absolute, cost.delta.percent) == (29.75, 991.7)


def test_breakdowns_reconcile_with_the_total(results) -> None:
    cost = results.cost
    for parts in (
        cost.by_team,
        cost.by_experiment,
        cost.by_user,
        cost.by_instance_type,
        cost.by_estimator,
    ):
        assert round(sum(a.cost for a in parts), 2) == cost.total


def test_incompleteness_is_counted(results) -> None:
    cost = results.cost
    # charged hours: 2 + 1.5 + 4 + 1 + 3 + 4 + 2 + 2 = 19.5, of which 3 unpriced
    assert (cost.charged_hours, cost.priced_hours) == (19.5, 16.5)
    assert cost.priced_share == round(16.5 / 19.5, 4)
    assert [(r.run_name, r.instance_type, r.hours) for r in cost.unpriced_runs] == [
        ("onprem-train", "custom-gpu", 3.0)
    ]
    assert (cost.open_runs, cost.open_runs_capped, cost.nested_runs_covered_by_parent) == (1, 0, 2)


def test_estimators_and_registry(results) -> None:
    assert [(e.name, e.runs) for e in results.estimators] == [
        ("RandomForestClassifier", 4),
        ("LGBMRanker", 2),
        ("GridSearchCV", 1),
    ]
    assert results.estimators[0].full_name == "sklearn.ensemble._forest.RandomForestClassifier"
    dep = results.deployments
    assert dep.model_versions_created == 1
    assert [(w.week, w.versions_created) for w in dep.per_week] == [
        ("2026-W47", 1),
        ("2026-W48", 1),
    ]
    # alias mode with no earlier alias snapshot: deployments are unknown, not zero
    assert dep.deployments is None and "No earlier alias snapshot" in dep.history_note
    assert (dep.registered_models, dep.aliases) == (1, 1)


def test_window_and_completeness(results) -> None:
    assert results.week == "2026-W48"
    assert (results.window.start, results.window.end) == (
        "2026-11-23T00:00:00Z",
        "2026-11-30T00:00:00Z",
    )
    assert results.window.history_start == "2026-11-16T00:00:00Z"
    c = results.completeness
    # 11 runs overlap the 2-week history (the October run does not), fetched 3 per page
    assert c.runs_in_snapshot == 11
    assert c.run_pages >= 4
    assert c.runs_fetched == 11 and c.duplicate_runs_dropped == 0
