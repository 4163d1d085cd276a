"""The demo store: realistic content, deterministic per anchor week, reused or reseeded."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.entities.model_registry import ModelVersion

from reporter.demo import DEMO_SEED_TAG, ensure_demo_store
from reporter.errors import UsageError
from reporter.weeks import IsoWeek, from_ms

WEEK = IsoWeek(2026, 48)
HISTORY = WEEK.history(12)
PRICED = {
    "m5.xlarge",
    "m5.4xlarge",
    "c5.2xlarge",
    "g4dn.xlarge",
    "g5.2xlarge",
    "p3.2xlarge",
    "a2-highgpu-1g",
    "n1-standard-8",
}
PRIMARY_METRIC = {
    "recommender": "ctr",
    "ranking-ltr": "ndcg_at_10",
    "search-embeddings": "recall_at_10",
    "fraud-detection": "auc",
    "churn-model": "auc",
    "demand-forecast": "mape",
    "price-elasticity": "rmse",
}
PAGE = 100


@dataclass(frozen=True)
class Seeded:
    uri: str
    store_dir: Path
    cwd: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    # given: no store yet, and an empty working directory
    root = tmp_path_factory.mktemp("demo")
    cwd = root / "cwd"
    cwd.mkdir()
    # when: the demo store is seeded for a fixed week from that directory
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        uri = ensure_demo_store(root / "store", WEEK)
    return Seeded(uri, root / "store", cwd)


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> MlflowClient:
    return MlflowClient(tracking_uri=seeded.uri, registry_uri=seeded.uri)


@pytest.fixture(scope="module")
def runs(client: MlflowClient) -> list[Run]:
    return _all_runs(client)


@pytest.fixture(scope="module")
def experiment_names(client: MlflowClient) -> dict[str, str]:
    return {e.experiment_id: e.name for e in client.search_experiments(ViewType.ALL)}


def _all_runs(client: MlflowClient) -> list[Run]:
    experiment_ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            experiment_ids, run_view_type=ViewType.ALL, max_results=PAGE, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _all_versions(client: MlflowClient) -> list[ModelVersion]:
    found: list[ModelVersion] = []
    token = None
    while True:
        page = client.search_model_versions(max_results=PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _in_week(run: Run, week: IsoWeek) -> bool:
    return week.start_ms <= run.info.start_time < week.end_ms


def test_store_is_a_sqlite_file_in_store_dir_and_the_cwd_stays_empty(seeded: Seeded) -> None:
    # then: the URI names the sqlite file, the store holds only it and the artifact folder
    db_path = (seeded.store_dir / "mlflow.db").resolve()
    assert seeded.uri == f"sqlite:///{db_path.as_posix()}"
    assert sorted(p.name for p in seeded.store_dir.iterdir()) == ["artifacts", "mlflow.db"]
    # and: nothing (no mlruns/, no file:/) was written to the working directory
    assert list(seeded.cwd.iterdir()) == []


def test_run_volume_grows_slowly_to_a_busy_last_week(runs: list[Run]) -> None:
    # when: the runs are counted per week
    per_week = [sum(_in_week(run, week) for run in runs) for week in HISTORY]
    # then: a few hundred runs, every week has some, the anchor week is busy
    assert 250 <= len(runs) <= 450
    assert sum(per_week) == len(runs)
    assert min(per_week) >= 10
    assert 30 <= per_week[-1] <= 45
    assert statistics.mean(per_week[:3]) < statistics.mean(per_week[-3:])


def test_statuses_are_mostly_finished_with_exactly_three_running(runs: list[Run]) -> None:
    # when: the runs are grouped by status
    statuses = Counter(run.info.status for run in runs)
    # then: all four statuses occur in realistic proportions
    assert set(statuses) == {"FINISHED", "FAILED", "KILLED", "RUNNING"}
    assert statuses["FINISHED"] / len(runs) >= 0.75
    assert 0.05 <= statuses["FAILED"] / len(runs) <= 0.15
    assert 0.02 <= statuses["KILLED"] / len(runs) <= 0.10
    # and: exactly three runs are still open, all started during the anchor week
    running = [run for run in runs if run.info.status == "RUNNING"]
    assert len(running) == 3
    assert all(run.info.end_time is None and _in_week(run, WEEK) for run in running)
    assert min(run.info.start_time for run in running) <= WEEK.end_ms - 2 * 86_400_000
    # and: every other run has an end after its start
    ended = [run for run in runs if run.info.status != "RUNNING"]
    assert all(run.info.end_time > run.info.start_time for run in ended)


def test_durations_include_long_runs_and_one_week_boundary_crossing(runs: list[Run]) -> None:
    # given: the runs that have ended
    ended = [run for run in runs if run.info.end_time is not None]
    hours = [(run.info.end_time - run.info.start_time) / 3_600_000 for run in ended]
    # then: minutes to hours, with a couple over ten hours
    assert min(hours) < 0.25
    assert statistics.median(hours) < 3
    assert sum(hour > 10 for hour in hours) >= 2
    # and: exactly one run starts in one week and ends in the next (Sunday to Monday)
    crossing = [
        run
        for run in ended
        if IsoWeek.containing(from_ms(run.info.start_time))
        != IsoWeek.containing(from_ms(run.info.end_time))
    ]
    assert len(crossing) == 1
    start, end = from_ms(crossing[0].info.start_time), from_ms(crossing[0].info.end_time)
    assert (start.isoweekday(), end.isoweekday()) == (7, 1)
    assert IsoWeek.containing(end) == WEEK


def test_runs_start_mostly_in_working_hours(runs: list[Run]) -> None:
    # when: the start times are looked at in UTC
    starts = [from_ms(run.info.start_time) for run in runs]
    # then: most start on weekdays between 8:00 and 20:00
    office = [s for s in starts if s.isoweekday() <= 5 and 8 <= s.hour < 20]
    assert len(office) / len(starts) >= 0.8


def test_every_run_carries_user_instance_type_and_a_few_odd_tags(runs: list[Run]) -> None:
    tags = [run.data.tags for run in runs]
    # then: every run has a user among a handful of people and an instance type
    users = Counter(tag["mlflow.user"] for tag in tags)
    assert 5 <= len(users) <= 8
    assert all(run.info.user_id == run.data.tags["mlflow.user"] for run in runs)
    # and: exactly three runs use an instance type no price list knows
    unpriced = [tag["instance_type"] for tag in tags if tag["instance_type"] not in PRICED]
    assert len(unpriced) == 3
    assert "custom-onprem-gpu" in unpriced
    # and: about one run in ten is multi-node
    nodes = [tag["num_nodes"] for tag in tags if "num_nodes" in tag]
    assert set(nodes) <= {"2", "4"}
    assert 0.03 <= len(nodes) / len(runs) <= 0.15
    # and: estimator tags look like sklearn autolog's, and a few runs have none
    with_estimator = [tag for tag in tags if "estimator_class" in tag]
    assert 1 <= len(runs) - len(with_estimator) <= 10
    for tag in with_estimator:
        assert tag["estimator_class"].rsplit(".", 1)[1] == tag["estimator_name"]
        assert tag["estimator_class"].split(".")[0] in {"sklearn", "xgboost", "lightgbm"}


def test_experiments_belong_to_four_teams_and_record_the_anchor_week(
    client: MlflowClient, runs: list[Run]
) -> None:
    # when: the experiments are listed
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    # then: 6-7 experiments, each tagged with one of four teams and the seeded week
    assert 6 <= len(experiments) <= 7
    assert {e.name for e in experiments} == set(PRIMARY_METRIC)
    assert len({e.tags["team"] for e in experiments}) == 4
    assert all(e.tags[DEMO_SEED_TAG] == str(WEEK) for e in experiments)
    # and: each was created before its first run, and keeps artifacts under the store
    for experiment in experiments:
        starts = [
            r.info.start_time for r in runs if r.info.experiment_id == experiment.experiment_id
        ]
        assert experiment.creation_time < min(starts)
    assert all("/artifacts/" in e.artifact_location for e in experiments)


def test_primary_metrics_are_logged_and_slowly_improve(
    client: MlflowClient, runs: list[Run], experiment_names: dict[str, str]
) -> None:
    # then: every run logged its experiment's primary metric
    for run in runs:
        assert PRIMARY_METRIC[experiment_names[run.info.experiment_id]] in run.data.metrics
    # and: the recommender's CTR sits around 4-5% and improves over the weeks
    recommender = [
        run
        for run in runs
        if experiment_names[run.info.experiment_id] == "recommender"
        and run.info.status == "FINISHED"
    ]
    ctr = {
        week: [r.data.metrics["ctr"] for r in recommender if _in_week(r, week)] for week in HISTORY
    }
    assert all(0.035 <= value <= 0.055 for values in ctr.values() for value in values)
    early = statistics.mean(v for week in HISTORY[:3] for v in ctr[week])
    late = statistics.mean(v for week in HISTORY[-3:] for v in ctr[week])
    assert early < late
    # and: fraud detection logs precision at 1% beside AUC
    fraud = [r for r in runs if experiment_names[r.info.experiment_id] == "fraud-detection"]
    assert any("precision_at_1pct" in run.data.metrics for run in fraud)
    # and: metric timestamps fall inside their run (checked on the anchor week's runs)
    for run in (run for run in runs if _in_week(run, WEEK)):
        metric = PRIMARY_METRIC[experiment_names[run.info.experiment_id]]
        end = run.info.end_time or WEEK.end_ms
        for point in client.get_metric_history(run.info.run_id, metric):
            assert run.info.start_time <= point.timestamp <= end


def test_tuning_sweeps_nest_trials_inside_their_parent(runs: list[Run]) -> None:
    by_id = {run.info.run_id: run for run in runs}
    # when: runs are grouped under the parent they name
    children: dict[str, list[Run]] = {}
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags:
            children.setdefault(run.data.tags["mlflow.parentRunId"], []).append(run)
    # then: every week has one or two sweeps, each parent is in the store
    assert len(HISTORY) <= len(children) <= 2 * len(HISTORY)
    assert set(children) <= set(by_id)
    for parent_id, trials in children.items():
        parent = by_id[parent_id]
        assert parent.info.run_name.startswith("tune-")
        assert 3 <= len(trials) <= 6
        assert parent.data.tags["estimator_class"] in {
            "sklearn.model_selection._search.GridSearchCV",
            trials[0].data.tags["estimator_class"],
        }
        # and: trials run within the parent's wall time on the parent's instance type
        for trial in trials:
            assert parent.info.start_time <= trial.info.start_time
            assert trial.info.end_time <= parent.info.end_time
            assert trial.data.tags["instance_type"] == parent.data.tags["instance_type"]
            assert trial.info.experiment_id == parent.info.experiment_id


def test_registry_has_backdated_versions_aliases_and_a_stale_model(
    client: MlflowClient, runs: list[Run], experiment_names: dict[str, str]
) -> None:
    by_id = {run.info.run_id: run for run in runs}
    models = {model.name: model for model in client.search_registered_models()}
    versions = _all_versions(client)
    # then: a few models, each version created within the twelve weeks
    assert 3 <= len(models) <= 4
    assert {version.name for version in versions} == set(models)
    for version in versions:
        assert HISTORY[0].start_ms <= version.creation_timestamp < WEEK.end_ms
        # and: built from a FINISHED run that had started (and ended) before it was created
        source = by_id[version.run_id]
        assert version.source == f"runs:/{version.run_id}/model"
        assert source.info.status == "FINISHED"
        assert source.info.end_time < version.creation_timestamp
    for model in models.values():
        assert model.creation_timestamp < min(
            v.creation_timestamp for v in versions if v.name == model.name
        )
    # and: each model's versions come from a single experiment
    sources = {(v.name, experiment_names[by_id[v.run_id].info.experiment_id]) for v in versions}
    assert len(sources) == len(models)
    # and: every model has a champion, two have a challenger on their newest version
    newest = {name: max(int(v.version) for v in versions if v.name == name) for name in models}
    assert all("champion" in model.aliases for model in models.values())
    challenged = [name for name, model in models.items() if "challenger" in model.aliases]
    assert len(challenged) == 2
    assert all(models[name].aliases["challenger"] == newest[name] for name in challenged)
    # and: one model has had no new version for six weeks or more
    latest = {
        name: max(v.creation_timestamp for v in versions if v.name == name) for name in models
    }
    six_weeks = int(timedelta(weeks=6).total_seconds() * 1000)
    stale = [name for name, created in latest.items() if created < WEEK.end_ms - six_weeks]
    assert len(stale) == 1


def test_a_second_call_for_the_same_week_reuses_the_store(seeded: Seeded) -> None:
    # given: the seeded store
    db_path = seeded.store_dir / "mlflow.db"
    before = db_path.stat().st_mtime_ns
    # when: asked again for the same week
    uri = ensure_demo_store(seeded.store_dir, WEEK)
    # then: the same URI is returned and the database was not rewritten
    assert uri == seeded.uri
    assert db_path.stat().st_mtime_ns == before


def _fingerprint(uri: str) -> tuple[list[tuple], list[tuple]]:
    """Everything but MLflow's run ids: runs by name and times, versions by their source."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    names = {e.experiment_id: e.name for e in client.search_experiments(ViewType.ALL)}
    runs = _all_runs(client)
    key = {run.info.run_id: (run.info.run_name, run.info.start_time) for run in runs}
    run_rows = sorted(
        (
            names[run.info.experiment_id],
            run.info.run_name,
            run.info.start_time,
            run.info.end_time or 0,
            run.info.status,
            sorted(run.data.params.items()),
            sorted(run.data.metrics.items()),
            sorted(
                (k, key[v] if k == "mlflow.parentRunId" else v) for k, v in run.data.tags.items()
            ),
        )
        for run in runs
    )
    version_rows = sorted(
        (v.name, int(v.version), v.creation_timestamp, key[v.run_id], sorted(v.aliases))
        for v in _all_versions(client)
    )
    return run_rows, version_rows


