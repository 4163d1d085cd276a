"""The weekly job: gather -> compute -> render -> export -> publish, wired in one place."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from reporter.compute import charge_lines, compute_results, report_keys
from reporter.config import Config
from reporter.errors import UsageError
from reporter.export.files import Content
from reporter.export.focus import export_focus_csv
from reporter.export.pdf import export_pdf
from reporter.gather.alias_history import (
    ALIASES_FILE,
    AliasObservation,
    export_alias_history,
    extend_history,
    observe,
    parse_alias_history,
    previous_alias_history,
    read_alias_history,
)
from reporter.gather.mlflow_source import Keys
from reporter.gather.snapshot import SNAPSHOT_FILE, Snapshot, load_snapshot, save_snapshot
from reporter.publish.archive import read_archived_file
from reporter.publish.email import SENT_FILE
from reporter.publish.folder import publish_folder
from reporter.render.browser import ChartBrowser
from reporter.render.html import export_html
from reporter.render.report import build_context
from reporter.weeks import IsoWeek

REPORT_FILES = ("report.html", "report.pdf", "kpis.json", "costs.csv", SNAPSHOT_FILE, ALIASES_FILE)


def export_report(
    snapshot: Snapshot,
    config: Config,
    templates: Path | None = None,
    alias_history: list[AliasObservation] | None = None,
    browser: ChartBrowser | None = None,
) -> dict[str, Content]:
    """Every file of the report folder, built in memory (the snapshot, which can be large, as
    a function that writes it): nothing is written if any stage fails.

    `alias_history` is the chain of alias observations ending with this snapshot's
    (default: this snapshot's alone); `browser` a chart session started ahead (default: one
    is started here).
    """
    history = alias_history if alias_history is not None else [observe(snapshot)]
    lines = charge_lines(snapshot, config)
    results = compute_results(snapshot, config, lines, history)
    context, email_images = build_context(results, config, browser)
    html = export_html(context, templates)
    week = IsoWeek.parse(results.week)
    return {
        **{f"charts/{chart_id}.png": png for chart_id, png in email_images.items()},
        "report.html": html.encode("utf-8"),
        "report.pdf": export_pdf(html),
        "kpis.json": results.to_json().encode("utf-8"),
        "costs.csv": export_focus_csv(lines[lines["week"] == str(week)], config, week).encode(
            "utf-8"
        ),
        SNAPSHOT_FILE: partial(save_snapshot, snapshot),  # streamed: it can be large
        ALIASES_FILE: export_alias_history(history).encode("utf-8"),
    }


def save_report(
    snapshot: Snapshot,
    config: Config,
    out: Path,
    templates: Path | None = None,
    previous_aliases: list[AliasObservation] | None = None,
    browser: ChartBrowser | None = None,
) -> Path:
    """Build the report and publish it to `out/<week>/`; returns that folder.

    The alias history continues `previous_aliases` when given, else the chain saved by the
    newest report in `out` for an earlier week.
    """
    week = snapshot.info.week
    previous = (
        previous_aliases if previous_aliases is not None else previous_alias_history(out, week)
    )
    history = extend_history(previous, observe(snapshot))
    folder = out / week
    publish_folder(
        folder, export_report(snapshot, config, templates, history, browser), keep=(SENT_FILE,)
    )
    return folder


def earlier_alias_history(
    out: Path, week: IsoWeek, archive_uri: str | None = None, experiment: str = "reporter"
) -> list[AliasObservation]:
    """The alias history to continue: the newest earlier report's in `out`, else (CI runners
    start with an empty disk) the one archived in MLflow by the newest earlier build."""
    local = previous_alias_history(out, str(week))
    if local or archive_uri is None:
        return local
    archived = read_archived_file(archive_uri, ALIASES_FILE, week, experiment)
    if archived is None:
        return []
    return parse_alias_history(
        archived.decode("utf-8"), f"the archive in experiment '{experiment}'"
    )


def rerender_report(source: Path, config: Config, out: Path, templates: Path | None = None) -> Path:
    """Rebuild a saved report folder (or snapshot file) into `out/<week>/`, without MLflow,
    from its snapshot and the alias history saved beside it."""
    snapshot = load_snapshot(source)
    if not Keys.described(snapshot.info.kept_keys).covers(report_keys(config)):
        raise UsageError(
            f"snapshot {source} holds only the run keys its build's config read, and this "
            "config reads others: build again from MLflow"
        )
    folder = source if source.is_dir() else source.parent
    saved = folder / ALIASES_FILE
    history = read_alias_history(saved) if saved.exists() else None
    target = out / snapshot.info.week
    publish_folder(target, export_report(snapshot, config, templates, history), keep=(SENT_FILE,))
    return target
