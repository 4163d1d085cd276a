"""Plain-language alerts for the summary: what changed for the worse, or is incomplete."""

from __future__ import annotations

from reporter.compute.results import Alert, Cost, KpiResult, Runs
from reporter.config import Alerts


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def alerts(
    runs: Runs, cost: Cost, kpis: list[KpiResult], settings: Alerts, week: str
) -> list[Alert]:
    found = []
    if runs.total == 0:
        found.append(Alert(kind="empty", message=f"No runs started in {week}."))
    for budget in cost.budgets:
        if budget.over:
            scope = f"Team {budget.team}" if budget.team else "Compute"
            found.append(
                Alert(
                    kind="budget",
                    message=f"{scope} is over its weekly budget: {_money(budget.actual, cost.currency)} "
                    f"of {_money(budget.budget, cost.currency)} ({budget.used_share:.0%}).",
                )
            )
    jump = runs.delta_failure_rate
    if jump is not None and jump >= settings.failure_rate_jump:
        found.append(
            Alert(
                kind="failure_rate",
                message=f"Failure rate rose {jump * 100:.1f} points to {runs.failure_rate:.1%}.",
            )
        )
    for kpi in kpis:
        if kpi.status == "missed":
            found.append(
                Alert(
                    kind="kpi",
                    message=f"KPI missed: {kpi.name} is {kpi.value:.4g}, target {kpi.target:.4g} ({kpi.direction} is better).",
                )
            )
    if cost.unpriced_runs:
        share = "n/a" if cost.priced_share is None else f"{cost.priced_share:.1%}"
        found.append(
            Alert(
                kind="unpriced",
                message=f"{len(cost.unpriced_runs)} run charges have no rate; {share} of run-hours are priced.",
            )
        )
    if cost.open_runs:
        found.append(
            Alert(
                kind="open_runs",
                message=f"{cost.open_runs} runs are still open and are charged up to the window end.",
            )
        )
    if cost.runs_with_invalid_times:
        found.append(
            Alert(
                kind="invalid_times",
                message=f"{cost.runs_with_invalid_times} runs have invalid timestamps and are charged zero.",
            )
        )
    return found