def test_another_week_reseeds_exactly_what_a_fresh_seeding_gives(tmp_path: Path) -> None:
    # given: a store directory holding a broken mlflow.db (one-week stores keep this quick)
    store = tmp_path / "store"
    store.mkdir()
    (store / "mlflow.db").write_bytes(b"not a database")
    # when: seeded, it is replaced by a store for that week
    first, second = IsoWeek(2026, 10), IsoWeek(2026, 20)
    uri = ensure_demo_store(store, first, weeks=1)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert all(_in_week(run, first) for run in _all_runs(client))
    # when: the same directory is asked for another week (in the process that has read it)
    assert ensure_demo_store(store, second, weeks=1) == uri
    # then: the same client now sees only the new week's runs
    reseeded = _all_runs(client)
    assert reseeded
    assert all(_in_week(run, second) for run in reseeded)
    experiment = client.get_experiment_by_name("recommender")
    assert experiment is not None
    assert experiment.tags[DEMO_SEED_TAG] == str(second)
    # and: it holds exactly what a fresh seeding of that week elsewhere holds
    fresh = ensure_demo_store(tmp_path / "fresh", second, weeks=1)
    assert _fingerprint(uri) == _fingerprint(fresh)


def test_refuses_to_replace_a_directory_that_is_not_a_demo_store(tmp_path: Path) -> None:
    # given: a directory with someone's files in it
    (tmp_path / "notes.txt").write_text("keep me")
    # when / then: seeding there is refused and the files survive
    with pytest.raises(UsageError, match=r"notes\.txt"):
        ensure_demo_store(tmp_path, WEEK)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "mlflow.db").exists()


def test_rejects_an_empty_history(tmp_path: Path) -> None:
    # when / then: zero weeks is an error, and nothing is created
    with pytest.raises(ValueError, match="weeks"):
        ensure_demo_store(tmp_path / "store", WEEK, weeks=0)
    assert not (tmp_path / "store").exists()
