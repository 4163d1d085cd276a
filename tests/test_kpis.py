"""Activity, deployments (DORA for models), estimators and declared KPIs on a hand-made store.

Definitions: docs/kpis.md. Every expected number is worked out in the comments.
"""

from __future__ import annotations

import sqlite3

import pytest

from reporter.compute import compute_results
from reporter.compute.deployments import AliasMove, restore_hours
from reporter.config import parse_config
from reporter.gather import gather
from reporter.gather.alias_history import AliasObservation, observe
from tests.conftest import WEEK, Store, at, backdate_version

RF = "sklearn.ensemble._forest.RandomForestClassifier"
CONFIG = {
    "rate_card": {"default_rate": 1.0},
    "estimators": {"metric": "ctr", "metric_direction": "higher"},
    "deployments": {"aliases": ["champion"], "stale_after_weeks": 8},
    "kpis": [
        {
            "name": "CTR (last)",
            "goal": "Increase online sales",
            "metric": "ctr",
            "experiment": "recommender",
            "aggregate": "last",
            "direction": "higher",
            "target": 0.045,
        },
        {
            "name": "CTR (mean)",
            "metric": "ctr",
            "experiment": "recommender",
            "aggregate": "mean",
            "target": 0.045,
        },
        {
            "name": "CTR (min)",
            "metric": "ctr",
            "experiment": "recommender",
            "aggregate": "min",
            "target": 0.045,
        },
        {
            "name": "Latency",
            "metric": "latency_ms",
            "experiment": "recommender",
            "aggregate": "max",
            "direction": "lower",
            "target": 50,
        },
        {
            "name": "Champion CTR",
            "metric": "ctr",
            "experiment": "recommender",
            "aggregate": "champion",
            "model": "recommender",
            "target": 0.045,
        },
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("kpis") / "mlflow.db"
    s = Store(path=path, client=MlflowClient(tracking_uri=f"sqlite:///{path}"))
    s.experiment("recommender", team="recs")
    alice, bob = {"mlflow.user": "alice"}, {"mlflow.user": "bob"}
    r1 = s.run(
        "recommender",
        at(23, 10),
        at(23, 10.5),
        tags={**alice, "estimator_class": RF},
        metrics={"ctr": 0.040},
    )
    s.run(
        "recommender",
        at(24, 10),
        at(24, 11),
        tags={**bob, "estimator_class": RF},
        metrics={"ctr": 0.050, "latency_ms": 42},
    )
    s.run(
        "recommender",
        at(25, 10),
        at(25, 12),
        "FAILED",
        tags={**alice, "estimator_name": "LogisticRegression"},
    )
    r4 = s.run("recommender", at(17, 10), at(17, 10 + 1 / 3), tags=alice, metrics={"ctr": 0.030})
    client = s.client
    client.create_registered_model("recommender")
    client.create_model_version("recommender", source="runs:/x/model", run_id=r4)
    client.create_model_version("recommender", source="runs:/x/model", run_id=r1)
    client.set_registered_model_alias("recommender", "champion", 1)
    backdate_version(s, "recommender", 1, at(18, 10))  # 24 h after r4 started
    backdate_version(s, "recommender", 2, at(23, 22))  # 12 h after r1 started
    client.create_registered_model("old-model")
    client.create_model_version("old-model", source="runs:/x/model", run_id=r4)
    backdate_version(s, "old-model", 1, at(1, 0, month=9))
    client.create_registered_model("empty-model")
    with sqlite3.connect(path) as db:  # the experiment was created in W48
        db.execute(
            "UPDATE experiments SET creation_time = ? WHERE name = 'recommender'", (at(23, 9),)
        )
    return s


@pytest.fixture(scope="module")
def snapshot(store: Store):
    return gather(store.uri, WEEK, history_weeks=2)


@pytest.fixture(scope="module")
def results(snapshot):
    return compute_results(snapshot, parse_config(CONFIG))


def test_activity(results) -> None:
    runs = results.runs
    # W48: r1 (30 min), r2 (60 min), r3 (120 min, FAILED); W47: r4
    assert (runs.total, runs.failure_rate, runs.delta_failure_rate) == (3, 0.3333, 0.3333)
    assert (runs.active_users, runs.delta_active_users) == (2, 1)
    assert (runs.experiments_touched, runs.delta_experiments_touched, runs.new_experiments) == (
        1,
        0,
        1,
    )
    # p50 of (30, 60, 120) = 60; p95 by linear interpolation: rank 1.9 -> 60 + 0.9 x 60 = 114
    [durations] = runs.durations
    assert (durations.experiment, durations.runs, durations.p50_minutes, durations.p95_minutes) == (
        "recommender",
        3,
        60.0,
        114.0,
    )


def test_estimators_with_cost_share_failure_rate_and_best_metric(results) -> None:
    # default rate 1.0/h: r1 0.50 + r2 1.00 (RF) and r3 2.00 (LogisticRegression) = 3.50
    rf, logreg = results.estimators
    assert (rf.name, rf.runs, rf.run_share, rf.cost, rf.cost_share, rf.failure_rate, rf.best) == (
        "RandomForestClassifier",
        2,
        0.6667,
        1.5,
        round(1.5 / 3.5, 4),
        0.0,
        0.05,
    )
    assert (logreg.name, logreg.full_name, logreg.failure_rate, logreg.best) == (
        "LogisticRegression",
        "LogisticRegression",
        1.0,
        None,
    )
    assert results.estimator_metric == "ctr"


def test_declared_kpis_against_targets(results) -> None:
    by_name = {k.name: k for k in results.kpis}
    last = by_name["CTR (last)"]
    # last = the latest-started run that logged ctr in W48 (r2); last week r4's 0.030
    assert (last.value, last.previous, last.history, last.status) == (
        0.05,
        0.03,
        [0.03, 0.05],
        "met",
    )
    assert (
        by_name["CTR (mean)"].value == pytest.approx(0.045)
        and by_name["CTR (mean)"].status == "met"
    )
    assert (by_name["CTR (min)"].value, by_name["CTR (min)"].status) == (0.04, "missed")
    assert (by_name["Latency"].value, by_name["Latency"].status) == (42.0, "met")  # lower is better
    # champion -> version 1 -> r4 -> 0.030 (a KPI of the report week only)
    champion = by_name["Champion CTR"]
    assert (champion.value, champion.history, champion.status) == (0.03, [None, 0.03], "missed")
    assert results.kpis_missed == 2
    kinds = [a.kind for a in results.alerts]
    assert kinds.count("kpi") == 2 and "failure_rate" in kinds


def test_a_kpi_nobody_logged_says_no_data(snapshot) -> None:
    config = parse_config(
        {
            "kpis": [
                {"name": "Recall", "metric": "recall", "experiment": "recommender", "target": 0.9}
            ]
        }
    )
    [kpi] = compute_results(snapshot, config).kpis
    assert (kpi.value, kpi.status) == (None, "no data")


def test_deployments_from_alias_history(snapshot) -> None:
    # given alias snapshots of three builds: v1 -> v2 (promotion in W47) -> v1 (rollback in W48)
    history = [
        AliasObservation("2026-W46", "2026-11-16T06:00:00Z", (("recommender", "champion", 1),)),
        AliasObservation("2026-W47", "2026-11-23T06:00:00Z", (("recommender", "champion", 2),)),
        AliasObservation("2026-W48", "2026-11-30T06:00:00Z", (("recommender", "champion", 1),)),
    ]
    dep = compute_results(snapshot, parse_config(CONFIG), alias_history=history).deployments
    assert [(w.week, w.deployments) for w in dep.per_week] == [("2026-W47", 1), ("2026-W48", 0)]
    assert (dep.deployments, dep.rollbacks) == (0, 1)
    assert [(m.kind, m.from_version, m.to_version) for m in dep.moves] == [("rollback", 2, 1)]
    # 1 promotion over 2 weeks: 1 / 14 a day -> Medium (>= 1 a month, < 1 a week)
    assert (dep.deployments_per_day, dep.tiers.deployment_frequency) == (round(1 / 14, 4), "Medium")
    # 1 rollback / 1 promotion -> 100% -> Low; no newer version took the alias since: no restore time
    assert (dep.change_failure_rate, dep.tiers.change_failure_rate) == (1.0, "Low")
    assert dep.median_time_to_restore_hours is None and dep.tiers.time_to_restore is None
    # lead time: v2 created 12 h after r1 started (W48); v1 24 h after r4 (W47); window median 18 h -> Elite
    assert (dep.median_lead_time_hours, dep.lead_times_known) == (12.0, 1)
    assert dep.tiers.lead_time == "Elite"
    assert dep.tiers.overall == "Low"
    assert "3 alias snapshots" in dep.history_note


def test_first_build_has_no_alias_history_and_says_so(results) -> None:
    dep = results.deployments
    assert dep.deployments is None and dep.rollbacks is None and dep.change_failure_rate is None
    assert "No earlier alias snapshot" in dep.history_note
    assert (dep.model_versions_created, [(w.week, w.versions_created) for w in dep.per_week]) == (
        1,
        [("2026-W47", 1), ("2026-W48", 1)],
    )


def test_version_and_stage_counting(snapshot) -> None:
    versions = compute_results(
        snapshot, parse_config({"deployments": {"count": "version"}})
    ).deployments
    assert (versions.deployments, versions.deployments_per_day) == (1, round(2 / 14, 4))
    staged = compute_results(
        snapshot, parse_config({"deployments": {"count": "stage"}})
    ).deployments
    assert staged.deployments == 0 and staged.watched == ["Production"]


def test_stale_models(results) -> None:
    # old-model's only version: 2026-09-01, i.e. 12 whole weeks before 2026-11-30; empty-model has none
    assert [(m.name, m.weeks_since_last_version) for m in results.deployments.stale_models] == [
        ("empty-model", None),
        ("old-model", 12),
    ]


def test_time_to_restore_is_measured_until_a_newer_version_takes_the_alias() -> None:
    moves = [
        AliasMove("m", "champion", "2026-W46", "2026-11-16T06:00:00Z", 3, 2),  # rollback to v2
        AliasMove("m", "champion", "2026-W47", "2026-11-17T12:00:00Z", 2, 4),  # v4 > v2: restored
    ]
    # restored 30 h after the rollback was seen
    assert restore_hours(moves) == [30.0]


def test_alias_observation_from_a_snapshot(snapshot) -> None:
    assert observe(snapshot).aliases == (("recommender", "champion", 1),)


def test_consecutive_builds_keep_alias_history_and_see_a_promotion(store: Store, tmp_path) -> None:
    import json
    import shutil
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    from reporter.job import save_report
    from reporter.weeks import IsoWeek

    # given a copy of the store and last week's build in the output folder (champion = v1)
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.path, copy)
    uri, out, config = f"sqlite:///{copy}", tmp_path / "reports", parse_config(CONFIG)
    first = gather(
        uri, IsoWeek(2026, 47), history_weeks=2, now=datetime(2026, 11, 23, 6, tzinfo=UTC)
    )
    save_report(first, config, out)
    # when the champion moves to v2 and this week's report is built
    MlflowClient(tracking_uri=uri).set_registered_model_alias("recommender", "champion", 2)
    second = gather(uri, WEEK, history_weeks=2, now=datetime(2026, 11, 30, 6, tzinfo=UTC))
    folder = save_report(second, config, out)
    # then the build continued last week's alias history and counts one deployment
    kpis = json.loads((folder / "kpis.json").read_text())["deployments"]
    assert (kpis["deployments"], [m["kind"] for m in kpis["moves"]]) == (1, ["promotion"])
    # v2 was created Nov 23 22:00 and first seen on the champion alias Nov 30 06:00: 6 d 8 h
    assert kpis["median_promotion_hours"] == 6 * 24 + 8
    saved = json.loads((folder / "aliases.json").read_text())["observations"]
    assert [(o["week"], o["aliases"]) for o in saved] == [
        ("2026-W47", [["recommender", "champion", 1]]),
        ("2026-W48", [["recommender", "champion", 2]]),
    ]


def test_estimator_falls_back_to_a_configured_tag_or_param(store: Store, tmp_path) -> None:
    import shutil

    from mlflow import MlflowClient

    # given runs without sklearn's tags but with a `model_type` param or tag
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.path, copy)
    client = MlflowClient(tracking_uri=f"sqlite:///{copy}")
    experiment = client.get_experiment_by_name("recommender").experiment_id
    for key_kind in ("tag", "param"):
        run = client.create_run(experiment, start_time=at(26, 9))
        if key_kind == "tag":
            client.set_tag(run.info.run_id, "model_type", "torch.nn.Transformer")
        else:
            client.log_param(run.info.run_id, "model_type", "torch.nn.Transformer")
        client.set_terminated(run.info.run_id, end_time=at(26, 10))
    snapshot = gather(f"sqlite:///{copy}", WEEK, history_weeks=2)
    # when the config names that key as the fallback
    config = parse_config({"estimators": {"fallback_key": "model_type"}})
    names = {e.name: e.runs for e in compute_results(snapshot, config).estimators}
    # then both runs count as Transformer, next to the sklearn-tagged ones
    assert names == {"RandomForestClassifier": 2, "Transformer": 2, "LogisticRegression": 1}
