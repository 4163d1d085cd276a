"""Stage 2: pure functions from snapshot tables to WeeklyResults. Nothing here draws or reads MLflow."""

from __future__ import annotations

import pandas as pd

from reporter.compute import activity, costs, deployments, estimators
from reporter.compute.results import (
    Amount,
    BudgetStatus,
    Completeness,
    Cost,
    Delta,
    Deployments,
    Estimator,
    FixedCostShare,
    Forecast,
    NamedCount,
    Runs,
    StatusCounts,
    UnpricedRun,
    WeekCost,
    WeekCount,
    WeeklyResults,
    WeekRuns,
    Window,
)
from reporter.compute.runs import run_frame
from reporter.config import Config
from reporter.gather.snapshot import Snapshot
from reporter.weeks import IsoWeek

__all__ = ["WeeklyResults", "charge_lines", "compute_results"]


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def _amounts(pairs: list[tuple[str, int]]) -> list[Amount]:
    return [Amount(name=name, cost=_money(cents)) for name, cents in pairs]


def _open_until_ms(snapshot: Snapshot, week: IsoWeek) -> int:
    gathered = pd.Timestamp(snapshot.info.gathered_at)
    return min(week.end_ms, int(gathered.timestamp() * 1000))


def charge_lines(snapshot: Snapshot, config: Config) -> pd.DataFrame:
    """Every run-week charge of the history window (see costs.cost_lines)."""
    week = IsoWeek.parse(snapshot.info.week)
    runs = run_frame(snapshot.tables, config.team_tag)
    return costs.cost_lines(
        runs,
        snapshot.tables["run_tags"],
        snapshot.tables["run_params"],
        config.rate_card,
        week.history(snapshot.info.history_weeks),
        _open_until_ms(snapshot, week),
    )


def compute_results(
    snapshot: Snapshot, config: Config, lines: pd.DataFrame | None = None
) -> WeeklyResults:
    """Every figure of the report for the snapshot's week, from its tables alone.

    `lines` are the snapshot's `charge_lines`, when the caller already has them.
    """
    info = snapshot.info
    week = IsoWeek.parse(info.week)
    weeks = week.history(info.history_weeks)
    tables = snapshot.tables
    runs = run_frame(tables, config.team_tag)
    week_label = str(week)
    previous_label = str(week.shift(-1))

    counts = activity.status_counts(runs, weeks)
    per_week_runs = [
        WeekRuns(
            week=label,
            total=int(row.sum()),
            by_status=StatusCounts(**{k: int(v) for k, v in row.items()}),
            failure_rate=activity.failure_rate(row),
        )
        for label, row in counts.iterrows()
    ]
    this_week = counts.loc[week_label]
    has_previous = previous_label in counts.index
    runs_result = Runs(
        total=int(this_week.sum()),
        by_status=StatusCounts(**{k: int(v) for k, v in this_week.items()}),
        failure_rate=activity.failure_rate(this_week),
        delta_total=int(this_week.sum() - counts.loc[previous_label].sum())
        if has_previous
        else None,
        per_week=per_week_runs,
    )

    open_until = _open_until_ms(snapshot, week)
    if lines is None:
        lines = charge_lines(snapshot, config)
    flags = costs.charge_intervals(runs, open_until, config.rate_card.max_open_run_hours)
    started_this_week = (activity.week_of_start(runs, weeks) == week_label).to_numpy(
        dtype=bool, na_value=False
    )
    cost_result = _cost_section(lines, flags, started_this_week, runs, config, week, weeks)

    versions = tables["model_versions"]
    deployments_result = Deployments(
        model_versions_created=int(deployments.versions_per_week(versions, [week])[0][1]),
        by_model=[
            NamedCount(name=n, count=c) for n, c in deployments.versions_by_model(versions, week)
        ],
        per_week=[
            WeekCount(week=w, count=c) for w, c in deployments.versions_per_week(versions, weeks)
        ],
        registered_models=len(tables["registered_models"]),
        aliases=len(tables["aliases"]),
    )

    week_runs = runs[started_this_week]
    return WeeklyResults(
        week=week_label,
        window=Window(
            start=info.window_start, end=info.window_end, history_start=info.history_start
        ),
        generated_at=info.gathered_at,
        reporter_version=info.reporter_version,
        tracking_uri=info.tracking_uri,
        runs=runs_result,
        cost=cost_result,
        deployments=deployments_result,
        estimators=[
            Estimator(name=s, full_name=f, runs=n)
            for s, f, n in estimators.top_estimators(week_runs)
        ],
        completeness=Completeness(
            tracking_uri=info.tracking_uri,
            registry_uri=info.registry_uri,
            view_type=info.view_type,
            page_size=info.page_size,
            run_queries=info.run_queries,
            run_pages=info.run_pages,
            runs_fetched=info.runs_fetched,
            runs_in_snapshot=len(tables["runs"]),
            duplicate_runs_dropped=info.duplicate_runs_dropped,
            experiments=len(tables["experiments"]),
            experiments_excluded=info.experiments_excluded,
            mlflow_client_version=info.mlflow_client_version,
            mlflow_server_version=info.mlflow_server_version,
        ),
    )


