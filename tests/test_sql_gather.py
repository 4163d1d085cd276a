"""The direct SQL gatherer on sqlite stores written by MLflow's client: the same tables as the
client gather, read-only, and refusing schemas and databases it does not know."""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

from reporter.errors import GatherError, UsageError
from reporter.gather import Keys, gather, gather_sql
from reporter.gather.snapshot import TABLES, Snapshot
from tests.conftest import WEEK, Server, Store, at


def assert_same_tables(by_sql: Snapshot, by_client: Snapshot) -> None:
    assert set(by_sql.tables) == set(by_client.tables) == set(TABLES)
    for name, table in by_client.tables.items():
        pd.testing.assert_frame_equal(by_sql.tables[name], table, obj=name)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("history_weeks", "exclude"), [(2, ()), (1, ()), (2, ("misc",)), (12, ("fraud", "ranker"))]
)
def test_the_hand_made_week_gives_the_client_gathers_tables(
    small_store: Store, history_weeks: int, exclude: tuple[str, ...]
) -> None:
    # given the hand-made week, written through MLflow's client
    # when it is gathered by SQL and through the client, for various windows and exclusions
    by_sql = gather_sql(small_store.uri, WEEK, history_weeks, exclude_experiments=exclude)
    by_client = gather(small_store.uri, WEEK, history_weeks, exclude_experiments=exclude)
    # then every table is identical: rows, dtypes and order
    assert_same_tables(by_sql, by_client)
    assert by_sql.info.experiments_excluded == by_client.info.experiments_excluded
    assert by_sql.info.runs_fetched == len(by_client.tables["runs"])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_same_store_behind_mlflow_server_gives_the_same_tables(
    small_store: Store, small_server: Server, concurrency: int
) -> None:
    # given the hand-made week as a sqlite file, and a copy of it behind `mlflow server`
    # when the file is gathered by SQL and the server over HTTP (page size 2: many pages)
    by_sql = gather_sql(small_store.uri, WEEK, history_weeks=2)
    over_http = gather(
        small_server.url, WEEK, history_weeks=2, page_size=2, concurrency=concurrency
    )
    # then every table is identical
    assert_same_tables(by_sql, over_http)
    assert over_http.info.run_pages > over_http.info.run_queries


def test_deleted_runs_experiments_and_versions_nan_metrics_and_open_runs_agree(
    store: Store,
) -> None:
    # given a store with what a window must leave out and what it must keep
    kept = store.run("exp", at(24, 9), at(24, 10), metrics={"loss": math.nan, "big": math.inf})
    open_before = store.run("exp", at(2, 9), None, "RUNNING", params={"device": "gpu"})
    store.client.delete_run(store.run("exp", at(24, 11), at(24, 12)))
    doomed = store.experiment("doomed")
    store.run("doomed", at(25, 9), at(25, 10))
    store.client.delete_experiment(doomed)
    store.client.create_registered_model("m")
    for _ in range(3):
        store.client.create_model_version("m", source="runs:/x/model", run_id=kept)
    store.client.delete_model_version("m", "2")
    store.client.set_registered_model_alias("m", "champion", "3")
    # when both gatherers read it
    by_sql = gather_sql(store.uri, WEEK, history_weeks=1)
    by_client = gather(store.uri, WEEK, history_weeks=1)
    # then they agree on every table, and keep exactly the active runs overlapping the window
    assert_same_tables(by_sql, by_client)
    assert set(by_sql.tables["runs"]["run_id"]) == {kept, open_before}
    assert list(by_sql.tables["model_versions"]["version"]) == [1, 3]
    metrics = by_sql.tables["run_metrics"].set_index("key")["value"]
    assert math.isnan(metrics["loss"])
    assert metrics["big"] == sys.float_info.max  # MLflow stores +inf as the largest float


@pytest.mark.parametrize("keys", [None, Keys(tags=frozenset({"instance_type"}))])
def test_a_run_without_a_name_is_named_by_its_run_name_tag_as_mlflow_does(
    small_store: Store, tmp_path: Path, keys: Keys | None
) -> None:
    # given a store where runs have no name (as in stores migrated from old MLflow versions;
    # today's client always names them, so the names are cleared in a copy)
    copy = tmp_path / "unnamed.db"
    shutil.copy(small_store.path, copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE runs SET name = NULL WHERE run_uuid = ?", (small_store.ids["rf_ok"],))
        db.execute("UPDATE runs SET name = '' WHERE run_uuid = ?", (small_store.ids["open"],))
        db.execute("DELETE FROM tags WHERE key = 'mlflow.runName' AND run_uuid = ?", (small_store.ids["open"],))  # fmt: skip
    # when both gatherers read it (keeping every tag, or tags other than the name's)
    by_sql = gather_sql(f"sqlite:///{copy}", WEEK, history_weeks=2, keys=keys)
    by_client = gather(f"sqlite:///{copy}", WEEK, history_weeks=2, keys=keys)
    # then both take the tag where there is one, and keep the empty name where there is none
    assert_same_tables(by_sql, by_client)
    names = by_sql.tables["runs"].set_index("run_id")["run_name"]
    assert names[small_store.ids["rf_ok"]]  # named by its tag
    assert names[small_store.ids["open"]] == ""


def test_only_the_keys_asked_for_are_kept_and_both_gatherers_agree(small_store: Store) -> None:
    # given a report that needs two tags, no param and one metric
    keys = Keys(
        tags=frozenset({"instance_type", "mlflow.parentRunId"}),
        params=frozenset(),
        metrics=frozenset({"auc"}),
    )
    # when the hand-made week is gathered both ways with those keys
    by_sql = gather_sql(small_store.uri, WEEK, history_weeks=2, keys=keys)
    by_client = gather(small_store.uri, WEEK, history_weeks=2, keys=keys)
    # then both keep exactly those keys, and every run
    assert_same_tables(by_sql, by_client)
    assert set(by_sql.tables["run_tags"]["key"]) == {"instance_type", "mlflow.parentRunId"}
    assert by_sql.tables["run_params"].empty
    assert list(by_sql.tables["run_metrics"]["key"]) == ["auc"]
    everything = gather_sql(small_store.uri, WEEK, history_weeks=2)
    pd.testing.assert_frame_equal(by_sql.tables["runs"], everything.tables["runs"])


def test_the_store_is_read_only_and_left_byte_identical(
    small_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(small_store.path, copy)
    before = _digest(copy)
    monkeypatch.chdir(tmp_path)
    gather_sql(f"sqlite:///{copy}", WEEK, history_weeks=2)
    assert _digest(copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db"]


def test_a_file_that_is_not_an_mlflow_store_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (a INTEGER)")
    with pytest.raises(GatherError, match="no such table: alembic_version"):
        gather_sql(f"sqlite:///{other}", WEEK, history_weeks=1)


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mlflow.db"
    with pytest.raises(UsageError, match="does not exist"):
        gather_sql(f"sqlite:///{missing}", WEEK, history_weeks=1)
    assert not missing.parent.exists()


@pytest.mark.parametrize("uri", ["mysql://u:secret@db/mlflow", "http://127.0.0.1:5000"])
def test_databases_it_does_not_read_are_refused_without_the_password(uri: str) -> None:
    with pytest.raises(UsageError, match="sqlite:/// and postgresql://") as error:
        gather_sql(uri, WEEK, history_weeks=1)
    assert "secret" not in str(error.value)
