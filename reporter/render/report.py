"""Results -> ReportContext: charts rendered to SVG (PNG for email) and the summary's alerts."""

from __future__ import annotations

from reporter.compute.results import WeeklyResults
from reporter.config import Config
from reporter.render.charts import build_charts, render_static
from reporter.render.context import ChartImage, ReportContext
from reporter.render.format import money, percent


def alerts(results: WeeklyResults) -> list[str]:
    """Plain-language warnings for the summary: what is missing or needs a look."""
    notes = []
    if results.runs.total == 0:
        notes.append(f"No runs started in {results.week}.")
    cost = results.cost
    for budget in cost.budgets:
        if budget.over:
            scope = f"Team {budget.team}" if budget.team else "Compute"
            notes.append(
                f"{scope} is over its weekly budget: {money(budget.actual, cost.currency)} "
                f"of {money(budget.budget, cost.currency)} ({percent(budget.used_share, 0)})."
            )
    if cost.unpriced_runs:
        notes.append(
            f"{len(cost.unpriced_runs)} run charges have no rate; "
            f"{percent(cost.priced_share)} of run-hours are priced."
        )
    if cost.open_runs:
        notes.append(f"{cost.open_runs} runs are still open and are charged up to the window end.")
    if cost.runs_with_invalid_times:
        notes.append(
            f"{cost.runs_with_invalid_times} runs have invalid timestamps and are charged zero."
        )
    return notes


# Charts also rendered as PNG: mail clients do not show SVG.
EMAIL_CHARTS = ("cost-per-week", "runs-by-status")


def build_context(results: WeeklyResults, config: Config) -> tuple[ReportContext, dict[str, bytes]]:
    """The template context, and PNG images of the EMAIL_CHARTS by chart id."""
    charts = build_charts(results, config.top_n)
    png_for = {i for i, chart in enumerate(charts) if chart.id in EMAIL_CHARTS}
    svgs, pngs = render_static([chart.figure for chart in charts], png_for)
    context = ReportContext(
        title=config.report_title,
        week=results.week,
        results=results,
        charts={
            c.id: ChartImage.from_svg(c.id, c.title, c.alt, svg)
            for c, svg in zip(charts, svgs, strict=True)
        },
        alerts=alerts(results),
        top_n=config.top_n,
    )
    return context, {charts[i].id: png for i, png in pngs.items()}
