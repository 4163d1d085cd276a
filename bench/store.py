"""Large MLflow stores, built in seconds instead of hours.

MLflow's client writes about 40 runs a second here, so a million runs through it would take
seven hours. Instead:

1. MLflow's own client creates the store (so MLflow creates the schema, at its own revision)
   and writes a few dozen *template* runs with realistic tags, params and metrics, plus a small
   model registry.
2. Plain SQL copies the templates: a temporary table lists (template run, new run id, new
   start and end time), and one `INSERT ... SELECT` per table (runs, tags, params,
   latest_metrics, metrics) writes every copy, with the column list read from the schema MLflow
   created. Copies get fresh run ids, their artifact URI rewritten to the new id, and every
   timestamp shifted with the run. Nothing else is invented: each copied row is a row MLflow
   wrote.

The same plan always gives the same store: run ids and times come from seeded generators, and
the window's runs come from a generator of their own, so two stores of different sizes hold
the same window (same ids, same times) and differ only in the older runs around it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from reporter.weeks import IsoWeek

WEEK = IsoWeek(2026, 48)
HISTORY_WEEKS = 12
_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_BATCH = 50_000  # copies per round of INSERT ... SELECT
_COPIED_TABLES = ("tags", "params", "latest_metrics", "metrics")

# (experiment, team, instance types, estimators): the demo config's rate card prices these.
_EXPERIMENTS = (
    ("recommender", "recommendations", ("g4dn.xlarge", "g5.2xlarge"), ("XGBClassifier",)),
    ("ranking-ltr", "search", ("g5.2xlarge", "p3.2xlarge"), ("LGBMRanker",)),
    (
        "fraud-detection",
        "fraud",
        ("c5.2xlarge", "m5.4xlarge"),
        ("sklearn.ensemble._gb.GradientBoostingClassifier",),
    ),
    (
        "demand-forecast",
        "forecasting",
        ("m5.xlarge", "n1-standard-8", "custom-onprem-gpu"),
        ("sklearn.ensemble._forest.RandomForestRegressor",),
    ),
)
_STATUSES = ("FINISHED",) * 7 + ("FAILED", "KILLED")


@dataclass(frozen=True)
class Plan:
    """What to build: `runs` in the store, of which `window_runs` overlap the report window."""

    runs: int
    window_runs: int
    seed: int = 7
    week: IsoWeek = WEEK
    history_weeks: int = HISTORY_WEEKS
    templates_per_experiment: int = 8

    @property
    def history_start_ms(self) -> int:
        return self.week.shift(1 - self.history_weeks).start_ms

    @property
    def templates(self) -> int:
        return self.templates_per_experiment * len(_EXPERIMENTS)


@dataclass(frozen=True)
class Built:
    plan: Plan
    db_uri: str
    client_seconds: float
    copy_seconds: float
    rows: dict[str, int]

    @property
    def runs_per_second(self) -> float:
        return (self.plan.runs - self.plan.templates) / max(self.copy_seconds, 1e-9)


@dataclass(frozen=True)
class _Template:
    run_id: str
    start: int
    open: bool  # still RUNNING: only copied into the window, where it stays open


def build_store(db_uri: str, plan: Plan, artifacts: Path) -> Built:
    """Write `plan` into the empty store at `db_uri` (sqlite or PostgreSQL); see the module doc."""
    started = time.perf_counter()
    write_templates(db_uri, plan, artifacts)
    client_seconds = time.perf_counter() - started
    return copy_runs(db_uri, plan, client_seconds)


def copy_runs(db_uri: str, plan: Plan, client_seconds: float = 0.0) -> Built:
    """Step 2: copy the template runs of a store written by `write_templates` (or a copy of
    one) until it holds `plan`."""
    if plan.window_runs < plan.templates or plan.runs < plan.window_runs:
        raise ValueError(f"need templates ({plan.templates}) <= window_runs <= runs: {plan}")
    started = time.perf_counter()
    rows = _copy_runs(db_uri, plan)
    return Built(plan, db_uri, client_seconds, time.perf_counter() - started, rows)


def write_templates(db_uri: str, plan: Plan, artifacts: Path) -> None:
    """Step 1: a few dozen runs through MLflow's client, which creates the schema and every
    row that is then copied. The same plan seed always writes the same runs but for their ids."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    rng = random.Random(plan.seed)
    client = MlflowClient(tracking_uri=db_uri, registry_uri=db_uri)
    span = plan.week.end_ms - plan.history_start_ms
    for name, team, instance_types, estimators in _EXPERIMENTS:
        recent: list[str] = []
        experiment_id = client.create_experiment(
            name, artifact_location=(artifacts / name).as_uri(), tags={"team": team}
        )
        parent = None
        for index in range(plan.templates_per_experiment):
            start = plan.history_start_ms + rng.randrange(span - _DAY)
            is_open = index == plan.templates_per_experiment - 1 and name == "recommender"
            estimator = rng.choice(estimators)
            tags = {  # what the fluent API and sklearn autologging write, and a team's own tag
                "instance_type": rng.choice(instance_types),
                "estimator_class": estimator,
                "estimator_name": estimator.rsplit(".", 1)[-1],
                "mlflow.user": rng.choice(("alice", "bram", "chen", "dana")),
                "mlflow.source.name": f"train_{name.replace('-', '_')}.py",
                "mlflow.source.type": "LOCAL",
            }
            if index % 4 == 1:
                tags["num_nodes"] = str(rng.choice((2, 4)))
            if parent and index % 4 == 2:
                tags["mlflow.parentRunId"] = parent
            run = client.create_run(experiment_id, start_time=start, tags=tags)
            run_id = run.info.run_id
            parent = parent or run_id
            history = [
                Metric("loss", round(1 / (step + 1), 4), start + step * _MINUTE, step)
                for step in range(5)
            ]
            client.log_batch(
                run_id,
                params=[
                    Param("learning_rate", str(rng.choice((0.01, 0.05, 0.1)))),
                    Param("max_depth", str(rng.randint(3, 12))),
                    Param("n_estimators", str(rng.choice((100, 300, 1000)))),
                    Param("subsample", str(rng.choice((0.6, 0.8, 1.0)))),
                    Param("min_samples_leaf", str(rng.randint(1, 20))),
                    Param("random_state", str(index)),
                    Param("device", rng.choice(("cpu", "gpu"))),
                    Param("train_rows", str(rng.randint(10_000, 5_000_000))),
                ],
                metrics=[
                    *history,
                    Metric("auc", round(rng.uniform(0.7, 0.95), 4), start + 5 * _MINUTE, 0),
                    Metric("rmse", round(rng.uniform(1, 40), 3), start + 5 * _MINUTE, 0),
                    Metric("training_score", round(rng.random(), 4), start + 5 * _MINUTE, 0),
                ],
                tags=[RunTag("mlflow.source.git.commit", f"{rng.getrandbits(160):040x}")],
            )
            if not is_open:
                end = start + rng.randint(5 * _MINUTE, 6 * _HOUR)
                client.set_terminated(run_id, rng.choice(_STATUSES), end_time=end)
            recent.append(run_id)
        model = client.create_registered_model(f"{name}-model")
        for run_id in recent[-3:]:
            client.create_model_version(model.name, source=f"runs:/{run_id}/model", run_id=run_id)
        client.set_registered_model_alias(model.name, "champion", "1")


