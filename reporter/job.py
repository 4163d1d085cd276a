"""The weekly job: gather -> compute -> render -> export -> publish, wired in one place."""

from __future__ import annotations

from pathlib import Path

from reporter.compute import charge_lines, compute_results
from reporter.config import Config
from reporter.export.focus import export_focus_csv
from reporter.export.pdf import export_pdf
from reporter.gather.snapshot import SNAPSHOT_FILE, Snapshot, export_snapshot
from reporter.publish.folder import publish_folder
from reporter.render.html import export_html
from reporter.render.report import build_context
from reporter.weeks import IsoWeek

REPORT_FILES = ("report.html", "report.pdf", "kpis.json", "costs.csv", SNAPSHOT_FILE)


def export_report(
    snapshot: Snapshot, config: Config, templates: Path | None = None
) -> dict[str, bytes]:
    """Every file of the report folder, in memory: nothing is written if any stage fails."""
    lines = charge_lines(snapshot, config)
    results = compute_results(snapshot, config, lines)
    context, email_images = build_context(results, config)
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
        SNAPSHOT_FILE: export_snapshot(snapshot).encode("utf-8"),
    }


def save_report(
    snapshot: Snapshot, config: Config, out: Path, templates: Path | None = None
) -> Path:
    """Build the report and publish it to `out/<week>/`; returns that folder."""
    files = export_report(snapshot, config, templates)
    folder = out / snapshot.info.week
    publish_folder(folder, files)
    return folder
