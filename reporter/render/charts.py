"""Results -> plotly figures -> static SVG, all rendered in one headless browser session.

MLflow names are user-controlled text and plotly interprets a subset of HTML in labels
(`<b>`, `<br>`, `<a href>`...), so every name goes through `label()` first: its entities
are shown literally, never parsed as markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import plotly.graph_objects as go

from reporter.compute.results import WeeklyResults
from reporter.render.browser import ChartBrowser
from reporter.render.format import truncate

FONT = "DejaVu Sans, Noto Sans, Noto Sans CJK SC, sans-serif"
# Okabe-Ito: distinguishable with colour-blindness; patterns keep stacks readable in greyscale.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
PATTERNS = ["", "/", ".", "x", "\\", "+", "-", "|"]
STATUS_COLOURS = {
    "FINISHED": "#009E73",
    "FAILED": "#D55E00",
    "KILLED": "#E69F00",
    "RUNNING": "#0072B2",
    "SCHEDULED": "#999999",
}
WIDTH, HEIGHT = 720, 320
_ISO_WEEK = re.compile(r"^\d{4}-W\d{2}$")
BROWSER_TIMEOUT_S = 60.0


def label(text: object, length: int = 40) -> str:
    """A user-controlled name as plotly text: control characters blanked, cut to `length`
    with an ellipsis, and shown literally, never interpreted as markup."""
    return html.escape(truncate(text, length), quote=False)


@dataclass(frozen=True)
class Chart:
    """One figure of the report: an id (stable, used as anchor), a title and alt text."""

    id: str
    title: str
    alt: str
    figure: go.Figure


def _layout(
    fig: go.Figure, title: str, y_title: str, stacked: bool = False, counts: bool = False
) -> go.Figure:
    fig.update_layout(
        template="simple_white",
        title={"text": label(title, 200), "x": 0, "font": {"size": 15}},
        font={"family": FONT, "size": 11, "color": "#222"},
        width=WIDTH,
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        barmode="stack" if stacked else "group",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        yaxis={"title": {"text": label(y_title, 60)}, "gridcolor": "#e5e5e5", "showgrid": True},
        xaxis={"type": "category"},
    )
    weeks = list(fig.data[0].x) if fig.data and fig.data[0].x is not None else []
    if weeks and all(isinstance(w, str) and _ISO_WEEK.match(w) for w in weeks):
        # "W37" over "2026": short enough to stay horizontal, unambiguous across years
        fig.update_xaxes(
            tickmode="array",
            tickvals=weeks,
            ticktext=[f"{w[5:]}<br>{w[:4]}" for w in weeks],
            tickangle=0,
        )
    if counts:  # whole numbers only: no "0.2 runs" ticks
        fig.update_yaxes(
            tickformat=",d", rangemode="tozero", tick0=0, dtick=None if _max_y(fig) > 8 else 1
        )
    return fig


def _max_y(fig: go.Figure) -> float:
    totals: dict[object, float] = {}
    for trace in fig.data:
        for x, y in zip(trace.x or (), trace.y or (), strict=False):
            totals[x] = totals.get(x, 0) + (y or 0)
    return max(totals.values(), default=0)


def colour_map(names: list[str]) -> dict[str, tuple[str, str]]:
    """One colour and pattern per name, by sorted order, so a team looks the same in every chart."""
    return {
        n: (PALETTE[i % len(PALETTE)], PATTERNS[i // len(PALETTE) % len(PATTERNS)])
        for i, n in enumerate(sorted(names))
    }


def runs_by_status(results: WeeklyResults) -> Chart:
    weeks = [w.week for w in results.runs.per_week]
    fig = go.Figure()
    for i, (status, colour) in enumerate(STATUS_COLOURS.items()):
        values = [getattr(w.by_status, status) for w in results.runs.per_week]
        if any(values):
            fig.add_bar(
                x=weeks,
                y=values,
                name=status,
                marker={"color": colour, "pattern": {"shape": PATTERNS[i]}},
            )
    return Chart(
        "runs-by-status",
        "Runs per week by status",
        f"Stacked bars of runs started per week by status, {weeks[0]} to {weeks[-1]}.",
        _layout(fig, "Runs per week by status", "runs", stacked=True, counts=True),
    )


def cost_per_week(results: WeeklyResults, team_colours: dict[str, tuple[str, str]]) -> Chart:
    per_week = results.cost.per_week
    weeks = [w.week for w in per_week]
    fig = go.Figure()
    for team, (colour, pattern) in team_colours.items():
        values = [next((a.cost for a in w.by_team if a.name == team), 0.0) for w in per_week]
        if any(values):
            fig.add_bar(
                x=weeks,
                y=values,
                name=label(team),
                marker={"color": colour, "pattern": {"shape": pattern}},
            )
    currency = results.cost.currency
    overall = next((b for b in results.cost.budgets if b.team is None), None)
    alt = f"Stacked bars of compute cost per week by team in {currency}, {weeks[0]} to {weeks[-1]}"
    if overall is not None:
        fig.add_scatter(
            x=weeks,
            y=[overall.budget] * len(weeks),
            mode="lines",
            name="weekly budget",
            line={"color": "#000000", "dash": "dash", "width": 1.5},
        )
        alt += f", with the weekly compute budget of {overall.budget:,.2f} as a dashed line"
    title = f"Compute cost per week by team ({currency})"
    fig = _layout(fig, title, currency, stacked=True)
    fig.update_layout(showlegend=True)  # plotly hides a one-team legend; the team must show
    return Chart("cost-per-week", title, alt + ".", fig)


def cost_by_instance_type(results: WeeklyResults, top_n: int) -> Chart:
    rows = results.cost.by_instance_type[:top_n][::-1]
    currency = results.cost.currency
    fig = go.Figure(
        go.Bar(
            x=[a.cost for a in rows],
            y=[label(a.name) for a in rows],
            orientation="h",
            marker={"color": PALETTE[0]},
            name=currency,
        )
    )
    title = f"Compute cost by instance type, {results.week} ({currency})"
    fig = _layout(fig, title, "")
    fig.update_layout(
        height=max(200, 80 + 28 * len(rows)),
        yaxis={"type": "category", "showgrid": False, "automargin": True},
        xaxis={
            "type": "linear",
            "title": {"text": currency},
            "showgrid": True,
            "gridcolor": "#e5e5e5",
        },
    )
    alt = f"Horizontal bars of compute cost per instance type in {results.week}."
    return Chart("cost-by-instance-type", title, alt, fig)


def waste_share(results: WeeklyResults) -> Chart:
    per_week = results.cost.per_week
    weeks = [w.week for w in per_week]
    shares = [round(w.waste / w.compute * 100, 1) if w.compute else 0.0 for w in per_week]
    fig = go.Figure(
        go.Bar(
            x=weeks,
            y=shares,
            marker={"color": STATUS_COLOURS["FAILED"], "pattern": {"shape": "/"}},
            name="waste",
        )
    )
    title = "Waste share of compute cost per week (%)"
    fig = _layout(fig, title, "% of compute")
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    alt = "Bars of the share of each week's compute cost spent on failed, killed or abandoned runs."
    return Chart("waste-share", title, alt, fig)


def deployments_per_week(results: WeeklyResults) -> Chart:
    """Versions created and deployments per week, with the median lead time on a second axis."""
    per_week = results.deployments.per_week
    weeks = [w.week for w in per_week]
    fig = go.Figure()
    fig.add_bar(
        x=weeks,
        y=[w.versions_created for w in per_week],
        name="versions created",
        marker={"color": PALETTE[4]},
    )
    if any(w.deployments is not None for w in per_week):
        fig.add_bar(
            x=weeks,
            y=[w.deployments for w in per_week],
            name="deployments",
            marker={"color": PALETTE[0], "pattern": {"shape": "/"}},
        )
    title = "Model versions and deployments per week"
    fig = _layout(fig, title, "count", counts=True)
    lead = [w.median_lead_time_hours for w in per_week]
    if any(v is not None for v in lead):
        fig.add_scatter(
            x=weeks,
            y=lead,
            name="median lead time (h)",
            mode="lines+markers",
            yaxis="y2",
            line={"color": "#000000", "dash": "dot"},
            connectgaps=False,
        )
        fig.update_layout(
            yaxis2={
                "title": {"text": "hours"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            }
        )
    alt = "Bars of model versions created and deployments per week, with the median lead time in hours as a dotted line."
    return Chart("deployments-per-week", title, alt, fig)


def top_estimators(results: WeeklyResults, top_n: int) -> Chart:
    """Share of the week's runs and of its compute cost per estimator."""
    top = results.estimators[:top_n][::-1]
    names = [label(e.name) for e in top]
    fig = go.Figure()
    fig.add_bar(
        x=[e.run_share * 100 for e in top],
        y=names,
        orientation="h",
        name="share of runs",
        marker={"color": PALETTE[2]},
    )
    fig.add_bar(
        x=[(e.cost_share or 0) * 100 for e in top],
        y=names,
        orientation="h",
        name="share of compute cost",
        marker={"color": PALETTE[1], "pattern": {"shape": "."}},
    )
    title = f"Top estimators, {results.week}: share of runs and of compute cost"
    fig = _layout(fig, title, "")
    fig.update_layout(
        height=max(220, 100 + 44 * len(top)),
        yaxis={"type": "category", "showgrid": False, "automargin": True},
        xaxis={
            "type": "linear",
            "title": {"text": "%"},
            "ticksuffix": "%",
            "showgrid": True,
            "gridcolor": "#e5e5e5",
        },
    )
    alt = f"Horizontal bars of the share of runs and of compute cost of the {len(top)} most used estimators in {results.week}."
    return Chart("top-estimators", title, alt, fig)


