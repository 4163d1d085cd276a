"""Faults and bad input, stage by stage: a clear error or a report that says what is missing."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from reporter.compute import compute_results
from reporter.config import parse_config
from reporter.errors import GatherError
from reporter.gather import gather
from reporter.job import export_report
from tests.conftest import RATE_CARD, WEEK, Server, Store, at

# --- MLflow answers badly ---------------------------------------------------------------


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards to a real mlflow server, except that the next requests are answered as
    `script` says: (status, headers) to answer with an error, None to forward."""

    upstream = ""
    script: list[tuple[int, dict[str, str]] | None] = []  # noqa: RUF012 (set per test)
    seen: list[str] = []  # noqa: RUF012

    def _handle(self) -> None:
        _Proxy.seen.append(f"{self.command} {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        step = _Proxy.script.pop(0) if _Proxy.script else None
        if step is not None:
            status, headers = step
            payload = json.dumps(
                {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}
            ).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        host, port = self.upstream.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(small_server: Server) -> Iterator[str]:
    _Proxy.upstream, _Proxy.script, _Proxy.seen = small_server.url, [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_503_twice_then_200_succeeds(proxy: str, small_store: Store, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    # given a server whose first two API answers after the probe (2 requests) are 503
    _Proxy.script = [None, None, (503, {}), (503, {})]
    # when the window is gathered, then the retries succeed with every run
    snapshot = gather(proxy, WEEK, history_weeks=2)
    expected = gather(small_store.uri, WEEK, history_weeks=2)
    assert set(snapshot.tables["runs"]["run_id"]) == set(expected.tables["runs"]["run_id"])
    assert sum(line.startswith("POST") or "search" in line for line in _Proxy.seen) >= 4


def test_always_503_is_a_clean_failure(proxy: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    _Proxy.script = [(503, {})] * 50
    started = time.monotonic()
    with pytest.raises(GatherError) as caught:
        gather(proxy, WEEK, history_weeks=2)
    assert "\n" not in str(caught.value) and time.monotonic() - started < 60


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_make_one_request_and_print_no_secret(
    proxy: str, status: int, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token-value")
    _Proxy.script = [(status, {})] * 10
    with pytest.raises(GatherError, match="authentication") as caught:
        gather(proxy, WEEK, history_weeks=2)
    assert len(_Proxy.seen) == 1
    assert "s3cret" not in str(caught.value)


# --- odd data --------------------------------------------------------------------------


def test_an_empty_store_gives_a_report_that_says_so(store: Store) -> None:
    store.client.search_experiments()  # creates the empty store
    files = export_report(gather(store.uri, WEEK, history_weeks=12), parse_config(RATE_CARD))
    page = BeautifulSoup(files["report.html"], "html.parser")
    assert "No runs started in 2026-W48." in page.find(class_="alerts").get_text()
    kpis = json.loads(files["kpis.json"])
    assert kpis["runs"]["total"] == 0 and kpis["cost"]["total"] == 0.0


def test_deleted_runs_and_experiments_are_left_out(store: Store) -> None:
    kept = store.run("kept", at(24, 9), at(24, 10))
    gone = store.run("kept", at(24, 9), at(24, 10))
    store.run("deleted-experiment", at(24, 9), at(24, 10))
    store.client.delete_run(gone)
    store.client.delete_experiment(store.experiments["deleted-experiment"])
    snapshot = gather(store.uri, WEEK, history_weeks=1)
    assert list(snapshot.tables["runs"]["run_id"]) == [kept]
    assert compute_results(snapshot, parse_config({})).completeness.view_type == "ACTIVE_ONLY"


def test_a_run_inserted_between_two_pages_is_counted_once(store: Store, monkeypatch) -> None:
    from mlflow import MlflowClient

    for hour in range(8, 14):
        store.run("exp", at(24, hour), at(24, hour + 0.5))
    real_search = MlflowClient.search_runs
    inserted: list[str] = []

    def search_then_insert(self, *args, **kwargs):
        page = real_search(self, *args, **kwargs)
        if not inserted and page.token:  # a run arrives while we page (the newest sorts first)
            inserted.append(store.run("exp", at(24, 20), at(24, 21)))
        return page

    monkeypatch.setattr(MlflowClient, "search_runs", search_then_insert)
    snapshot = gather(store.uri, WEEK, history_weeks=1, page_size=2)
    run_ids = list(snapshot.tables["runs"]["run_id"])
    assert len(run_ids) == len(set(run_ids)) == 7 and inserted[0] in run_ids


def test_long_and_strange_tag_values_are_cut_in_tables_and_whole_in_kpis_json(store: Store) -> None:
    strange = "é" * 7990 + "\nline\0nul עברית 🚀"
    store.experiment("exp", team=strange)
    store.run("exp", at(24, 9), at(24, 10), tags={"instance_type": "m5.xlarge"})
    files = export_report(gather(store.uri, WEEK, history_weeks=1), parse_config(RATE_CARD))
    kpis = json.loads(files["kpis.json"])
    assert kpis["cost"]["by_team"][0]["name"] == strange
    page = BeautifulSoup(files["report.html"], "html.parser")
    cells = [td.get_text() for td in page.find(id="costs").find_all("td")]
    shown = next(c for c in cells if c.startswith("éé"))
    assert len(shown) == 60 and shown.endswith("…")


def test_invalid_config_values_name_the_key() -> None:
    from reporter.errors import ConfigError

    cases = {
        "rate_card.rules.0.rate": {
            "rate_card": {"rules": [{"tag": "a", "value": "b", "rate": -1}]}
        },
        "rate_card.currency": {"rate_card": {"currency": "EUD"}},
        "deployments.aliases": {"deployments": {"aliases": []}},
        "kpis.0.aggregate": {
            "kpis": [{"name": "k", "metric": "m", "experiment": "e", "aggregate": "median"}]
        },
        "rate_card.default_rat": {"rate_card": {"default_rat": 1}},
    }
    for key, raw in cases.items():
        with pytest.raises(ConfigError, match=f"'{key}'"):
            parse_config(raw)


# --- the browser -------------------------------------------------------------------------


def test_a_missing_browser_is_a_clear_error_within_seconds(monkeypatch, tmp_path: Path) -> None:
    import plotly.graph_objects as go

    from reporter.errors import RenderError
    from reporter.render.charts import render_static

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    started = time.monotonic()
    with pytest.raises(RenderError, match="apt-get install chromium"):
        render_static([go.Figure()])
    assert time.monotonic() - started < 10


def test_a_hanging_browser_is_stopped_and_leaves_no_process(monkeypatch, tmp_path: Path) -> None:
    import subprocess

    import plotly.graph_objects as go

    from reporter.errors import RenderError
    from reporter.render.charts import render_static

    fake = tmp_path / "hanging-chrome"
    fake.write_text("#!/bin/sh\nexec sleep 987\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    started = time.monotonic()
    with pytest.raises(RenderError):
        render_static([go.Figure()], timeout_s=8)
    assert time.monotonic() - started < 30
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "sleep 987"], capture_output=True, text=True).stdout
    assert left == ""


def _copy_run(store: Store, run_id: str, copies: int) -> None:
    """Bulk-copy a run written by MLflow's client, SQL side (the client writes ~40 runs/s)."""
    import sqlite3

    with sqlite3.connect(store.path) as db:
        db.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,
                status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,
                experiment_id, deleted_time)
            SELECT printf('%032x', i), name || '-' || i, source_type, source_name, entry_point_name,
                user_id, status, start_time + i, end_time + i, source_version, lifecycle_stage,
                artifact_uri, experiment_id, deleted_time
            FROM runs, n WHERE run_uuid = ?""",
            (copies, run_id),
        )


def test_1001_runs_in_the_window_are_all_counted(store: Store) -> None:
    # given 1,001 runs in the week: one past MLflow's silent 1,000-run default page
    _copy_run(store, store.run("exp", at(24, 9), at(24, 10)), 1000)
    # when gathered with the default page size, and with pages of 1,000
    for page_size in (10_000, 1_000):
        snapshot = gather(store.uri, WEEK, history_weeks=1, page_size=page_size)
        assert len(snapshot.tables["runs"]) == 1001
    assert compute_results(snapshot, parse_config({})).runs.total == 1001


def test_100001_runs_in_the_window_are_all_counted(store: Store) -> None:
    from reporter.gather import gather_sql

    # given 100,001 runs in the week: a hundred times MLflow's default page
    _copy_run(store, store.run("exp", at(24, 9), at(24, 10)), 100_000)
    # when gathered through MLflow's client with the default page size, and by SQL
    paged = gather(store.uri, WEEK, history_weeks=1)
    direct = gather_sql(store.uri, WEEK, history_weeks=1)
    # then every run is there once, in both, and the report counts them all
    assert paged.tables["runs"]["run_id"].is_unique
    assert len(paged.tables["runs"]) == 100_001
    assert paged.info.run_pages > 100_001 // paged.info.page_size
    assert set(paged.tables["runs"]["run_id"]) == set(direct.tables["runs"]["run_id"])
    assert compute_results(paged, parse_config({})).runs.total == 100_001


def test_names_in_any_script_reach_the_pdf_text(store: Store, tmp_path: Path) -> None:
    import subprocess

    names = ["推荐系统", "توصية المنتجات", "Café Müller", "Ελληνικά"]
    for name in names:
        store.run(name, at(24, 9), at(24, 10), tags={"instance_type": "m5.xlarge"})
    files = export_report(gather(store.uri, WEEK, history_weeks=1), parse_config(RATE_CARD))
    (tmp_path / "r.pdf").write_bytes(files["report.pdf"])
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for name in names:
        assert name in text, name


def test_ten_thousand_rows_show_the_top_n_and_a_count(small_store: Store) -> None:
    from reporter.compute.results import Amount
    from reporter.render.context import ReportContext
    from reporter.render.html import export_html

    results = compute_results(
        gather(small_store.uri, WEEK, history_weeks=2), parse_config(RATE_CARD)
    )
    many = [Amount(name=f"experiment-{i:05d}", cost=1.0) for i in range(10_000)]
    results = results.model_copy(
        update={"cost": results.cost.model_copy(update={"by_experiment": many})}
    )
    context = ReportContext(
        title="t", week=results.week, results=results, charts=_charts_stub(), alerts=[], top_n=10
    )
    page = BeautifulSoup(export_html(context), "html.parser")
    table = next(
        t for t in page.find(id="costs").find_all("table") if t.th.get_text() == "Experiment"
    )
    rows = table.tbody.find_all("tr")
    assert len(rows) == 11 and rows[-1].td.get_text() == "and 9990 more"


def _charts_stub() -> dict:
    from reporter.render.context import ChartImage

    ids = [
        "cost-per-week",
        "cost-by-instance-type",
        "waste-share",
        "runs-by-status",
        "deployments-per-week",
        "top-estimators",
        "kpi-trends",
    ]
    return {i: ChartImage(id=i, title=i, alt=i, src="data:image/svg+xml;base64,") for i in ids}
