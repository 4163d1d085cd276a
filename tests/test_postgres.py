"""PostgreSQL as MLflow's backend store: a full build over HTTP against a real `mlflow server`,
and the direct SQL gatherer on the same database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from reporter.errors import GatherError
from reporter.gather import gather, gather_sql
from reporter.gather.sql_source import _read_only
from tests.conftest import RATE_CARD, WEEK, Server
from tests.pg import PostgresStore


def test_a_full_build_over_http_against_a_postgres_backed_server(
    pg_server: Server, tmp_path: Path
) -> None:
    # given the hand-made week in PostgreSQL, behind a real mlflow server
    config = tmp_path / "reporter.yaml"
    config.write_text(yaml.safe_dump(RATE_CARD))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # when the report is built over HTTP, as a user runs it
    arguments = ["--week", "2026-W48", "--history-weeks", "2", "--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-m", "reporter", "build", "--tracking-uri", pg_server.url, *arguments],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    # then the report is written, with the figures worked out by hand for that week
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "reports" / "2026-W48"
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["cost"]["total"] == 32.75
    assert kpis["runs"]["total"] == 9
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize("history_weeks", [1, 2])
def test_sql_gather_on_postgres_gives_the_tables_of_the_gather_over_http(
    pg_store: PostgresStore, pg_server: Server, history_weeks: int
) -> None:
    # given one PostgreSQL database, read by SQL and through the mlflow server in front of it
    by_sql = gather_sql(pg_store.db_uri, WEEK, history_weeks)
    over_http = gather(pg_server.url, WEEK, history_weeks, page_size=3)
    # then every table is identical, and so are those of MLflow's client on the database
    direct = gather(pg_store.db_uri, WEEK, history_weeks)
    for name, table in over_http.tables.items():
        pd.testing.assert_frame_equal(by_sql.tables[name], table, obj=name)
        pd.testing.assert_frame_equal(by_sql.tables[name], direct.tables[name], obj=name)
    assert len(by_sql.tables["runs"]) == (10 if history_weeks == 1 else 11)


def test_the_sql_gatherer_reads_postgres_in_read_only_transactions(
    pg_store: PostgresStore,
) -> None:
    # given the SQL gatherer's connection to a PostgreSQL database
    with _read_only(pg_store.db_uri) as db:
        # then its transaction is read-only
        assert list(db.rows("SELECT current_setting('transaction_read_only')")) == [[("on",)]]
    # and even a query that would change the database is refused by PostgreSQL
    with pytest.raises(GatherError, match="read-only transaction"), _read_only(pg_store.db_uri) as db:  # fmt: skip
        list(db.rows("SELECT nextval('experiments_experiment_id_seq')"))


def test_an_unknown_schema_revision_in_postgres_is_refused_untouched(postgres_uri: str) -> None:
    # given a database whose schema revision is not the one this MLflow creates
    import psycopg2

    server = "postgresql://" + postgres_uri.split("://", 1)[1].rsplit("/", 1)[0]
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE other_revision")
    admin.close()
    with psycopg2.connect(f"{server}/other_revision") as db, db.cursor() as cursor:
        cursor.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        cursor.execute("INSERT INTO alembic_version VALUES ('0123456789ab')")
    # when it is gathered by SQL, then it is refused by name, before any other table is read
    with pytest.raises(GatherError, match="schema '0123456789ab'"):
        gather_sql(f"{server}/other_revision", WEEK, history_weeks=1)
