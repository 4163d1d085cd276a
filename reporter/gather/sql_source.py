"""Read one reporting window straight from MLflow's SQL database (sqlite or PostgreSQL).

The client path spends almost all its time turning rows into MLflow entities (and, over HTTP,
into protobuf and JSON and back); this one reads the same rows with one query per table and
builds the same tables: same rows, dtypes and order as `mlflow_source.gather` gives for the
same store. It is read-only by construction (sqlite opened with `mode=ro`, PostgreSQL in READ
ONLY transactions) and knows one schema, the revision this MLflow creates: any other is
refused before a table is read, since a schema it does not know may mean columns it misreads.

What it reproduces from MLflow's own store, so that the results stay identical:
- experiments: the active ones of the default workspace (what a single-tenant MLflow serves);
- runs: active runs of those experiments overlapping the window (the union of the three
  `window_filters`, as one predicate the database evaluates); a run without a name takes its
  `mlflow.runName` tag; metrics are the latest values, NaN where MLflow stored NaN;
- registry: every registered model, version (except MLflow's internal deleted stage), alias.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reporter.errors import GatherError, UsageError
from reporter.gather.mlflow_source import (
    RUNNING,
    Keys,
    _expected_schema_revision,
    _mlflow_version,
    gather_info,
    sqlite_path,
    strip_credentials,
)
from reporter.gather.snapshot import SORT_KEYS, TABLES, Snapshot
from reporter.weeks import IsoWeek

_FETCH_ROWS = 100_000  # rows converted at a time: bounds the Python objects alive at once
_WORKSPACE = "default"
_DELETED_VERSION_STAGE = "Deleted_Internal"
_RUN_NAME_TAG = "mlflow.runName"
_TAG_DTYPES = {"run_id": "string", "key": "string", "value": "string"}  # tags and params
_METRIC_DTYPES = {"run_id": "string", "key": "string", "value": "float64", "is_nan": "bool"}


def gather_sql(
    db_uri: str,
    week: IsoWeek,
    history_weeks: int,
    exclude_experiments: tuple[str, ...] = (),
    now: datetime | None = None,
    keys: Keys | None = None,
) -> Snapshot:
    """Every run overlapping the history window, plus experiments and the registry, from SQL.

    `keys` limits the run tags, params and metrics read (default: all).
    """
    keys = keys or Keys()
    # MLflow names a run without a name after this tag, so it is read even if not kept.
    tag_keys = None if keys.tags is None else keys.tags | {_RUN_NAME_TAG}
    history_start = week.shift(1 - history_weeks)
    with _read_only(db_uri) as db:
        _check_schema(db, db_uri)
        experiments = _fetch(
            db,
            "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
            f"WHERE lifecycle_stage = 'active' AND workspace = '{_WORKSPACE}'",
            TABLES["experiments"],
        )
        is_excluded = experiments["name"].isin(exclude_experiments)
        excluded = sorted(experiments.loc[is_excluded, "name"])
        experiments = experiments[~is_excluded]
        ids = ", ".join(str(int(i)) for i in experiments["experiment_id"]) or "NULL"
        runs = _fetch(
            db,
            "SELECT r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, "
            "r.end_time, r.lifecycle_stage FROM runs r "
            f"WHERE {_window(ids, history_start.start_ms, week.end_ms)}",
            TABLES["runs"],
        )
        # The runs table has no index on time: scan it once, then look rows up by run id.
        of_window_runs, run_ids = db.among("run_uuid", runs["run_id"].tolist())
        children = {}
        for name, source, wanted in (
            ("run_tags", "tags", tag_keys),
            ("run_params", "params", keys.params),
            ("run_metrics", "latest_metrics", keys.metrics),
        ):
            where, params = of_window_runs, run_ids
            if wanted is not None:
                of_keys, key_list = db.among("key", sorted(wanted))
                where, params = f"{where} AND {of_keys}", run_ids + key_list
            metric = name == "run_metrics"
            children[name] = _fetch(
                db,
                f"SELECT run_uuid, key, value{', is_nan' if metric else ''} FROM {source} "
                f"WHERE {where}",
                _METRIC_DTYPES if metric else _TAG_DTYPES,
                params,
            )
        experiment_tags = _fetch(
            db,
            f"SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ({ids})",
            TABLES["experiment_tags"],
        )
        registered_models = _fetch(
            db,
            "SELECT name, creation_time, last_updated_time FROM registered_models "
            f"WHERE workspace = '{_WORKSPACE}'",
            TABLES["registered_models"],
        )
        model_versions = _fetch(
            db,
            "SELECT name, version, creation_time, last_updated_time, current_stage, status, "
            f"run_id, source FROM model_versions WHERE workspace = '{_WORKSPACE}' "
            f"AND current_stage != '{_DELETED_VERSION_STAGE}'",
            TABLES["model_versions"],
        )
        aliases = _fetch(
            db,
            f"SELECT name, alias, version FROM registered_model_aliases WHERE workspace = '{_WORKSPACE}'",
            TABLES["aliases"],
        )

    metrics = children["run_metrics"]
    metrics["value"] = metrics["value"].mask(metrics.pop("is_nan").to_numpy(), np.nan)
    runs["run_name"] = _run_names(runs, children["run_tags"])
    if keys.tags is not None and _RUN_NAME_TAG not in keys.tags:
        tags = children.pop("run_tags")
        children["run_tags"] = tags[tags["key"] != _RUN_NAME_TAG]
        del tags
    # Each table replaces its unsorted rows as it is built: a million-run window is never
    # held twice.
    tables = {
        "experiments": _table("experiments", experiments),
        "experiment_tags": _table("experiment_tags", experiment_tags),
        "runs": _table("runs", runs),
    }
    del runs
    for name in list(children):
        tables[name] = _table(name, children.pop(name))
    tables["registered_models"] = _table("registered_models", registered_models)
    tables["model_versions"] = _table("model_versions", model_versions)
    tables["aliases"] = _table("aliases", aliases)
    info = gather_info(
        week,
        history_weeks,
        db_uri,
        db_uri,
        now,
        keys,
        mlflow_server_version=None,
        page_size=0,  # not paged: one query per table
        run_queries=1,
        run_pages=1,
        runs_fetched=len(tables["runs"]),
        duplicate_runs_dropped=0,
        experiments_excluded=excluded,
    )
    return Snapshot(info=info, tables=tables)


def _window(experiment_ids: str, history_start_ms: int, window_end_ms: int) -> str:
    """The union of `window_filters` as one SQL predicate on `runs r` (only ints are inlined)."""
    start, end = int(history_start_ms), int(window_end_ms)
    return (
        f"r.lifecycle_stage = 'active' AND r.experiment_id IN ({experiment_ids}) AND ("
        f"(r.start_time >= {start} AND r.start_time < {end}) OR (r.start_time < {start} "
        f"AND (r.end_time >= {start} OR r.status = '{RUNNING}')))"
    )


@dataclass(frozen=True)
class _Database:
    """Read-only queries whose rows come in slices, so that a million-run window never exists
    as Python objects all at once."""

    rows: Callable[..., Iterator[list[tuple]]]  # (sql, params=()) -> slices of rows
    among: Callable[[str, list[str]], tuple[str, tuple]]  # (column, ids) -> (predicate, params)


@contextmanager
def _read_only(db_uri: str) -> Iterator[_Database]:
    """A database that cannot be written: sqlite `mode=ro`, or READ ONLY PostgreSQL
    transactions (rows streamed through server-side cursors)."""
    path = sqlite_path(db_uri)
    if path is not None:
        if not path.is_file():
            raise UsageError(
                f"sqlite store {path} does not exist; check the database URI (no new store is created)"
            )
        with (
            _errors(db_uri, sqlite3.Error),
            closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection,
        ):

            def sqlite_rows(sql: str, params: Sequence[Any] = ()) -> Iterator[list[tuple]]:
                cursor = connection.execute(sql, params)
                while rows := cursor.fetchmany(_FETCH_ROWS):
                    yield rows

            yield _Database(
                sqlite_rows,
                lambda column, ids: (
                    f"{column} IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ),
            )
        return
    if not db_uri.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise UsageError(
            "the SQL gatherer reads sqlite:/// and postgresql:// databases, "
            f"not {strip_credentials(db_uri)!r}"
        )
    import psycopg2

    with (
        _errors(db_uri, psycopg2.Error),
        closing(psycopg2.connect("postgresql://" + db_uri.split("://", 1)[1])) as connection,
    ):
        connection.set_session(readonly=True)
        names = itertools.count()

        def postgres_rows(sql: str, params: Sequence[Any] = ()) -> Iterator[list[tuple]]:
            with connection.cursor(name=f"reporter_{next(names)}") as cursor:
                cursor.itersize = _FETCH_ROWS
                cursor.execute(sql, params or None)
                while rows := cursor.fetchmany(_FETCH_ROWS):
                    yield rows

        # closing the connection ends its transaction, which wrote nothing
        yield _Database(postgres_rows, lambda column, ids: (f"{column} = ANY(%s)", (ids,)))


@contextmanager
def _errors(db_uri: str, error: type[Exception]) -> Iterator[None]:
    """A database error as one GatherError naming the database (never its password)."""
    try:
        yield
    except error as exc:
        raise GatherError(
            f"reading {strip_credentials(db_uri)} failed: {_first_line(exc)}"
        ) from None


def _check_schema(db: _Database, db_uri: str) -> None:
    """Refuse any schema revision but the one this MLflow creates (the one this module reads)."""
    expected = _expected_schema_revision()
    found = [row[0] for rows in db.rows("SELECT version_num FROM alembic_version") for row in rows]
    if found != [expected]:
        raise GatherError(
            f"{strip_credentials(db_uri)} has MLflow schema {', '.join(found) or 'none'!r}; "
            f"the SQL gatherer reads only {expected!r} (MLflow {_mlflow_version()}): "
            "use the client gather, or the MLflow version that wrote the database"
        )


def _fetch(
    db: _Database, sql: str, dtypes: dict[str, str], params: Sequence[Any] = ()
) -> pd.DataFrame:
    """The rows of `sql` as columns of `dtypes`, converted a slice of rows at a time."""
    columns = list(dtypes)
    parts = [
        pd.DataFrame.from_records(rows, columns=columns, coerce_float=False).astype(dtypes)
        for rows in db.rows(sql, params)
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _run_names(runs: pd.DataFrame, tags: pd.DataFrame) -> pd.Series:
    """MLflow's rule: a run without a name is named by its `mlflow.runName` tag, if not empty."""
    names = runs["run_name"]
    unnamed = (names.isna() | (names == "")).to_numpy(dtype=bool, na_value=True)
    if not unnamed.any():
        return names
    tagged = tags[tags["key"] == _RUN_NAME_TAG].set_index("run_id")["value"]
    fallback = runs["run_id"].map(tagged).astype("string")
    use_tag = unnamed & (fallback.fillna("") != "").to_numpy(dtype=bool)
    return names.mask(use_tag, fallback)


def _table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly what `snapshot.make_table` gives for these rows: columns, dtypes and order."""
    columns = TABLES[name]
    frame = frame.set_axis(list(columns), axis=1).astype(columns)
    return frame.sort_values(SORT_KEYS[name], kind="stable", ignore_index=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
