"""Throwaway MLflow stores written with MLflow's real client, and a real `mlflow server`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient

from reporter.weeks import IsoWeek, to_ms

WEEK = IsoWeek(2026, 48)  # Mon 2026-11-23 00:00 UTC .. Mon 2026-11-30 00:00 UTC


def at(day: int, hour: float = 0.0, month: int = 11, year: int = 2026) -> int:
    """Epoch ms of a UTC moment in the test week's month; `hour` may be fractional."""
    whole = int(hour)
    minutes = round((hour - whole) * 60)
    return to_ms(datetime(year, month, day, whole, minutes, tzinfo=UTC))


@dataclass
class Store:
    """A sqlite MLflow store under tmp_path, written through MLflow's own client."""

    path: Path
    client: MlflowClient
    experiments: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path}"

    def experiment(self, name: str, **tags: str) -> str:
        if name not in self.experiments:
            artifacts = (self.path.parent / "artifacts" / name).as_uri()
            self.experiments[name] = self.client.create_experiment(
                name, artifact_location=artifacts, tags=tags
            )
        return self.experiments[name]

    def run(
        self,
        experiment: str,
        start: int,
        end: int | None,
        status: str = "FINISHED",
        name: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> str:
        """A run from `start` to `end` (epoch ms); `end=None` leaves it open (RUNNING)."""
        from mlflow.entities import Metric, Param, RunTag

        run = self.client.create_run(
            self.experiment(experiment), start_time=start, tags=tags or {}, run_name=name
        )
        run_id = run.info.run_id
        if params or metrics:
            self.client.log_batch(
                run_id,
                params=[Param(k, v) for k, v in (params or {}).items()],
                metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
                tags=[RunTag(k, v) for k, v in (tags or {}).items()],
            )
        if end is not None:
            self.client.set_terminated(run_id, status=status, end_time=end)
        elif status != "RUNNING":
            self.client.update_run(run_id, status=status)
        return run_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    path = tmp_path / "mlflow.db"
    return Store(path=path, client=MlflowClient(tracking_uri=f"sqlite:///{path}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen


def start_mlflow_server(backend_uri: str, artifacts: Path, log: Path) -> Server:
    """`mlflow server` on 127.0.0.1 at a free port; waits until /health answers."""
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        artifacts.as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return Server(url, process)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"mlflow server did not start: {log.read_text()[-2000:]}")


def stop_server(server: Server) -> None:
    os.killpg(server.process.pid, 15)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, 9)


def backdate_version(store: Store, name: str, version: int, created_ms: int) -> None:
    """MLflow stamps versions with the current time and its client cannot change it."""
    import sqlite3

    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE model_versions SET creation_time = ?, last_updated_time = ? WHERE name = ? AND version = ?",
            (created_ms, created_ms, name, version),
        )


RATE_CARD = {
    "rate_card": {
        "currency": "EUR",
        "rules": [
            {"tag": "instance_type", "value": "m5.xlarge", "rate": 0.5},
            {"tag": "instance_type", "value": "g5.2xlarge", "rate": 2.0},
        ],
        "instance_count_key": "num_nodes",
        "max_open_run_hours": 24,
    }
}

RF = "sklearn.ensemble._forest.RandomForestClassifier"


def seed_small_week(store: Store) -> dict[str, str]:
    """A hand-made 2026-W48 (and a bit of W47) whose figures are worked out in the tests.

    With RATE_CARD (m5.xlarge 0.5/h, g5.2xlarge 2.0/h, no default):
      W48 runs by start: 9 (6 FINISHED, 1 FAILED, 1 KILLED, 1 RUNNING); W47: 2 FINISHED.
      W48 cost: 1.00 + 0.75 + 16.00 + 2.00 + 0 (unpriced) + 8.00 + 4.00 + 1.00 = 32.75 EUR
      W47 cost: 1.00 + 2.00 = 3.00 EUR.
    """
    store.experiment("fraud", team="risk")
    store.experiment("ranker", team="search")
    store.experiment("misc")
    m5, g5 = {"instance_type": "m5.xlarge"}, {"instance_type": "g5.2xlarge"}
    ids = {}
    ids["rf_ok"] = store.run(
        "fraud", at(24, 10), at(24, 12), tags={**m5, "estimator_class": RF}, metrics={"auc": 0.91}
    )
    ids["rf_failed"] = store.run(
        "fraud", at(24, 13), at(24, 14.5), "FAILED", tags={**m5, "estimator_class": RF}
    )
    ids["lgbm_2_nodes"] = store.run(
        "ranker",
        at(25, 9),
        at(25, 13),
        tags={**g5, "estimator_name": "LGBMRanker", "num_nodes": "2"},
    )
    ids["lgbm_killed"] = store.run(
        "ranker", at(26, 9), at(26, 10), "KILLED", tags={**g5, "estimator_name": "LGBMRanker"}
    )
    ids["unpriced"] = store.run(
        "misc", at(27, 8), at(27, 11), name="onprem-train", tags={"instance_type": "custom-gpu"}
    )
    ids["open"] = store.run("ranker", at(29, 20), None, "RUNNING", tags=g5)
    parent = store.run(
        "ranker",
        at(25, 14),
        at(25, 16),
        name="tune",
        tags={**g5, "estimator_class": "sklearn.model_selection._search.GridSearchCV"},
    )
    ids["parent"] = parent
    for start, end in (
        (at(25, 14 + 10 / 60), at(25, 14 + 50 / 60)),
        (at(25, 15), at(25, 15 + 50 / 60)),
    ):
        store.run(
            "ranker", start, end, tags={**g5, "estimator_class": RF, "mlflow.parentRunId": parent}
        )
    ids["crossing"] = store.run("fraud", at(22, 22), at(23, 2), tags=m5)
    ids["last_week"] = store.run("fraud", at(17, 10), at(17, 14), tags=m5)
    ids["old"] = store.run(
        "fraud", at(2, 10, month=10), at(2, 11, month=10), tags=m5
    )  # before a 2-week history

    client = store.client
    client.create_registered_model("fraud-detector")
    client.create_model_version("fraud-detector", source="runs:/x/model", run_id=ids["last_week"])
    client.create_model_version("fraud-detector", source="runs:/x/model", run_id=ids["rf_ok"])
    client.set_registered_model_alias("fraud-detector", "champion", 2)
    backdate_version(store, "fraud-detector", 1, at(18, 9))
    backdate_version(store, "fraud-detector", 2, at(24, 15))
    return ids


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The hand-made week of `seed_small_week`, written once per test session; read-only."""
    path = tmp_path_factory.mktemp("small") / "mlflow.db"
    built = Store(path=path, client=MlflowClient(tracking_uri=f"sqlite:///{path}"))
    built.ids = seed_small_week(built)  # type: ignore[attr-defined]
    return built


@pytest.fixture(scope="session")
def small_server(small_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `mlflow server` on 127.0.0.1 serving a copy of the hand-made week."""
    import shutil

    folder = tmp_path_factory.mktemp("server")
    shutil.copy(small_store.path, folder / "mlflow.db")
    server = start_mlflow_server(
        f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", folder / "server.log"
    )
    yield server
    stop_server(server)


# A real PostgreSQL, its hand-made week and an mlflow server in front of it (see tests/pg.py).
from tests.pg import pg_server, pg_store, postgres_uri  # noqa: E402, F401
