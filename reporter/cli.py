"""Command line: `reporter build | send | render | demo`. Errors become one stderr line and an exit code.

Exit codes: 0 success, 1 runtime failure (MLflow, browser, PDF, files), 2 usage error
(bad flag, week, config or store path), 3 report built but delivery failed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reporter import __version__
from reporter.errors import DeliveryError, GatherError, ReporterError, UsageError
from reporter.weeks import IsoWeek

if TYPE_CHECKING:
    from reporter.publish.email import SmtpSettings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Weekly ML cost, activity and model registry report from an MLflow tracking server.",
)

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"reporter: error: {message}\n")
    raise typer.Exit(code)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the tool's exceptions into one stderr line and the matching exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReporterError as exc:
            _fail(str(exc).splitlines()[0], exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            if os.environ.get("REPORTER_DEBUG"):
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                "(set REPORTER_DEBUG=1 for a traceback)",
                1,
            )

    return wrapper


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def _week(text: str | None) -> IsoWeek:
    return IsoWeek.parse(text) if text else IsoWeek.last_complete(datetime.now(UTC))


WeekOption = Annotated[
    str | None,
    typer.Option("--week", help="ISO week like 2026-W48; default: the last complete week (UTC)."),
]
OutOption = Annotated[
    Path, typer.Option("--out", help="Folder that receives <week>/ with the report files.")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML config: rate card, team tag, title...")
]
TemplatesOption = Annotated[
    Path | None,
    typer.Option("--templates", help="Folder of templates overriding the packaged ones."),
]
HistoryOption = Annotated[
    int, typer.Option("--history-weeks", min=1, max=104, help="Weeks of history for trends.")
]


@app.command()
@reports_errors
def build(
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="MLflow tracking URI; default: $MLFLOW_TRACKING_URI."),
    ] = None,
    registry_uri: Annotated[
        str | None,
        typer.Option("--registry-uri", help="Model registry URI; default: the tracking URI."),
    ] = None,
    week: WeekOption = None,
    history_weeks: HistoryOption = 12,
    config: ConfigOption = None,
    out: OutOption = Path("reports"),
    templates: TemplatesOption = None,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=50_000, help="Runs per MLflow search page.")
    ] = 10_000,
    email: Annotated[
        bool,
        typer.Option(
            "--email", help="Then email the report (settings: SMTP_* / REPORT_* or the config)."
        ),
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Then archive the build as a run of the config's archive_experiment in MLflow.",
        ),
    ] = False,
    previous_aliases: Annotated[
        Path | None,
        typer.Option(
            "--previous-aliases",
            help="aliases.json of an earlier build to continue (default: the newest earlier one in --out, else the archive with --record).",
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            "--gather",
            help="client: MLflow's API; sql: read the store's database directly (read-only, faster).",
        ),
    ] = "client",
    db_uri: Annotated[
        str | None,
        typer.Option("--db-uri", help="SQLAlchemy URI of the MLflow database for --gather sql."),
    ] = None,
    full_history: Annotated[
        bool,
        typer.Option(
            "--full-history",
            help="Read every history week from MLflow instead of reusing last week's snapshot in --out.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=1, help="Seconds allowed for reading MLflow before giving up."
        ),
    ] = 900,
    only_report_keys: Annotated[
        bool,
        typer.Option(
            "--only-report-keys",
            help="Gather only the run tags, params and metrics this config's report reads "
            "(for windows of a million runs; the saved snapshot then holds only those).",
        ),
    ] = False,
) -> None:
    """Gather the week from MLflow and write report.html, report.pdf, kpis.json and snapshot.json."""
    from reporter.compute import report_keys
    from reporter.config import load_config
    from reporter.deadline import deadline
    from reporter.gather import gather, gather_sql
    from reporter.gather.alias_history import read_alias_history
    from reporter.gather.incremental import merge_history, reusable_snapshot
    from reporter.gather.mlflow_source import strip_credentials
    from reporter.gather.snapshot import Snapshot
    from reporter.job import earlier_alias_history, save_report
    from reporter.publish.email import smtp_settings
    from reporter.render.browser import ChartBrowser
    from reporter.render.charts import BROWSER_TIMEOUT_S

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if source not in ("client", "sql"):
        raise UsageError(f"--gather must be 'client' or 'sql', not {source!r}")
    if source == "sql" and not db_uri:
        raise UsageError("--gather sql needs --db-uri (the tracking server's database, read-only)")
    if not uri:
        if source != "sql" or record:
            raise UsageError("no tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI")
        uri = db_uri or ""
    settings = load_config(config)
    keys = report_keys(settings) if only_report_keys else None
    smtp = smtp_settings(settings.email) if email else None  # bad settings fail before the build
    target = _week(week)
    previous = read_alias_history(previous_aliases) if previous_aliases else None
    _say(f"gathering {target} (+{history_weeks - 1} weeks of history) from MLflow...")
    # Chromium starts while MLflow is read; the `with` stops it whatever happens.
    with ChartBrowser(BROWSER_TIMEOUT_S) as browser:
        with deadline(timeout, "gathering from MLflow", GatherError):

            def read(weeks: int) -> Snapshot:
                if source == "sql":
                    return gather_sql(
                        db_uri or "",
                        target,
                        weeks,
                        exclude_experiments=tuple(settings.exclude_experiments),
                        keys=keys,
                    )
                return gather(
                    uri,
                    target,
                    weeks,
                    registry_uri=registry_uri,
                    page_size=page_size,
                    exclude_experiments=tuple(settings.exclude_experiments),
                    keys=keys,
                )

            earlier = (
                None
                if full_history
                else reusable_snapshot(out, target, history_weeks, strip_credentials(uri), keys)
            )
            snapshot = merge_history(earlier, read(1), history_weeks) if earlier else None
            if snapshot is None:
                snapshot = read(history_weeks)
            if previous is None:
                previous = earlier_alias_history(
                    out, target, uri if record else None, settings.archive_experiment
                )
        _say(
            f"fetched {snapshot.info.runs_fetched} runs in {snapshot.info.run_pages} pages; rendering..."
        )
        folder = save_report(snapshot, settings, out, templates, previous, browser)
    _print_folder(folder)
    # The report is saved: a delivery failure from here on exits 3 and leaves the folder as is.
    failures = []
    if record:
        from reporter.publish.archive import record_build

        try:
            run_id = record_build(uri, folder, settings.archive_experiment)
            _say(
                f"archived {target} as run {run_id} of MLflow experiment '{settings.archive_experiment}'"
            )
        except DeliveryError as exc:
            failures.append(str(exc))
    if smtp is not None:
        try:
            _send_email(folder, target, settings.report_title, smtp, force=False)
        except DeliveryError as exc:
            failures.append(str(exc))
    if failures:
        raise DeliveryError("; ".join(failures))


@app.command()
@reports_errors
def send(
    week: WeekOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder holding <week>/ written by 'reporter build'.")
    ] = Path("reports"),
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Send again to recipients who already got this week's.")
    ] = False,
) -> None:
    """Email a built report: figures and charts in the body, the PDF attached (SMTP_* / REPORT_*)."""
    from reporter.config import load_config
    from reporter.publish.email import smtp_settings

    settings = load_config(config)
    smtp = smtp_settings(settings.email)
    target = _week(week)
    _send_email(out / str(target), target, settings.report_title, smtp, force)


def _send_email(folder: Path, week: IsoWeek, title: str, smtp: SmtpSettings, force: bool) -> None:
    from reporter.publish.email import send_report

    delivery = send_report(folder, week, smtp, title, force=force)
    if delivery.skipped:
        _say(
            f"{week} was already emailed to {', '.join(delivery.skipped)}: skipped "
            "(--force sends again)"
        )
    if delivery.sent:
        attached = "PDF attached" if delivery.attached else "PDF too large to attach: linked"
        _say(f"emailed {week} to {', '.join(delivery.sent)} ({attached})")


@app.command()
@reports_errors
def render(
    snapshot_dir: Annotated[
        Path,
        typer.Argument(help="A report folder (or its snapshot.json) written by 'reporter build'."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder that receives <week>/; default: next to the snapshot."),
    ] = None,
    config: ConfigOption = None,
    templates: TemplatesOption = None,
) -> None:
    """Rebuild HTML, PDF and kpis.json from a saved snapshot, without MLflow."""
    from reporter.config import load_config
    from reporter.job import rerender_report

    folder_parent = (
        out
        if out is not None
        else (snapshot_dir if snapshot_dir.is_dir() else snapshot_dir.parent).parent
    )
    folder = rerender_report(snapshot_dir, load_config(config), folder_parent, templates)
    _print_folder(folder)


@app.command()
@reports_errors
def demo(
    out: OutOption = Path("reports"),
    store: Annotated[
        Path, typer.Option("--store", help="Folder of the demo MLflow store (created or reused).")
    ] = Path("demo"),
    templates: TemplatesOption = None,
) -> None:
    """Seed (or reuse) a local demo MLflow store with 12 weeks of history and build last week's report."""
    from reporter.config import load_config
    from reporter.demo import ensure_demo_store, simulated_alias_history
    from reporter.gather import gather
    from reporter.job import save_report
    from reporter.render.browser import ChartBrowser
    from reporter.render.charts import BROWSER_TIMEOUT_S

    target = IsoWeek.last_complete(datetime.now(UTC))
    _say(
        f"preparing the demo store in {store}/ (seeded through MLflow's client; ~10 s the first time)..."
    )
    uri = ensure_demo_store(store, target)
    settings = load_config(DEMO_CONFIG)
    with ChartBrowser(BROWSER_TIMEOUT_S) as browser:  # Chromium starts while MLflow is read
        snapshot = gather(uri, target, 12, exclude_experiments=tuple(settings.exclude_experiments))
        _say(f"fetched {snapshot.info.runs_fetched} runs; rendering {target}...")
        # The demo's alias history (for deployments) is simulated, as if built weekly all along.
        history = simulated_alias_history(snapshot)
        folder = save_report(snapshot, settings, out, templates, history, browser)
    _print_folder(folder)
    _say(
        f"to rebuild against the demo store: reporter build --tracking-uri {uri} --config {DEMO_CONFIG}"
    )


def _print_folder(folder: Path) -> None:
    from reporter.job import REPORT_FILES

    for name in REPORT_FILES:
        print(folder / name)


@app.command()
@reports_errors
def doctor(
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="MLflow tracking URI; default: $MLFLOW_TRACKING_URI."),
    ] = None,
    config: ConfigOption = None,
    email: Annotated[bool, typer.Option("--email", help="Also check the SMTP settings.")] = False,
) -> None:
    """Check the browser, fonts, PDF libraries, MLflow and (with --email) the SMTP settings."""
    from reporter import doctor as checks
    from reporter.config import load_config

    settings = load_config(config)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    todo = [
        checks.check_browser,
        checks.check_fonts,
        checks.check_pdf,
        lambda: checks.check_mlflow(uri),
    ]
    if email:
        todo.append(lambda: checks.check_email(settings.email))
    results = checks.run_checks(todo)
    for result in results:
        print(result.line())
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise ReporterError(f"{len(failed)} check(s) failed: {', '.join(failed)}")


@app.command()
def version() -> None:
    """Print the reporter's version."""
    print(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