def _attainment(value: float | None, target: float, direction: str) -> float | None:
    """How far a KPI value is from its target as a percentage, above 100 when it beats it."""
    if value is None or (direction == "lower" and value == 0):
        return None
    return round((value / target if direction == "higher" else target / value) * 100, 2)


def kpi_trends(results: WeeklyResults) -> Chart:
    """Each KPI with a target, week by week, as target attainment (100% = on target)."""
    fig = go.Figure()
    weeks = [w.week for w in results.runs.per_week]
    shown = [k for k in results.kpis if k.target and any(v is not None for v in k.history)]
    for i, kpi in enumerate(shown):
        colour, dash = (
            PALETTE[i % len(PALETTE)],
            ["solid", "dash", "dot", "dashdot"][i // len(PALETTE) % 4],
        )
        fig.add_scatter(
            x=weeks,
            y=[_attainment(v, kpi.target, kpi.direction) for v in kpi.history],
            mode="lines+markers",
            name=label(kpi.name),
            line={"color": colour, "dash": dash},
            connectgaps=False,
        )
    fig.add_hline(
        y=100,
        line={"color": "#000000", "width": 1},
        annotation_text="target",
        annotation_position="top left",
    )
    title = "KPIs against their targets (above 100% = target beaten)"
    fig = _layout(fig, title, "% of target")
    legend_rows = (len(shown) + 1) // 2
    # many KPI names: the legend goes under the plot rather than over the title
    fig.update_layout(
        height=HEIGHT + 22 * legend_rows,
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0, "xanchor": "left"},
        margin={"b": 90 + 22 * legend_rows},
    )
    alt = (
        "Lines of each KPI's weekly value as a percentage of its target (inverted for KPIs where "
        "lower is better, so above 100% always means the target is beaten)."
    )
    return Chart("kpi-trends", title, alt, fig)


