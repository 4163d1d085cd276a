"""Results -> ReportContext: charts rendered to SVG (and PNG for email) in one browser session."""

from __future__ import annotations

from reporter.compute.results import WeeklyResults
from reporter.config import Config
from reporter.render.browser import ChartBrowser
from reporter.render.charts import build_charts, render_static
from reporter.render.context import ChartImage, ReportContext

# Charts also rendered as PNG: mail clients do not show SVG.
EMAIL_CHARTS = ("cost-per-week", "runs-by-status")


def build_context(
    results: WeeklyResults, config: Config, browser: ChartBrowser | None = None
) -> tuple[ReportContext, dict[str, bytes]]:
    """The template context, and PNG images of the EMAIL_CHARTS by chart id (rendered in
    `browser` when the caller started one ahead, else in a new session)."""
    charts = build_charts(results, config.top_n)
    png_for = {i for i, chart in enumerate(charts) if chart.id in EMAIL_CHARTS}
    svgs, pngs = render_static([chart.figure for chart in charts], png_for, browser=browser)
    context = ReportContext(
        title=config.report_title,
        week=results.week,
        results=results,
        charts={
            c.id: ChartImage.from_svg(c.id, c.title, c.alt, svg)
            for c, svg in zip(charts, svgs, strict=True)
        },
        alerts=[alert.message for alert in results.alerts],
        top_n=config.top_n,
    )
    return context, {charts[i].id: png for i, png in pngs.items()}
