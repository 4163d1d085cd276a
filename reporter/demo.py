"""A reproducible demo MLflow store: four teams' worth of runs, tuning sweeps and registered models.

`ensure_demo_store` seeds a local sqlite tracking store with `weeks` ISO weeks of history ending
with an anchor week. The content is planned with `random.Random(42)` and placed relative to the
anchor week only, so one anchor week always gives the same experiments, run names, start and end
times, statuses, users, tags, params, metrics, model versions and aliases (run ids are MLflow's
own uuids and differ between seedings). It is meant to exercise the report: a slowly growing run
volume, GPU and CPU instance types, multi-node runs, a few runs on instance types no price list
knows, runs without an estimator tag, failed and killed runs, three runs still RUNNING, a run
that crosses a week boundary, nested hyper-parameter tuning runs, and a model registry with
`champion`/`challenger` aliases and one stale model.

Everything is written through MLflow's own `MlflowClient`, with one documented shortcut: MLflow
stamps experiments, registered models and model versions with the wall-clock time of the call
and the client cannot backdate them. After the client has written everything, the sqlite file is
opened with the standard `sqlite3` module and these columns are set to the planned past
moments: `experiments.creation_time` / `last_update_time`, `registered_models.creation_time` /
`last_updated_time` and `model_versions.creation_time` / `last_updated_time`. The same step
points the `Default` experiment, which MLflow creates with an artifact location under the
current working directory, at the store's own artifact folder. Runs, params, metrics, tags and
aliases are not touched there: the client writes runs and metrics with their historic timestamps.
(While seeding, the file is also switched to sqlite's write-ahead log, which roughly doubles the
client's write rate, and back to the default journal at the end.)
"""

from __future__ import annotations

import math
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from reporter.errors import UsageError
from reporter.gather.alias_history import AliasObservation
from reporter.gather.snapshot import Snapshot
from reporter.weeks import IsoWeek, iso_utc, to_ms

DEMO_SEED_TAG = "reporter.demo.anchor_week"
"""Experiment tag naming the anchor week a demo store was seeded for; written last, so it also
marks the seeding as complete."""

_DB_NAME = "mlflow.db"
_ARTIFACTS = "artifacts"
_SEED = 42

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"

# Full class paths, as `mlflow.sklearn.autolog` writes them into the `estimator_class` tag.
_RF_REG = "sklearn.ensemble._forest.RandomForestRegressor"
_RF_CLF = "sklearn.ensemble._forest.RandomForestClassifier"
_GB_CLF = "sklearn.ensemble._gb.GradientBoostingClassifier"
_LOGREG = "sklearn.linear_model._logistic.LogisticRegression"
_RIDGE = "sklearn.linear_model._ridge.Ridge"
_HGB_REG = (
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor"
)
_KNN = "sklearn.neighbors._classification.KNeighborsClassifier"
_XGB_CLF = "xgboost.sklearn.XGBClassifier"
_LGBM_REG = "lightgbm.sklearn.LGBMRegressor"
_LGBM_CLF = "lightgbm.sklearn.LGBMClassifier"
_LGBM_RANK = "lightgbm.sklearn.LGBMRanker"
_GRID_SEARCH = "sklearn.model_selection._search.GridSearchCV"

_ALIASES = {
    "RandomForestRegressor": "rf",
    "RandomForestClassifier": "rf",
    "GradientBoostingClassifier": "gbc",
    "LogisticRegression": "logreg",
    "Ridge": "ridge",
    "HistGradientBoostingRegressor": "hgb",
    "KNeighborsClassifier": "knn",
    "XGBClassifier": "xgb",
    "LGBMRegressor": "lgbm",
    "LGBMClassifier": "lgbm",
    "LGBMRanker": "lambdamart",
}

_VARIANTS = (
    "baseline",
    "feat-v2",
    "feat-v3",
    "more-data",
    "lr-sweep",
    "ablation",
    "retrain",
    "weekly-retrain",
    "holdout-check",
    "calibrated",
)

_TEAMS = ("search", "recommendations", "fraud", "forecasting")

# (user, home team): each person mostly runs their own team's experiments.
_USERS = (
    ("alice.nguyen", "search"),
    ("bram.devries", "search"),
    ("chen.li", "recommendations"),
    ("farah.haddad", "recommendations"),
    ("dana.okafor", "fraud"),
    ("emil.svensson", "forecasting"),
)


