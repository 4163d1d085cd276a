"""What the benchmark times. Each measurement runs in a fresh process, so its peak RSS is its own
and no cache or import of an earlier measurement flatters it."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.store import Plan
from reporter.weeks import IsoWeek

Result = dict[str, Any]
# A window no run falls in: a first, untimed read through it pays every one-off cost (imports,
# engines, schema checks, connections), so that the timed reads measure the steady state.
_EMPTY = Plan(runs=0, window_runs=0, week=IsoWeek(2001, 1), history_weeks=1)
_KEYED_TABLES = ("run_tags", "run_params", "run_metrics")


def in_child(function: Callable[..., Result], *args: Any) -> Result:
    """`function(*args)` in a new process; its result gains `peak_rss_mb`, that process's peak."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_with_peak_rss, function, args).result()


def _with_peak_rss(function: Callable[..., Result], args: tuple) -> Result:
    result = function(*args)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program (Linux's VmHWM). Not ru_maxrss:
    across fork and exec that keeps the parent's peak, so a child would inherit the harness's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (the harness measures memory on Linux)")


def best_of(repeat: int, function: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of `repeat` timed calls, and the last call's result."""
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return min(times), value


def window_predicate(plan: Plan) -> str:
    """The window as plain SQL, written independently of the gatherers it checks."""
    start, end = plan.history_start_ms, plan.week.end_ms
    return (
        "e.lifecycle_stage = 'active' AND r.lifecycle_stage = 'active' AND ("
        f"(r.start_time >= {start} AND r.start_time < {end}) OR "
        f"(r.start_time < {start} AND (r.end_time >= {start} OR r.status = 'RUNNING')))"
    )


def raw_sql_read(db_uri: str, plan: Plan) -> set[str]:
    """The floor: the window's runs, tags, params and latest metrics with plain DB-API calls
    into pandas frames (no dtypes, no order, no checks); returns the run ids."""
    import pandas as pd

    experiment = "JOIN experiments e ON e.experiment_id = r.experiment_id"
    queries = [
        f"SELECT r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, "
        f"r.end_time FROM runs r {experiment} WHERE {window_predicate(plan)}",
        *(
            f"SELECT t.run_uuid, t.key, t.value FROM {table} t JOIN runs r "
            f"ON r.run_uuid = t.run_uuid {experiment} WHERE {window_predicate(plan)}"
            for table in ("tags", "params", "latest_metrics")
        ),
    ]
    connection = _connect(db_uri)
    try:
        cursor = connection.cursor()
        frames = []
        for query in queries:
            cursor.execute(query)
            frames.append(pd.DataFrame.from_records(cursor.fetchall()))
    finally:
        connection.close()
    return set(frames[0][0])


def _connect(db_uri: str):
    if db_uri.startswith("sqlite:///"):
        path = Path(db_uri.removeprefix("sqlite:///"))
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    import psycopg2

    return psycopg2.connect("postgresql://" + db_uri.split("://", 1)[1])


def search_runs_ids(tracking_uri: str, plan: Plan) -> set[str]:
    """`mlflow.search_runs` (MLflow's DataFrame API) over the same three window filters."""
    import mlflow

    from reporter.gather.mlflow_source import window_filters

    mlflow.set_tracking_uri(tracking_uri)
    ids: set[str] = set()
    for filter_string in window_filters(plan.history_start_ms, plan.week.end_ms):
        frame = mlflow.search_runs(
            search_all_experiments=True, filter_string=filter_string, max_results=10_000_000
        )
        if len(frame):
            ids |= set(frame["run_id"])
    return ids


def _client_uri(db_uri: str) -> str:
    """What MLflow's client is given: sqlite read-only, as the reporter itself opens it."""
    from reporter.gather.mlflow_source import read_only_sqlite_uri, sqlite_path

    path = sqlite_path(db_uri)
    return db_uri if path is None else read_only_sqlite_uri(path)


def window_reads(db_uri: str, plan: Plan, repeat: int, client: bool) -> Result:
    """Raw SQL, the SQL gatherer and (if `client`) the client gather and `mlflow.search_runs`
    over the same window of one store; checks they all return the same runs, and that both
    gatherers return identical tables."""
    import pandas as pd

    from reporter.gather import gather
    from reporter.gather.sql_source import gather_sql

    raw_sql_read(db_uri, plan)  # warm the database's cache, as any later read finds it
    gather_sql(db_uri, _EMPTY.week, _EMPTY.history_weeks)
    result: Result = {}
    result["raw_sql_s"], raw_ids = best_of(repeat, lambda: raw_sql_read(db_uri, plan))
    result["gather_sql_s"], by_sql = best_of(
        repeat, lambda: gather_sql(db_uri, plan.week, plan.history_weeks)
    )
    sql_ids = set(by_sql.tables["runs"]["run_id"])
    assert sql_ids == raw_ids, "the SQL gatherer and the raw SQL read disagree"
    result["runs"] = len(sql_ids)
    if client:
        uri = _client_uri(db_uri)
        gather(uri, _EMPTY.week, _EMPTY.history_weeks)
        search_runs_ids(uri, _EMPTY)
        result["gather_client_s"], by_client = best_of(
            repeat, lambda: gather(uri, plan.week, plan.history_weeks)
        )
        for name, table in by_client.tables.items():
            pd.testing.assert_frame_equal(by_sql.tables[name], table, obj=name)
        result["search_runs_s"], search_ids = best_of(repeat, lambda: search_runs_ids(uri, plan))
        assert search_ids == sql_ids, "mlflow.search_runs and the gatherers disagree"
    return result


def http_reads(server_url: str, db_uri: str, plan: Plan, repeat: int) -> Result:
    """Our gather over HTTP (concurrent, and one search at a time) against
    `mlflow.search_runs` over the same server and window; all must return the same runs as
    the SQL gatherer on the server's own database."""
    import pandas as pd

    from reporter.gather import gather
    from reporter.gather.mlflow_source import DEFAULT_CONCURRENCY
    from reporter.gather.sql_source import gather_sql

    by_sql = gather_sql(db_uri, plan.week, plan.history_weeks)
    gather(server_url, _EMPTY.week, _EMPTY.history_weeks)
    search_runs_ids(server_url, _EMPTY)
    result: Result = {"runs": len(by_sql.tables["runs"]), "concurrency": DEFAULT_CONCURRENCY}
    for key, concurrency in (("gather_http_s", DEFAULT_CONCURRENCY), ("gather_http_1_s", 1)):
        result[key], snapshot = best_of(
            repeat,
            lambda c=concurrency: gather(server_url, plan.week, plan.history_weeks, concurrency=c),
        )
        for name in ("runs", "run_tags", "run_params", "run_metrics"):
            pd.testing.assert_frame_equal(by_sql.tables[name], snapshot.tables[name], obj=name)
    result["search_runs_http_s"], ids = best_of(repeat, lambda: search_runs_ids(server_url, plan))
    assert ids == set(by_sql.tables["runs"]["run_id"]), "mlflow.search_runs over HTTP disagrees"
    return result


def keys_cover_the_report(db_uri: str, plan: Plan, config_path: Path) -> Result:
    """Checks that a window gathered with only `report_keys` gives the same report figures."""
    from reporter.compute import compute_results, report_keys
    from reporter.config import load_config
    from reporter.gather.sql_source import gather_sql

    config, now = load_config(config_path), datetime.now(UTC)
    full = gather_sql(db_uri, plan.week, plan.history_weeks, now=now)
    narrow = gather_sql(db_uri, plan.week, plan.history_weeks, now=now, keys=report_keys(config))
    same = (
        compute_results(full, config).model_dump() == compute_results(narrow, config).model_dump()
    )
    assert same, "report_keys misses a key the report reads: update reporter.compute.report_keys"
    rows = {n: (len(full.tables[n]), len(narrow.tables[n])) for n in _KEYED_TABLES}
    return {"rows_all_and_report_keys": rows}


def stages(
    db_uri: str, plan: Plan, config_path: Path, with_snapshot: bool, only_report_keys: bool
) -> Result:
    """Every stage of the job on one window: gather (SQL; every key, or only those the report
    reads), compute, charts, HTML, PDF and, if asked, snapshot.json; with the peak RSS
    reached by the end of each stage."""
    from reporter.compute import charge_lines, compute_results, report_keys
    from reporter.config import load_config
    from reporter.export.pdf import export_pdf
    from reporter.gather.snapshot import save_snapshot
    from reporter.gather.sql_source import gather_sql
    from reporter.render.html import export_html
    from reporter.render.report import build_context

    config = load_config(config_path)
    keys = report_keys(config) if only_report_keys else None
    result: Result = {}

    def stage(name: str, function: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = function()
        result[f"{name}_s"] = time.perf_counter() - started
        result[f"{name}_rss_mb"] = peak_rss_mb()
        return value

    gather_sql(db_uri, _EMPTY.week, _EMPTY.history_weeks)  # imports and schema check, untimed
    snapshot = stage("gather", lambda: gather_sql(db_uri, plan.week, plan.history_weeks, keys=keys))
    result["runs"] = len(snapshot.tables["runs"])
    result["tag_param_metric_rows"] = sum(len(snapshot.tables[n]) for n in _KEYED_TABLES)
    results = stage(
        "compute", lambda: compute_results(snapshot, config, charge_lines(snapshot, config))
    )
    context, _ = stage("charts", lambda: build_context(results, config))
    html = stage("html", lambda: export_html(context))
    stage("pdf", lambda: export_pdf(html))
    if with_snapshot:
        with tempfile.TemporaryFile() as file:  # streamed to a file, as the job writes it
            stage("snapshot", lambda: save_snapshot(snapshot, file))
    return result


def demo_end_to_end(store_dir: Path, config_path: Path) -> Result:
    """`reporter build` on the demo store as a user runs it: a new process, browser start
    included; the store is seeded first (untimed) if the folder does not hold it yet."""
    from reporter.demo import ensure_demo_store
    from reporter.weeks import IsoWeek

    week = IsoWeek(2026, 48)
    uri = ensure_demo_store(store_dir, week)
    with tempfile.TemporaryDirectory(prefix="reporter-bench-out-") as out:
        command = [sys.executable, "-m", "reporter", "build", "--tracking-uri", uri]
        command += ["--week", str(week), "--config", str(config_path), "--out", out]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        seconds = time.perf_counter() - started
    return {"demo_build_s": seconds}


def chart_rendering(tracking_uri: str, week: str, config_path: Path, repeat: int) -> Result:
    """The report's charts (SVG, plus the email's PNG copies) against the cost of a browser.

    Side by side, best of `repeat`: `start_s`, one trivial figure in a new session (process,
    Chromium and plotly.js start); `all_s`, every image of the report in one new session;
    `ahead_s`, the same with the session started `start_s` + 2 s earlier, as the job starts
    it before gathering. `per_image_s` = (all_s - start_s) / (images - 1).
    """
    import plotly.graph_objects as go

    from reporter.compute import compute_results
    from reporter.config import load_config
    from reporter.gather import gather
    from reporter.render.browser import ChartBrowser
    from reporter.render.charts import BROWSER_TIMEOUT_S, build_charts, render_static
    from reporter.render.report import EMAIL_CHARTS

    config = load_config(config_path)
    snapshot = gather(tracking_uri, IsoWeek.parse(week), 12)
    charts = build_charts(compute_results(snapshot, config), config.top_n)
    png_for = {i for i, chart in enumerate(charts) if chart.id in EMAIL_CHARTS}
    figures = [chart.figure for chart in charts]
    images = len(figures) + len(png_for)

    start_s, _ = best_of(repeat, lambda: render_static([go.Figure(go.Bar(x=["a"], y=[1]))]))
    all_s, (svgs, pngs) = best_of(repeat, lambda: render_static(figures, png_for))
    assert len(svgs) == len(figures) and len(pngs) == len(png_for)

    def ahead() -> float:
        browser = ChartBrowser(BROWSER_TIMEOUT_S)
        time.sleep(start_s + 2)
        started = time.perf_counter()
        render_static(figures, png_for, browser=browser)
        return time.perf_counter() - started

    ahead_s = min(ahead() for _ in range(repeat))
    return {
        "figures": len(figures),
        "images": images,
        "start_s": start_s,
        "all_s": all_s,
        "ahead_s": ahead_s,
        "per_image_s": (all_s - start_s) / (images - 1),
    }
