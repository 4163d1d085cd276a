"""`python -m bench`: build large stores, time every stage, print ratios measured in one run.

Default (about five minutes on 2 cores the first time, stores are then reused): sqlite stores
of 10k and 100k runs holding the same 10k-run window, each read four ways (raw SQL, the SQL
gatherer, the client gather, `mlflow.search_runs`) and over HTTP (`mlflow server` with 4
workers: our gather against `mlflow.search_runs`); the job's stages on the window; the demo
report end to end. `--big` adds a 1M-run store and a 1M-run window (peak RSS of the whole
job); `--postgres` repeats the reads with PostgreSQL as the backend store. See
docs/performance.md for results and method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.measure import (
    Result,
    chart_rendering,
    demo_end_to_end,
    http_reads,
    in_child,
    keys_cover_the_report,
    stages,
    window_reads,
)
from bench.store import Plan, build_store, copy_runs, write_templates
from reporter.demo import ensure_demo_store
from reporter.weeks import IsoWeek

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "reporter" / "demo.yaml"
DEMO_WEEK = IsoWeek(2026, 48)
MB_LIMIT = 2048
READS_HEADER = (
    f"{'store':>10} {'runs':>8} {'raw SQL':>8} {'gather_sql':>11} {'client':>8} "
    f"{'search_runs':>12} {'RSS MB':>7}"
)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(args.sizes) | ({1_000_000} if args.big else set()))
    command = sys.argv[1:] if argv is None else argv
    results: dict[str, Any] = {"machine": _machine(), "command": command}
    say(f"machine: {results['machine']}")
    say(f"stores in {folder} (reused when already built); times are the best of {args.repeat}")

    if sizes:
        say("\n== stores (sqlite), built through MLflow's client + INSERT ... SELECT ==")
    stores = {size: _sqlite_store(folder, Plan(size, args.window)) for size in sizes}

    if sizes:
        say(f"\n== window reads: {args.window:,}-run window (seconds; peak RSS of the process) ==")
        say(READS_HEADER)
    reads = results["reads"] = {}
    for size, uri in stores.items():
        reads[size] = in_child(window_reads, uri, Plan(size, args.window), args.repeat, True)
        say(_reads_row(size, reads[size]))

    if args.http:
        say(f"\n== over HTTP: mlflow server, {args.workers} workers, sqlite backend (seconds) ==")
        say(f"{'store':>10} {'runs':>8} {'gather':>8} {'gather 1':>9} {'search_runs':>12}")
        http = results["http"] = {}
        for size, uri in stores.items():
            http[size] = _over_http(uri, folder, Plan(size, args.window), args)
            say(_http_row(size, http[size]))

    if args.stages and sizes:
        smallest = sizes[0]
        say(f"\n== stages on the window of the {smallest:,}-run store (seconds, RSS MB at end) ==")
        plan = Plan(smallest, args.window)
        results["stages"] = in_child(stages, stores[smallest], plan, DEMO_CONFIG, True, False)
        say(_stages_row(results["stages"]))
        results["keys"] = in_child(keys_cover_the_report, stores[smallest], plan, DEMO_CONFIG)
        rows = results["keys"]["rows_all_and_report_keys"]
        say(f"the report's keys give the same figures; rows (all keys, report keys): {rows}")
        results["demo"] = in_child(demo_end_to_end, folder / "demo", DEMO_CONFIG)
        seconds = results["demo"]["demo_build_s"]
        say(f"demo report end to end (reporter build in a new process): {seconds:.1f} s")

    if args.charts:
        say(
            f"\n== charts of the demo report, one browser session (seconds, best of {args.repeat}) =="
        )
        uri = ensure_demo_store(folder / "demo", DEMO_WEEK)
        charts = results["charts"] = in_child(
            chart_rendering, uri, str(DEMO_WEEK), DEMO_CONFIG, args.repeat
        )
        say(
            f"{charts['figures']} figures + {charts['images'] - charts['figures']} PNG copies: "
            f"browser start (1 trivial figure) {charts['start_s']:.2f} s, all {charts['images']} "
            f"images {charts['all_s']:.2f} s = start + {charts['per_image_s']:.3f} s per image; "
            f"with the browser started ahead {charts['ahead_s']:.2f} s"
        )

    if args.big:
        plan = Plan(1_000_000, 1_000_000)
        say("\n== 1M runs in the window: every stage in one process (seconds, RSS MB at end) ==")
        uri = _sqlite_store(folder, plan)
        for key, only_report_keys in (("million", False), ("million_report_keys", True)):
            results[key] = in_child(stages, uri, plan, DEMO_CONFIG, True, only_report_keys)
            say(
                ("only the keys the report reads: " if only_report_keys else "every key: ")
                + _stages_row(results[key])
            )

    if args.postgres:
        results["postgres"] = _postgres(folder, Plan(max(args.sizes), args.window), args)

    say("\n== ratios, all measured above ==")
    results["ratios"] = _ratios(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
        say(f"\nresults written to {args.json}")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    option = parser.add_argument
    default_dir = Path(tempfile.gettempdir()) / "reporter-bench"
    option("--dir", type=Path, default=default_dir, help="folder for the generated stores")
    option("--sizes", type=_counts, default=[10_000, 100_000], help="store sizes, in runs")
    option("--window", type=int, default=10_000, help="runs in every store's report window")
    option("--big", action="store_true", help="add a 1M-run store and a 1M-run window")
    option("--postgres", action="store_true", help="also measure on a temporary PostgreSQL")
    option("--no-http", dest="http", action="store_false", help="skip the HTTP measurements")
    option("--no-stages", dest="stages", action="store_false", help="skip stages and demo")
    option("--no-charts", dest="charts", action="store_false", help="skip the charts benchmark")
    option("--only-charts", action="store_true", help="only the charts benchmark (no stores)")
    option("--workers", type=int, default=4, help="mlflow server workers (default 4)")
    option("--repeat", type=int, default=1, help="time each read N times, keep the best")
    option("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args(argv)
    if args.only_charts:
        args.sizes, args.big, args.postgres, args.http, args.stages = [], False, False, False, False
        args.charts = True
    return args


def _counts(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def say(line: str) -> None:
    print(line, flush=True)


def _machine() -> str:
    import mlflow

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, MLflow {mlflow.__version__}"
    )


def _sqlite_store(folder: Path, plan: Plan) -> str:
    """The store for `plan`, built unless a complete one is already in `folder`.

    Every store starts as a file copy of one template store that MLflow's client wrote (so
    all sizes share the same template runs, ids included), then gets its copies by SQL.
    """
    name = f"runs{plan.runs}-window{plan.window_runs}-seed{plan.seed}"
    path, done = folder / f"{name}.db", folder / f"{name}.json"
    if path.exists() and done.exists():
        say(f"{plan.runs:>10,} runs, {plan.window_runs:,} in the window: reused {path.name}")
        return f"sqlite:///{path}"
    templates = folder / f"templates-seed{plan.seed}.db"
    client_seconds = 0.0
    if not templates.exists():
        started = time.perf_counter()
        partial = templates.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_templates(f"sqlite:///{partial}", plan, folder / "artifacts")
        partial.rename(templates)
        client_seconds = time.perf_counter() - started
    shutil.copyfile(templates, path)
    built = copy_runs(f"sqlite:///{path}", plan, client_seconds)
    done.write_text(json.dumps({**asdict(built.plan), "week": str(plan.week)}) + "\n")
    say(
        f"{plan.runs:>10,} runs, {plan.window_runs:,} in the window: "
        f"{plan.templates} template runs through the client"
        + (f" {client_seconds:.1f} s" if client_seconds else " (reused)")
        + f", copies {built.copy_seconds:.1f} s ({built.runs_per_second:,.0f} runs/s); {built.rows}"
    )
    return f"sqlite:///{path}"


def _over_http(db_uri: str, folder: Path, plan: Plan, args: argparse.Namespace) -> Result:
    from bench.server import mlflow_server

    with mlflow_server(db_uri, folder / "server", args.workers) as url:
        return in_child(http_reads, url, db_uri, plan, args.repeat)


def _postgres(folder: Path, plan: Plan, args: argparse.Namespace) -> Result:
    from bench.postgres import temporary_postgres

    say(f"\n== PostgreSQL backend: {plan.runs:,} runs, {plan.window_runs:,} in the window ==")
    with temporary_postgres() as uri:
        built = build_store(uri, plan, folder / "postgres-artifacts")
        seconds = built.client_seconds + built.copy_seconds
        say(f"built in {seconds:.1f} s ({built.runs_per_second:,.0f} runs/s copied)")
        result = {"reads": in_child(window_reads, uri, plan, args.repeat, True)}
        say(READS_HEADER)
        say(_reads_row(plan.runs, result["reads"]))
        if args.http:
            result["http"] = _over_http(uri, folder, plan, args)
            say(f"over HTTP ({args.workers} workers): " + _http_row(plan.runs, result["http"]))
    return result


def _reads_row(size: int, r: Result) -> str:
    return (
        f"{size:>10,} {r['runs']:>8,} {r['raw_sql_s']:>8.2f} {r['gather_sql_s']:>11.2f} "
        f"{r.get('gather_client_s', float('nan')):>8.2f} "
        f"{r.get('search_runs_s', float('nan')):>12.2f} {r['peak_rss_mb']:>7.0f}"
    )


def _http_row(size: int, r: Result) -> str:
    return (
        f"{size:>10,} {r['runs']:>8,} {r['gather_http_s']:>8.2f} {r['gather_http_1_s']:>9.2f} "
        f"{r['search_runs_http_s']:>12.2f}"
    )


def _stages_row(r: Result) -> str:
    names = [n for n in ("gather", "compute", "charts", "html", "pdf", "snapshot") if f"{n}_s" in r]
    return (
        f"{r['runs']:,} runs: "
        + ", ".join(f"{n} {r[f'{n}_s']:.2f} s ({r[f'{n}_rss_mb']:.0f} MB)" for n in names)
        + f"; peak RSS {r['peak_rss_mb']:.0f} MB"
    )


def _ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of docs/performance.md that this run measured, with its ratio."""
    ratios: list[dict[str, Any]] = []

    def ratio(name: str, value: float, at_most: float | None = None, at_least: float | None = None):
        met = (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
        target = f"<= {at_most:g}" if at_most is not None else f">= {at_least:g}"
        ratios.append({"name": name, "value": round(value, 2), "target": target, "met": met})
        say(f"{'met ' if met else 'MISS'}  {name}: {value:.2f} (target {target})")

    reads, http = results["reads"], results.get("http", {})
    for size, r in reads.items():
        sql, client = r["gather_sql_s"], r["gather_client_s"]
        ratio(f"{size:,}-run store: gather_sql / raw SQL", sql / r["raw_sql_s"], at_most=3)
        ratio(f"{size:,}-run store: client gather / gather_sql", client / sql, at_least=10)
        if size in http:
            over_http = http[size]
            ratio(
                f"{size:,}-run store over HTTP: mlflow.search_runs / gather",
                over_http["search_runs_http_s"] / over_http["gather_http_s"],
                at_least=2,
            )
            ratio(
                f"{size:,}-run store: gather over HTTP / gather_sql",
                over_http["gather_http_s"] / sql,
                at_least=10,
            )
    sizes = sorted(reads)
    for small, large in pairwise(sizes):
        if large != 10 * small:
            continue
        pair = f"{large:,} vs {small:,} runs, same window"
        for key, name in (
            ("raw_sql_s", "raw SQL"),
            ("gather_sql_s", "gather_sql"),
            ("gather_client_s", "client gather"),
            ("search_runs_s", "mlflow.search_runs"),
        ):
            ratio(f"{pair}: {name}", reads[large][key] / reads[small][key], at_most=1.2)
        if small in http and large in http:
            value = http[large]["gather_http_s"] / http[small]["gather_http_s"]
            ratio(f"{pair}: gather over HTTP", value, at_most=1.2)
    postgres = results.get("postgres", {})
    if "reads" in postgres:
        r = postgres["reads"]
        ratio("PostgreSQL: gather_sql / raw SQL", r["gather_sql_s"] / r["raw_sql_s"], at_most=3)
        ratio(
            "PostgreSQL: client gather / gather_sql",
            r["gather_client_s"] / r["gather_sql_s"],
            at_least=10,
        )
    if "http" in postgres:
        r = postgres["http"]
        ratio(
            "PostgreSQL over HTTP: mlflow.search_runs / gather",
            r["search_runs_http_s"] / r["gather_http_s"],
            at_least=2,
        )
        ratio(
            "PostgreSQL: gather over HTTP / gather_sql",
            r["gather_http_s"] / postgres["reads"]["gather_sql_s"],
            at_least=10,
        )
    for key, keys in (("million", "every key"), ("million_report_keys", "the report's keys")):
        if key in results:
            million = results[key]
            where = f"1M-run window, {keys}"
            ratio(f"{where}, every stage: peak RSS MB", million["peak_rss_mb"], at_most=MB_LIMIT)
            ratio(
                f"{where}, every stage but snapshot.json: peak RSS MB",
                million["pdf_rss_mb"],
                at_most=MB_LIMIT,
            )
    if "charts" in results:
        ratio(
            "demo charts: seconds per image after the browser start",
            results["charts"]["per_image_s"],
            at_most=0.3,
        )
    if "demo" in results:
        ratio("demo report end to end, seconds", results["demo"]["demo_build_s"], at_most=15)
    return ratios


if __name__ == "__main__":
    sys.exit(main())