def _cost_section(
    lines: pd.DataFrame,
    flags: pd.DataFrame,
    started_this_week,
    runs: pd.DataFrame,
    config: Config,
    week: IsoWeek,
    weeks: list[IsoWeek],
) -> Cost:
    """The cost figures of `week`; every amount is a sum of cents, so the parts reconcile."""
    week_label = str(week)
    week_lines = lines[lines["week"] == week_label]
    compute_cents = int(week_lines["cost_cents"].sum())
    waste_cents = int(week_lines.loc[week_lines["is_waste"], "cost_cents"].sum())
    fixed = costs.fixed_costs(config.fixed_costs, week)
    fixed_cents = sum(cents for _, cents in fixed)
    total_cents = compute_cents + fixed_cents
    by_category: dict[str, int] = {"infrastructure": compute_cents}
    for item, cents in fixed:
        by_category[item.category] = by_category.get(item.category, 0) + cents

    weekly_compute = [int(lines.loc[lines["week"] == str(w), "cost_cents"].sum()) for w in weeks]
    per_week = [
        WeekCost(
            week=str(w),
            compute=_money(cents),
            waste=_money(
                int(lines.loc[(lines["week"] == str(w)) & lines["is_waste"], "cost_cents"].sum())
            ),
            by_team=_amounts(costs.breakdown(lines[lines["week"] == str(w)], "team")),
        )
        for w, cents in zip(weeks, weekly_compute, strict=True)
    ]
    delta = None
    if len(weeks) > 1:
        previous = weeks[-2]
        previous_total = weekly_compute[-2] + sum(
            c for _, c in costs.fixed_costs(config.fixed_costs, previous)
        )
        percent = (
            round((total_cents - previous_total) / previous_total * 100, 1)
            if previous_total
            else None
        )
        delta = Delta(absolute=_money(total_cents - previous_total), percent=percent)

    slope, next_value = costs.linear_trend(weekly_compute)
    next_week = week.shift(1)
    forecast_compute = max(0, round(next_value))
    forecast_fixed = sum(c for _, c in costs.fixed_costs(config.fixed_costs, next_week))
    forecast = Forecast(
        week=str(next_week),
        compute=_money(forecast_compute),
        fixed=_money(forecast_fixed),
        total=_money(forecast_compute + forecast_fixed),
        trend_per_week=_money(round(slope)),
        method=(
            f"compute: least-squares linear trend of the last {len(weeks)} weekly compute costs, "
            "extended one week (never below 0); fixed: the configured amounts prorated to that week"
            if len(weeks) > 1
            else "compute: this week's compute carried forward; fixed: prorated configured amounts"
        ),
    )

    budgets = []
    if config.budgets.compute_weekly is not None:
        b, a, used, over = costs.budget_status(compute_cents, config.budgets.compute_weekly)
        budgets.append(
            BudgetStatus(team=None, budget=_money(b), actual=_money(a), used_share=used, over=over)
        )
    team_cents = dict(costs.breakdown(week_lines, "team"))
    for team, amount in sorted(config.budgets.teams.items()):
        b, a, used, over = costs.budget_status(team_cents.get(team, 0), amount)
        budgets.append(
            BudgetStatus(team=team, budget=_money(b), actual=_money(a), used_share=used, over=over)
        )

    charged_hours = float(week_lines["hours"].sum())
    priced_hours = float(week_lines.loc[week_lines["priced"], "hours"].sum())
    charged_this_week = runs["run_id"].isin(week_lines["run_id"]).to_numpy()
    unpriced = week_lines[~week_lines["priced"]].sort_values(
        ["hours", "run_id"], ascending=[False, True]
    )
    return Cost(
        currency=config.rate_card.currency,
        total=_money(total_cents),
        compute=_money(compute_cents),
        fixed=_money(fixed_cents),
        fixed_items=[
            FixedCostShare(name=i.name, category=i.category, cost=_money(c)) for i, c in fixed
        ],
        by_category=_amounts(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        waste=_money(waste_cents),
        waste_share=round(waste_cents / compute_cents, 4) if compute_cents else None,
        budgets=budgets,
        over_budget=any(b.over for b in budgets),
        by_team=_amounts(costs.breakdown(week_lines, "team")),
        by_experiment=_amounts(costs.breakdown(week_lines, "experiment")),
        by_user=_amounts(costs.breakdown(week_lines, "user")),
        by_instance_type=_amounts(costs.breakdown(week_lines, "instance_type")),
        by_estimator=_amounts(costs.breakdown(week_lines, "estimator")),
        delta=delta,
        forecast=forecast,
        per_week=per_week,
        charged_hours=round(charged_hours, 2),
        priced_hours=round(priced_hours, 2),
        priced_share=round(priced_hours / charged_hours, 4) if charged_hours else None,
        unpriced_runs=[
            UnpricedRun(
                run_id=row.run_id,
                run_name=None if pd.isna(row.run_name) else row.run_name,
                experiment=row.experiment,
                instance_type=None if pd.isna(row.instance_type) else row.instance_type,
                hours=round(float(row.hours), 2),
            )
            for row in unpriced.itertuples()
        ],
        open_runs=int((flags["is_open"].to_numpy() & charged_this_week).sum()),
        open_runs_capped=int((flags["open_capped"].to_numpy() & charged_this_week).sum()),
        nested_runs_covered_by_parent=int((flags["is_child"].to_numpy() & started_this_week).sum()),
        runs_with_invalid_times=int((flags["invalid_time"].to_numpy() & started_this_week).sum()),
    )
