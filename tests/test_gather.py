"""Gather against real stores: paging, window filters, read-only sqlite, servers on loopback."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reporter.compute import compute_results
from reporter.config import parse_config
from reporter.errors import GatherError, UsageError
from reporter.gather import gather, gather_sql
from reporter.gather.mlflow_source import strip_credentials
from tests.conftest import RATE_CARD, WEEK, Server, Store, free_port


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("page_size", [1, 4, 50_000])
def test_every_run_in_the_window_is_fetched_whatever_the_page_size(
    small_store: Store, page_size: int
) -> None:
    # given 11 runs overlapping W47-W48 and one in October
    # when gathered with pages of `page_size`
    snapshot = gather(small_store.uri, WEEK, history_weeks=2, page_size=page_size)
    # then exactly the 11 overlapping runs come back, each once
    runs = snapshot.tables["runs"]
    assert len(runs) == 11 and runs["run_id"].is_unique
    assert small_store.ids["old"] not in set(runs["run_id"])
    assert small_store.ids["crossing"] in set(runs["run_id"])
    assert snapshot.info.run_pages >= -(-11 // page_size)


def test_a_run_started_before_the_window_and_still_open_is_fetched(store: Store) -> None:
    # given a run started three weeks before the window and never ended
    from tests.conftest import at

    open_run = store.run("exp", at(2, 9), None, "RUNNING")
    store.run("exp", at(3, 9), at(3, 10))  # ended long before the window
    # when the one-week window is gathered
    snapshot = gather(store.uri, WEEK, history_weeks=1)
    # then only the open run is there
    assert list(snapshot.tables["runs"]["run_id"]) == [open_run]


def test_sqlite_store_is_read_only_and_left_byte_identical(
    small_store: Store, tmp_path: Path, monkeypatch
) -> None:
    # given a copy of a store and a clean working directory
    copy = tmp_path / "copy.db"
    shutil.copy(small_store.path, copy)
    before = _digest(copy)
    monkeypatch.chdir(tmp_path)
    # when it is gathered
    gather(f"sqlite:///{copy}", WEEK, history_weeks=2)
    # then its bytes are unchanged and nothing is left in the working directory
    assert _digest(copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db"]


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mlflow.db"
    with pytest.raises(UsageError, match="does not exist"):
        gather(f"sqlite:///{missing}", WEEK, history_weeks=1)
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize("read", [gather, gather_sql], ids=["client", "sql"])
def test_a_store_of_another_schema_version_is_refused_untouched(
    read, small_store: Store, tmp_path: Path
) -> None:
    # given a store whose schema revision this MLflow does not read
    copy = tmp_path / "old.db"
    shutil.copy(small_store.path, copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
    before = _digest(copy)
    # when either gatherer reads it, then a clear error names the schema, the file unchanged
    with pytest.raises(GatherError, match="schema '0123456789ab'"):
        read(f"sqlite:///{copy}", WEEK, history_weeks=1)
    assert _digest(copy) == before


def test_an_unreachable_server_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(GatherError, match="unreachable"):
        gather(f"http://127.0.0.1:{free_port()}", WEEK, history_weeks=1)
    assert time.monotonic() - started < 30


class _LoginPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def login_proxy() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LoginPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_proxy_login_page_is_an_error_not_zero_runs(login_proxy: str) -> None:
    with pytest.raises(GatherError, match="HTML page"):
        gather(login_proxy, WEEK, history_weeks=1)


def test_credentials_never_reach_the_saved_uri() -> None:
    assert (
        strip_credentials("https://alice:s3cret@mlflow.example.com:8443/path?token=abc")
        == "https://mlflow.example.com:8443/path"
    )
    assert strip_credentials("sqlite:////data/mlflow.db?mode=ro") == "sqlite:////data/mlflow.db"


def test_http_gather_matches_the_sqlite_gather(small_store: Store, small_server: Server) -> None:
    # given the same store behind `mlflow server` and as a sqlite file
    config = parse_config(RATE_CARD)
    # when both are gathered
    over_http = gather(small_server.url, WEEK, history_weeks=2, page_size=2)
    local = gather(small_store.uri, WEEK, history_weeks=2)
    # then the runs, aliases (int over both) and every figure are the same
    assert set(over_http.tables["runs"]["run_id"]) == set(local.tables["runs"]["run_id"])
    assert over_http.tables["aliases"].equals(local.tables["aliases"])
    assert over_http.info.mlflow_server_version
    http_results = compute_results(over_http, config).model_dump(
        exclude={"completeness", "tracking_uri", "generated_at"}
    )
    local_results = compute_results(local, config).model_dump(
        exclude={"completeness", "tracking_uri", "generated_at"}
    )
    assert http_results == local_results