@dataclass(frozen=True)
class _Metric:
    name: str
    first: float  # typical value at the start of the history
    last: float  # typical value at its end: runs slowly improve
    noise: float

    @property
    def higher_is_better(self) -> bool:
        return self.last > self.first


@dataclass(frozen=True)
class _Experiment:
    name: str
    team: str
    share: float  # of the ordinary runs
    instance_types: tuple[str, ...]  # repeated entries weigh more
    estimators: tuple[str, ...]
    minutes: tuple[float, float]  # planned duration range of an ordinary run
    metric: _Metric  # the primary metric, logged by every run
    extra: tuple[_Metric, ...] = ()  # logged by runs that finish
    epochs: bool = False  # logs its primary metric once per epoch
    multi_node: float = 0.0  # chance of a `num_nodes` tag
    tunable: bool = True


_EXPERIMENTS = (
    _Experiment(
        "recommender", "recommendations", 0.20,
        ("g4dn.xlarge", "g4dn.xlarge", "g5.2xlarge"), (_XGB_CLF, _LGBM_CLF), (30, 240),
        _Metric("ctr", 0.0405, 0.0482, 0.0012),
        (_Metric("auc", 0.741, 0.779, 0.006), _Metric("ndcg_at_10", 0.312, 0.347, 0.008)),
        epochs=True, multi_node=0.12,
    ),
    _Experiment(
        "ranking-ltr", "search", 0.14,
        ("g4dn.xlarge", "g5.2xlarge"), (_LGBM_RANK, _HGB_REG), (20, 180),
        _Metric("ndcg_at_10", 0.612, 0.668, 0.008), (_Metric("mrr", 0.544, 0.592, 0.01),),
        epochs=True, multi_node=0.08,
    ),
    _Experiment(
        "search-embeddings", "search", 0.12,
        ("g5.2xlarge", "p3.2xlarge", "a2-highgpu-1g"), (_LOGREG, _KNN), (45, 300),
        _Metric("recall_at_10", 0.712, 0.781, 0.009), (_Metric("mrr", 0.488, 0.541, 0.01),),
        epochs=True, multi_node=0.3, tunable=False,
    ),
    _Experiment(
        "fraud-detection", "fraud", 0.17,
        ("c5.2xlarge", "c5.2xlarge", "m5.4xlarge"), (_GB_CLF, _XGB_CLF, _LOGREG), (8, 90),
        _Metric("auc", 0.915, 0.941, 0.004), (_Metric("precision_at_1pct", 0.62, 0.70, 0.015),),
        multi_node=0.05,
    ),
    _Experiment(
        "churn-model", "recommendations", 0.10,
        ("m5.xlarge", "c5.2xlarge"), (_LOGREG, _RF_CLF, _GB_CLF), (3, 40),
        _Metric("auc", 0.781, 0.823, 0.006), (_Metric("log_loss", 0.472, 0.431, 0.008),),
    ),
    _Experiment(
        "demand-forecast", "forecasting", 0.17,
        ("m5.4xlarge", "n1-standard-8", "m5.xlarge"), (_LGBM_REG, _RF_REG, _HGB_REG), (10, 120),
        _Metric("mape", 0.142, 0.118, 0.004), (_Metric("rmse", 38.5, 33.1, 1.1),),
        multi_node=0.06,
    ),
    _Experiment(
        "price-elasticity", "forecasting", 0.10,
        ("m5.xlarge", "n1-standard-8"), (_RIDGE, _RF_REG), (2, 30),
        _Metric("rmse", 0.312, 0.274, 0.007), (_Metric("r2", 0.61, 0.68, 0.015),),
    ),
)  # fmt: skip
_BY_NAME = {experiment.name: experiment for experiment in _EXPERIMENTS}


@dataclass(frozen=True)
class _Model:
    name: str
    experiment: str
    every: tuple[int, int]  # weeks between versions
    champion_back: int  # champion sits on the newest version minus this
    challenger: bool  # challenger on the newest version
    stale: bool = False  # no new version in the last 6+ weeks


_MODELS = (
    _Model("recommender", "recommender", (1, 2), champion_back=1, challenger=True),
    _Model("fraud-detector", "fraud-detection", (2, 3), champion_back=1, challenger=True),
    _Model("demand-forecaster", "demand-forecast", (2, 3), champion_back=1, challenger=False),
    _Model("search-ranker", "ranking-ltr", (2, 2), champion_back=0, challenger=False, stale=True),
)