def build_charts(results: WeeklyResults, top_n: int) -> list[Chart]:
    teams = sorted({a.name for w in results.cost.per_week for a in w.by_team})
    return [
        cost_per_week(results, colour_map(teams)),
        cost_by_instance_type(results, top_n),
        waste_share(results),
        runs_by_status(results),
        deployments_per_week(results),
        top_estimators(results, top_n),
        kpi_trends(results),
    ]


_PLOT_UID = re.compile(r'id="clip([0-9a-f]{6})')


def stable_ids(svg: str, index: int) -> str:
    """Replace plotly.js's random per-plot id (in clip paths and patterns) with a fixed one,
    so the same figures always give the same bytes."""
    found = _PLOT_UID.search(svg)
    return svg.replace(found.group(1), f"fig{index:03d}") if found else svg


def render_static(
    figures: list[go.Figure],
    png_for: set[int] = frozenset(),
    timeout_s: float = BROWSER_TIMEOUT_S,
    browser: ChartBrowser | None = None,
) -> tuple[list[str], dict[int, bytes]]:
    """SVG text for every figure, and PNG bytes (2x, for email) for those in `png_for`, all in
    ONE browser session (`browser`, started earlier by the caller, or a new one): starting
    Chromium costs ~2-3 s, each figure then ~0.2-0.3 s."""
    for figure in figures:  # plotly.js draws random trace uids into pattern ids otherwise
        for i, trace in enumerate(figure.data):
            trace.uid = f"trace{i}"
    payload = [figure.to_plotly_json() for figure in figures]
    with browser or ChartBrowser(timeout_s) as session:
        svgs, pngs = session.render(payload, png_for)
    return [stable_ids(svg, i) for i, svg in enumerate(svgs)], pngs
