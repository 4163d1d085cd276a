"""A real PostgreSQL for the tests: one throwaway server per session, holding the hand-made
week written through MLflow's client, served by a real `mlflow server`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

import tests.conftest as conftest
from bench.postgres import temporary_postgres
from tests.conftest import Server, Store, seed_small_week, start_mlflow_server, stop_server


@dataclass
class PostgresStore(Store):
    """The conftest Store, writing to PostgreSQL instead of a sqlite file."""

    db_uri: str = ""

    @property
    def uri(self) -> str:
        return self.db_uri


def _backdate_in_postgres(store: PostgresStore, name: str, version: int, created_ms: int) -> None:
    """conftest.backdate_version, for PostgreSQL (MLflow's client cannot backdate versions)."""
    import psycopg2

    with psycopg2.connect("postgresql://" + store.db_uri.split("://", 1)[1]) as db, db.cursor() as cursor:  # fmt: skip
        cursor.execute(
            "UPDATE model_versions SET creation_time = %s, last_updated_time = %s "
            "WHERE name = %s AND version = %s",
            (created_ms, created_ms, name, version),
        )


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for this session; stopped and deleted afterwards."""
    with temporary_postgres("mlflow") as uri:
        yield uri


@pytest.fixture(scope="session")
def pg_store(postgres_uri: str, tmp_path_factory: pytest.TempPathFactory) -> PostgresStore:
    """The hand-made week of `seed_small_week`, written into PostgreSQL by MLflow's client."""
    folder = tmp_path_factory.mktemp("pg-store")
    store = PostgresStore(
        path=folder / "unused.db",
        client=MlflowClient(tracking_uri=postgres_uri, registry_uri=postgres_uri),
        db_uri=postgres_uri,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conftest, "backdate_version", _backdate_in_postgres)
        store.ids = seed_small_week(store)  # type: ignore[attr-defined]
    return store


@pytest.fixture(scope="session")
def pg_server(
    pg_store: PostgresStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real `mlflow server` whose backend store is that PostgreSQL database."""
    folder: Path = tmp_path_factory.mktemp("pg-server")
    server = start_mlflow_server(pg_store.db_uri, folder / "artifacts", folder / "server.log")
    yield server
    stop_server(server)