# A model counts as stale here when its newest version is at least this many weeks older than
# the anchor week.
_STALE_WEEKS = 7

_UNPRICED = ("custom-onprem-gpu", "custom-onprem-gpu", "m7i.8xlarge")


@dataclass
class _Run:
    experiment: str
    run_name: str
    user: str
    start: int
    end: int | None  # None while RUNNING
    status: str
    tags: dict[str, str]  # given to create_run
    batch_tags: dict[str, str]  # logged with log_batch, as autologging does
    params: dict[str, str]
    metrics: list[tuple[str, float, int, int]]  # (key, value, timestamp, step)
    primary: float  # final value of the primary metric
    children: list[_Run] = field(default_factory=list)
    run_id: str = ""


@dataclass
class _Version:
    model: _Model
    run: _Run
    created: int


def ensure_demo_store(store_dir: Path, last_week: IsoWeek, weeks: int = 12) -> str:
    """Create (or reuse) a sqlite MLflow store at store_dir/mlflow.db seeded with `weeks` weeks
    of history ending with `last_week`; return its tracking URI 'sqlite:///<abs path>'.

    A store already seeded for `last_week` is reused without being written to (whatever its
    number of weeks). Otherwise `store_dir` (a store for another week, an interrupted seeding)
    is deleted and seeded from scratch; artifacts, should anything ever log one, go to
    store_dir/artifacts. A `store_dir` holding anything besides mlflow.db (and its sqlite side
    files) and artifacts/ is not deleted: that raises UsageError instead.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    store_dir = Path(store_dir).resolve()
    db_path = store_dir / _DB_NAME
    uri = f"sqlite:///{db_path.as_posix()}"
    if _seeded_for(db_path) == str(last_week):
        return uri

    if store_dir.exists():
        _check_replaceable(store_dir)
        _forget_cached_engines(db_path)
        shutil.rmtree(store_dir)
    (store_dir / _ARTIFACTS).mkdir(parents=True)

    rng = random.Random(_SEED)
    history = last_week.history(weeks)
    runs = _plan_runs(rng, history)
    versions = _plan_versions(rng, history, runs)
    # Write-ahead logging roughly doubles the client's write rate (far fewer fsyncs); the file
    # goes back to the default rollback journal once MLflow's connections are closed, so the
    # finished store is a single self-contained file.
    _set_journal_mode(db_path, "WAL")
    with _quiet_mlflow_setup():
        _write(uri, store_dir / _ARTIFACTS, runs, versions, rng, last_week)
    _forget_cached_engines(db_path)
    _set_journal_mode(db_path, "DELETE")
    return uri


def _check_replaceable(store_dir: Path) -> None:
    """Refuse to delete a directory holding anything a demo store does not (a mistyped path)."""
    if not store_dir.is_dir():
        raise UsageError(f"demo store {store_dir} exists and is not a directory")
    own = {_DB_NAME, f"{_DB_NAME}-journal", f"{_DB_NAME}-wal", f"{_DB_NAME}-shm", _ARTIFACTS}
    foreign = sorted(path.name for path in store_dir.iterdir() if path.name not in own)
    if foreign:
        raise UsageError(
            f"refusing to replace {store_dir} with a demo store: it holds "
            f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, "
            "which a demo store does not"
        )


def _seeded_for(db_path: Path) -> str | None:
    """The anchor week recorded in an existing store, read without MLflow and without writing."""
    if not db_path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT value FROM experiment_tags WHERE key = ? LIMIT 1", (DEMO_SEED_TAG,)
            ).fetchone()
    except sqlite3.Error:  # not a database, or not an MLflow one
        return None
    return row[0] if row else None


def _forget_cached_engines(db_path: Path) -> None:
    """Make MLflow close and forget its connections to `db_path`.

    MLflow caches one store per URI (an lru_cache in its store registries) and one SQLAlchemy
    engine per database URI (a class-level map), and the engine pools open sqlite connections.
    Once the file is deleted those connections still point at the unlinked file: writing fails
    with "attempt to write a readonly database" and reading returns the old content. So this
    runs before a store this process has opened is deleted (the tests reseed one), and after
    seeding, because leaving write-ahead logging needs the only connection to the file. The next
    client simply opens the file again.
    """
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistrySql
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingSql
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    for store_cls in (TrackingSql, RegistrySql):
        engines = store_cls._engine_map
        for db_uri, engine in list(engines.items()):
            database = engine.url.database
            if (
                engine.url.get_backend_name() == "sqlite"
                and database
                and database != ":memory:"
                and Path(database).resolve() == db_path
            ):
                engines.pop(db_uri, None)
                engine.dispose()
    TrackingStoreRegistry._get_store_with_resolved_uri.cache_clear()
    ModelRegistryStoreRegistry._get_store_with_resolved_uri.cache_clear()


def _set_journal_mode(db_path: Path, mode: str) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        (actual,) = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()
    if actual.upper() != mode:
        raise RuntimeError(f"could not switch {db_path.name} to journal mode {mode}: {actual}")


@contextmanager
def _quiet_mlflow_setup() -> Iterator[None]:
    """Hide the INFO lines MLflow and alembic log while creating the database tables."""
    import logging

    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# --- planning: pure, deterministic --------------------------------------------------------------


def _plan_runs(rng: random.Random, history: list[IsoWeek]) -> list[_Run]:
    """Every run of the store, parents holding their children, sorted by start time."""
    weeks = len(history)
    span = (history[0].start_ms, history[-1].end_ms)
    runs: list[_Run] = []
    ordinary = list(_EXPERIMENTS)
    shares = [e.share for e in ordinary]
    tunable = [e for e in _EXPERIMENTS if e.tunable]
    for index, week in enumerate(history):
        back = weeks - 1 - index  # 0 for the anchor week
        count = max(4, round(24 - 1.0 * back + rng.gauss(0, 2)))
        for _ in range(count):
            experiment = rng.choices(ordinary, weights=shares)[0]
            start = _working_moment(rng, week)
            planned = _log_uniform(rng, *experiment.minutes) * _MINUTE
            status = _ordinary_status(rng)
            runs.append(
                _make_run(rng, experiment, span, start, planned, status, clip_to=week.end_ms)
            )
        for _ in range(1 + (rng.random() < 0.5)):
            experiment = rng.choices(tunable, weights=[e.share for e in tunable])[0]
            runs.append(_make_sweep(rng, experiment, span, week))
    runs.extend(_special_runs(rng, history, span))
    runs.sort(key=lambda run: run.start)
    return runs


# The runs placed on purpose: (experiment, weeks before the anchor week, day, hour, minute,
# minutes of work, status, run name, instance type or None to draw one, num_nodes or None).
_SPECIALS = (
    # Still RUNNING after the anchor week; the first one has been open for over two days.
    ("search-embeddings", 0, 4, 17, 45, 70 * 60, RUNNING, "contrastive-finetune", None, "2"),
    ("recommender", 0, 6, 19, 40, 9 * 60, RUNNING, "full-retrain", None, None),
    ("demand-forecast", 0, 6, 21, 15, 3 * 60, RUNNING, "weekly-retrain", None, None),
    # Instance types no price list knows.
    ("search-embeddings", 0, 1, 10, 5, 140, FINISHED, "onprem-trial", _UNPRICED[0], None),
    ("fraud-detection", 0, 2, 14, 30, 48, FINISHED, "graviton-bench", _UNPRICED[2], None),
    ("ranking-ltr", 2, 3, 9, 50, 190, FINISHED, "onprem-trial", _UNPRICED[1], None),
    # Crosses into the anchor week: Sunday evening to Monday morning.
    ("recommender", 1, 6, 22, 10, 8 * 60 + 25, FINISHED, "weekend-backfill", None, "4"),
    # More than ten hours.
    ("recommender", 1, 3, 8, 30, 13 * 60 + 5, FINISHED, "full-retrain", None, "2"),
    ("search-embeddings", 4, 2, 9, 12, 10 * 60 + 40, FINISHED, "hard-negatives", None, None),
)


def _special_runs(rng: random.Random, history: list[IsoWeek], span: tuple[int, int]) -> list[_Run]:
    """The `_SPECIALS` that fall inside the history."""
    runs = []
    for experiment, back, day, hour, minute, minutes, status, name, instance, nodes in _SPECIALS:
        if back >= len(history):
            continue
        start = history[-1 - back].start_ms + day * _DAY + hour * _HOUR + minute * _MINUTE
        runs.append(
            _make_run(
                rng,
                _BY_NAME[experiment],
                span,
                start,
                minutes * _MINUTE,
                status,
                name=name,
                instance=instance,
                nodes=nodes,
            )
        )
    return runs


def _make_sweep(
    rng: random.Random, experiment: _Experiment, span: tuple[int, int], week: IsoWeek
) -> _Run:
    """A hyper-parameter search: a parent run and 3-6 sequential trials inside its wall time."""
    estimator = rng.choice(experiment.estimators)
    short = estimator.rsplit(".", 1)[1]
    grid_search = rng.random() < 0.6
    start = week.start_ms + rng.randrange(5) * _DAY + int(rng.uniform(8.5, 15) * _HOUR)
    name = f"tune-{_ALIASES[short]}-{week.week:02d}"
    user = _pick_user(rng, experiment.team)
    instance = rng.choice(experiment.instance_types)

    children: list[_Run] = []
    moment = start + rng.randint(1, 3) * _MINUTE
    low, high = experiment.minutes
    for trial in range(rng.randint(3, 6)):
        planned = _log_uniform(rng, low / 2, high / 4) * _MINUTE
        status = FAILED if rng.random() < 0.08 else FINISHED
        child = _make_run(
            rng,
            experiment,
            span,
            moment,
            planned,
            status,
            name=f"{name}-trial-{trial}",
            user=user,
            instance=instance,
            estimator=estimator,
            nodes=None,
        )
        children.append(child)
        assert child.end is not None
        moment = child.end + rng.randint(10, 90) * 1000
    end = moment + rng.randint(1, 4) * _MINUTE
    # Keep the whole sweep inside its week.
    overshoot = end - (week.end_ms - 10 * _MINUTE)
    if overshoot > 0:
        end -= overshoot
        start -= overshoot
        for child in children:
            child.start -= overshoot
            assert child.end is not None
            child.end -= overshoot
            child.metrics = [(k, v, t - overshoot, s) for k, v, t, s in child.metrics]

    finished = [child for child in children if child.status == FINISHED] or children
    better = max if experiment.metric.higher_is_better else min
    best = better(finished, key=lambda child: child.primary)
    tags = {"mlflow.user": user, "instance_type": instance}
    if grid_search:
        batch_tags = {"estimator_class": _GRID_SEARCH, "estimator_name": "GridSearchCV"}
        params = {"cv": "5", "n_jobs": "-1", "refit": "True", "estimator": f"{short}()"}
        params.update({f"best_{key}": value for key, value in best.params.items()})
    else:
        batch_tags = {"estimator_class": estimator, "estimator_name": short}
        params = dict(best.params)
    # sklearn maximises scores, so an error metric's cross-validation score is negated.
    sign = 1 if experiment.metric.higher_is_better else -1
    cv_score = _round(sign * best.primary * rng.uniform(0.985, 1.0))
    metrics = [
        (experiment.metric.name, best.primary, end - 30_000, 0),
        ("best_cv_score", cv_score, end - 30_000, 0),
    ]
    return _Run(
        experiment=experiment.name, run_name=name, user=user, start=start, end=end,
        status=FINISHED, tags=tags, batch_tags=batch_tags, params=params, metrics=metrics,
        primary=best.primary, children=children,
    )  # fmt: skip


def _make_run(
    rng: random.Random,
    experiment: _Experiment,
    span: tuple[int, int],
    start: int,
    planned: float,
    status: str,
    *,
    clip_to: int | None = None,
    name: str | None = None,
    user: str | None = None,
    instance: str | None = None,
    estimator: str | None = None,
    nodes: str | None = "",
) -> _Run:
    """One run: `planned` ms of work, cut short when it failed or was killed.

    `nodes` "" draws a `num_nodes` tag at the experiment's rate, None never sets one.
    """
    if status == FAILED:
        duration = planned * rng.uniform(0.05, 0.5)
    elif status == KILLED:
        duration = planned * rng.uniform(0.2, 0.8)
    else:
        duration = planned
    duration = max(int(duration), 2 * _MINUTE)
    if clip_to is not None and start + duration > clip_to - 10 * _MINUTE:
        start = max(clip_to - 10 * _MINUTE - duration, clip_to - 7 * _DAY)
        duration = min(duration, clip_to - 10 * _MINUTE - start)
    end = None if status == RUNNING else start + duration

    if estimator is None and rng.random() >= 0.025:  # a few runs carry no estimator tag
        estimator = rng.choice(experiment.estimators)
    short = estimator.rsplit(".", 1)[1] if estimator else None
    user = user or _pick_user(rng, experiment.team)
    instance = instance or rng.choice(experiment.instance_types)
    if nodes == "":
        nodes = rng.choice(("2", "2", "4")) if rng.random() < experiment.multi_node else None
    if name is None:
        name = f"{_ALIASES[short] if short else experiment.name}-{rng.choice(_VARIANTS)}"

    tags = {"mlflow.user": user, "instance_type": instance}
    if nodes:
        tags["num_nodes"] = nodes
    batch_tags = {"estimator_class": estimator, "estimator_name": short} if estimator else {}
    params = _params(rng, short)

    progress = (start - span[0]) / (span[1] - span[0])
    primary = _value(rng, experiment.metric, progress)
    # A run still going has logged what it reached by the end of the history.
    reached = end if end is not None else min(start + int(planned * 0.6), span[1] - _MINUTE)
    work = planned if status in (FAILED, KILLED) else duration
    metrics = _curve(rng, experiment, primary, start, work, reached)
    if status == FINISHED:
        assert end is not None
        for extra in experiment.extra:
            metrics.append((extra.name, _value(rng, extra, progress), end - 20_000, 0))
    return _Run(
        experiment=experiment.name, run_name=name, user=user, start=start, end=end,
        status=status, tags=tags, batch_tags=batch_tags, params=params, metrics=metrics,
        primary=primary,
    )  # fmt: skip


def _curve(
    rng: random.Random,
    experiment: _Experiment,
    final: float,
    start: int,
    planned: float,
    reached: int,
) -> list[tuple[str, float, int, int]]:
    """The primary metric as logged during the run: once per epoch, or once at the end.

    Runs that stopped early (or are still running) only have the epochs they finished by
    `reached`, but always at least one value.
    """
    metric = experiment.metric
    steps = rng.randint(3, 6) if experiment.epochs else 1
    worse = 0.9 if metric.higher_is_better else 1.15
    planned_end = start + int(planned)
    points = []
    for step in range(steps):
        moment = start + int((step + 1) / steps * planned) - 15_000
        if moment > reached:
            break
        remaining = 1 - (step + 1) / steps
        value = final * (1 + (worse - 1) * remaining**1.5)
        points.append((metric.name, _round(value), moment, step))
    if not points:
        moment = min(reached, planned_end) - 15_000
        points.append((metric.name, _round(final * worse), max(moment, start + 1000), 0))
    return points


def _params(rng: random.Random, short: str | None) -> dict[str, str]:
    if short in ("RandomForestRegressor", "RandomForestClassifier"):
        params = {
            "n_estimators": rng.choice((100, 200, 300, 500)),
            "max_depth": rng.choice((8, 12, 16, None)),
            "min_samples_leaf": rng.choice((1, 2, 5, 10)),
        }
    elif short == "HistGradientBoostingRegressor":
        params = {
            "max_iter": rng.choice((100, 200, 400)),
            "max_depth": rng.choice((6, 8, None)),
            "learning_rate": rng.choice((0.03, 0.05, 0.1)),
        }
    elif short in ("GradientBoostingClassifier", "XGBClassifier", "LGBMClassifier",
                   "LGBMRegressor", "LGBMRanker"):  # fmt: skip
        params = {
            "n_estimators": rng.choice((200, 400, 800, 1200)),
            "max_depth": rng.choice((4, 6, 8, 10)),
            "learning_rate": rng.choice((0.01, 0.03, 0.05, 0.1)),
        }
        if short != "GradientBoostingClassifier":
            params["subsample"] = rng.choice((0.7, 0.8, 1.0))
    elif short == "LogisticRegression":
        params = {"C": rng.choice((0.01, 0.1, 1.0, 10.0)), "penalty": "l2", "max_iter": 1000}
    elif short == "Ridge":
        params = {"alpha": rng.choice((0.1, 1.0, 3.0, 10.0)), "fit_intercept": True}
    elif short == "KNeighborsClassifier":
        params = {"n_neighbors": rng.choice((5, 10, 20, 50)), "metric": "cosine"}
    else:  # no estimator tag: a hand-written training loop
        params = {"epochs": rng.choice((5, 10, 20)), "batch_size": rng.choice((256, 512, 1024))}
    return {key: str(value) for key, value in params.items()}


def _value(rng: random.Random, metric: _Metric, progress: float) -> float:
    return _round(
        metric.first + (metric.last - metric.first) * progress + rng.gauss(0, metric.noise)
    )


def _round(value: float) -> float:
    return float(f"{value:.5g}")


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _ordinary_status(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.12:
        return FAILED
    if draw < 0.185:
        return KILLED
    return FINISHED


def _working_moment(rng: random.Random, week: IsoWeek) -> int:
    """A start time in `week`: mostly weekday office hours, sometimes a weekend."""
    day = rng.choices(range(7), weights=(1, 1, 1, 1, 0.9, 0.12, 0.1))[0]
    hours = rng.uniform(8, 19) if day < 5 else rng.uniform(10, 22)
    return week.start_ms + day * _DAY + int(hours * _HOUR)


def _pick_user(rng: random.Random, team: str) -> str:
    home = [user for user, user_team in _USERS if user_team == team]
    others = [user for user, user_team in _USERS if user_team != team]
    return rng.choice(home) if rng.random() < 0.88 else rng.choice(others)


def _plan_versions(rng: random.Random, history: list[IsoWeek], runs: list[_Run]) -> list[_Version]:
    """Model versions, oldest first: each built from a FINISHED run of the model's experiment
    that ended before the version was created, in the same week."""
    weeks = len(history)
    candidates = [
        run
        for parent in runs
        for run in (parent, *parent.children)
        if run.status == FINISHED and run.end is not None
    ]
    versions: list[_Version] = []
    for model in _MODELS:
        experiment = _BY_NAME[model.experiment]
        if model.stale:
            old = [index for index in range(weeks) if weeks - 1 - index >= _STALE_WEEKS] or [0]
            planned = old[:: model.every[0]]
        else:
            planned, index = [], rng.randrange(model.every[1])
            while index < weeks:
                planned.append(index)
                index += rng.randint(*model.every)
        for index in planned:
            week = history[index]
            latest = week.end_ms - 2 * _HOUR
            pool = [
                run
                for run in candidates
                if run.experiment == model.experiment
                and run.end is not None
                and week.start_ms <= run.end <= latest - _HOUR
            ]
            if not pool:
                continue
            better = max if experiment.metric.higher_is_better else min
            source = better(pool, key=lambda run: run.primary)
            assert source.end is not None
            created = min(source.end + int(rng.uniform(0.5, 20) * _HOUR), latest)
            versions.append(_Version(model, source, created))
    versions.sort(key=lambda version: version.created)
    return versions


# --- writing ------------------------------------------------------------------------------------


def _write(
    uri: str,
    artifacts: Path,
    runs: list[_Run],
    versions: list[_Version],
    rng: random.Random,
    last_week: IsoWeek,
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_ids = {}
    for experiment in _EXPERIMENTS:
        experiment_ids[experiment.name] = client.create_experiment(
            experiment.name,
            artifact_location=(artifacts / experiment.name).as_uri(),
            tags={"team": experiment.team},
        )

    def create(run: _Run, extra_tags: dict[str, str] | None = None) -> None:
        created = client.create_run(
            experiment_ids[run.experiment],
            start_time=run.start,
            tags={**run.tags, **(extra_tags or {})},
            run_name=run.run_name,
        )
        run.run_id = created.info.run_id

    def finish(run: _Run) -> None:
        client.log_batch(
            run.run_id,
            metrics=[Metric(key, value, stamp, step) for key, value, stamp, step in run.metrics],
            params=[Param(key, value) for key, value in run.params.items()],
            tags=[RunTag(key, value) for key, value in run.batch_tags.items()],
        )
        if run.status != RUNNING:
            client.set_terminated(run.run_id, run.status, end_time=run.end)

    for run in runs:
        create(run)
        for child in run.children:
            create(child, {"mlflow.parentRunId": run.run_id})
            finish(child)
        finish(run)

    registered: dict[str, list[tuple[int, int]]] = {}  # model -> [(version, created)]
    for version in versions:
        model = version.model
        if model.name not in registered:
            client.create_registered_model(
                model.name, tags={"team": _BY_NAME[model.experiment].team}
            )
            registered[model.name] = []
        made = client.create_model_version(
            model.name, source=f"runs:/{version.run.run_id}/model", run_id=version.run.run_id
        )
        registered[model.name].append((int(made.version), version.created))
    for model in _MODELS:
        numbers = [number for number, _ in registered.get(model.name, [])]
        if not numbers:
            continue
        champion = numbers[max(0, len(numbers) - 1 - model.champion_back)]
        client.set_registered_model_alias(model.name, "champion", str(champion))
        if model.challenger and len(numbers) >= 2:
            client.set_registered_model_alias(model.name, "challenger", str(numbers[-1]))

    _backdate(uri, artifacts, runs, registered, rng)
    # Written last: a store without it is an interrupted seeding and gets reseeded.
    for experiment_id in experiment_ids.values():
        client.set_experiment_tag(experiment_id, DEMO_SEED_TAG, str(last_week))


def _backdate(
    uri: str,
    artifacts: Path,
    runs: list[_Run],
    registered: dict[str, list[tuple[int, int]]],
    rng: random.Random,
) -> None:
    """The documented shortcut (see the module docstring): set creation times MLflow stamped
    with "now" to the planned past moments, straight in the sqlite file."""
    db_path = uri.removeprefix("sqlite:///")
    first_start: dict[str, int] = {}
    for run in runs:
        first_start.setdefault(run.experiment, run.start)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        created_at = {}
        for experiment in _EXPERIMENTS:
            first = first_start.get(experiment.name, runs[0].start)
            created = first - int(rng.uniform(1, 20) * _DAY)
            created_at[experiment.name] = created
            conn.execute(
                "UPDATE experiments SET creation_time = ?, last_update_time = ? WHERE name = ?",
                (created, created, experiment.name),
            )
        default_created = min(created_at.values()) - 3 * _DAY
        conn.execute(
            "UPDATE experiments SET creation_time = ?, last_update_time = ?, artifact_location = ?"
            " WHERE experiment_id = 0",
            (default_created, default_created, (artifacts / "0").as_uri()),
        )
        for name, numbers in registered.items():
            for number, created in numbers:
                conn.execute(
                    "UPDATE model_versions SET creation_time = ?, last_updated_time = ?"
                    " WHERE name = ? AND version = ?",
                    (created, created, name, number),
                )
            first = numbers[0][1] - rng.randint(2, 30) * _MINUTE
            conn.execute(
                "UPDATE registered_models SET creation_time = ?, last_updated_time = ?"
                " WHERE name = ?",
                (first, numbers[-1][1], name),
            )


__all__ = ["DEMO_SEED_TAG", "ensure_demo_store"]


def simulated_alias_history(snapshot: Snapshot) -> list[AliasObservation]:
    """The alias observations weekly builds would have saved over the demo's history.

    A real deployment accumulates these one build at a time (gather.alias_history); the demo
    store is seeded in one go, so its past is simulated from the registry: after each past
    week, `champion` pointed at the newest version created by then that is not newer than
    today's champion, except that one model rolled back to its previous version for one week
    about a month ago (so the report shows a change failure and a time to restore). Each
    observation is dated the Monday after its week, 06:17 UTC, when the weekly cron runs.
    """
    versions = snapshot.tables["model_versions"]
    aliases = snapshot.tables["aliases"]
    champions = aliases[aliases["alias"] == "champion"].set_index("name")["version"]
    week = IsoWeek.parse(snapshot.info.week)
    past = week.history(snapshot.info.history_weeks)[:-1]
    moments = [w.end + timedelta(hours=6, minutes=17) for w in past]
    pointed: list[dict[str, list[int]]] = []  # per week: model -> versions it could point at
    for moment in moments:
        created = versions[versions["creation_time"] < to_ms(moment)]
        pointed.append(
            {
                str(name): sorted(
                    int(v) for v in created.loc[created["name"] == name, "version"] if v <= current
                )
                for name, current in champions.items()
            }
        )
    # the rollback: the first model whose champion was unchanged for the week before
    index = len(past) - 4
    if index >= 1:
        for name in sorted(pointed[index]):
            now, before = pointed[index][name], pointed[index - 1][name]
            if len(now) >= 2 and before and now[-1] == before[-1]:
                pointed[index][name] = now[:-1]
                break
    return [
        AliasObservation(
            str(observed_week),
            iso_utc(moment),
            tuple(
                (name, "champion", choices[-1])
                for name, choices in sorted(by_model.items())
                if choices
            ),
        )
        for observed_week, moment, by_model in zip(past, moments, pointed, strict=True)
    ]