def _copy_plan(plan: Plan, templates: list[_Template]) -> list[tuple[str, str, int, int | None]]:
    """(template run id, new run id, start, end) for every copy, oldest first.

    Window copies come from a generator seeded only by `plan.seed`, so every store size holds
    the same window; older copies end a day before the window's history starts.
    """
    history_start = plan.history_start_ms
    window_rng, older_rng = random.Random(plan.seed), random.Random(plan.seed + 1)
    closed = [t for t in templates if not t.open]
    copies = []
    for _ in range(plan.runs - plan.window_runs):
        template = older_rng.choice(closed)
        start = history_start - _DAY - older_rng.randrange(104 * 7 * _DAY)
        run_id = f"{older_rng.getrandbits(128):032x}"
        copies.append(
            (template.run_id, run_id, start, start + older_rng.randint(_MINUTE, 12 * _HOUR))
        )
    span = plan.week.end_ms - history_start
    for _ in range(plan.window_runs - len(templates)):
        template = window_rng.choice(templates)
        start = history_start + window_rng.randrange(span)
        run_id = f"{window_rng.getrandbits(128):032x}"
        duration = window_rng.randint(5 * _MINUTE, 8 * _HOUR)
        copies.append((template.run_id, run_id, start, None if template.open else start + duration))
    copies.sort(key=lambda copy: copy[2])  # a real store receives its runs in time order
    return copies


def _copy_runs(db_uri: str, plan: Plan) -> dict[str, int]:
    """INSERT ... SELECT every copy, in batches, through a temporary (template -> copy) table."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_uri)
    try:
        with engine.begin() as conn:
            templates = [
                _Template(run_id, start, end is None)
                for run_id, start, end in conn.exec_driver_sql(
                    "SELECT run_uuid, start_time, end_time FROM runs ORDER BY start_time, run_uuid"
                )
            ]
            if len(templates) != plan.templates:
                raise ValueError(f"{db_uri} holds {len(templates)} runs, not the plan's templates")
            starts = {t.run_id: t.start for t in templates}
            copies = _copy_plan(plan, templates)
            if conn.dialect.name == "sqlite":  # a throwaway file: durability is not needed
                conn.exec_driver_sql("PRAGMA synchronous = OFF")
                conn.exec_driver_sql("PRAGMA cache_size = -1000000")  # 1 GB for index updates
            plan_table = sa.Table(
                "bench_copy",
                sa.MetaData(),
                sa.Column("src", sa.String(32)),
                sa.Column("dst", sa.String(32)),
                sa.Column("start_time", sa.BigInteger),
                sa.Column("end_time", sa.BigInteger),
                sa.Column("shift", sa.BigInteger),
                prefixes=["TEMPORARY"],
            )
            plan_table.create(conn)
            statements = _copy_statements(conn)
            for first in range(0, len(copies), _BATCH):
                conn.execute(plan_table.delete())
                conn.execute(
                    plan_table.insert(),
                    [
                        {"src": s, "dst": d, "start_time": a, "end_time": b, "shift": a - starts[s]}
                        for s, d, a, b in copies[first : first + _BATCH]
                    ],
                )
                for statement in statements:
                    conn.exec_driver_sql(statement)
            plan_table.drop(conn)
            rows = {
                table: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()
                for table in ("runs", *_COPIED_TABLES)
            }
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")  # what autovacuum would soon do after a bulk load
    finally:
        engine.dispose()
    return rows


def _copy_statements(conn) -> list[str]:
    """One INSERT ... SELECT per table, listing the columns MLflow's schema has."""
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    overrides = {
        "runs": {
            "run_uuid": "c.dst",
            "start_time": "c.start_time",
            "end_time": "c.end_time",
            "artifact_uri": "REPLACE(t.artifact_uri, t.run_uuid, c.dst)",
        },
        "tags": {"run_uuid": "c.dst"},
        "params": {"run_uuid": "c.dst"},
        "latest_metrics": {"run_uuid": "c.dst", "timestamp": "t.timestamp + c.shift"},
        "metrics": {"run_uuid": "c.dst", "timestamp": "t.timestamp + c.shift"},
    }
    statements = []
    for table in ("runs", *_COPIED_TABLES):
        columns = [column["name"] for column in inspector.get_columns(table)]
        values = [overrides[table].get(name, f"t.{quote(name)}") for name in columns]
        statements.append(
            f"INSERT INTO {table} ({', '.join(quote(name) for name in columns)}) "
            f"SELECT {', '.join(values)} FROM bench_copy c JOIN {table} t ON t.run_uuid = c.src"
        )
    return statements
