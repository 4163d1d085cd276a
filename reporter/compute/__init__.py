"""Stage 2: pure functions from snapshot tables to WeeklyResults. Nothing here draws or reads MLflow."""

from __future__ import annotations

import pandas as pd

from reporter.compute import activity, costs, deployments, estimators
from reporter.compute.results import (
    Amount,
    Completeness,
    Cost,
    Delta,
    Deployments,
    Estimator,
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

__all__ = ["WeeklyResults", "compute_results"]


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def _amounts(pairs: list[tuple[str, int]]) -> list[Amount]:
    return [Amount(name=name, cost=_money(cents)) for name, cents in pairs]


def _open_until_ms(snapshot: Snapshot, week: IsoWeek) -> int:
    gathered = pd.Timestamp(snapshot.info.gathered_at)
    return min(week.end_ms, int(gathered.timestamp() * 1000))


def compute_results(snapshot: Snapshot, config: Config) -> WeeklyResults:
    """Every figure of the report for the snapshot's week, from its tables alone."""
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
    lines = costs.cost_lines(
        runs, tables["run_tags"], tables["run_params"], config.rate_card, weeks, open_until
    )
    week_lines = lines[lines["week"] == week_label]
    flags = costs.charge_intervals(runs, open_until, config.rate_card.max_open_run_hours)
    started_this_week = activity.week_of_start(runs, weeks) == week_label
    charged_this_week = runs["run_id"].isin(week_lines["run_id"]).to_numpy()
    total_cents = int(week_lines["cost_cents"].sum())
    per_week_cost = []
    for w in weeks:
        wl = lines[lines["week"] == str(w)]
        per_week_cost.append(
            WeekCost(
                week=str(w),
                total=_money(int(wl["cost_cents"].sum())),
                by_team=_amounts(costs.breakdown(wl, "team")),
            )
        )
    previous_cents = (
        int(lines.loc[lines["week"] == previous_label, "cost_cents"].sum())
        if has_previous
        else None
    )
    delta = None
    if previous_cents is not None:
        percent = (
            round((total_cents - previous_cents) / previous_cents * 100, 1)
            if previous_cents
            else None
        )
        delta = Delta(absolute=_money(total_cents - previous_cents), percent=percent)
    charged_hours = float(week_lines["hours"].sum())
    priced_hours = float(week_lines.loc[week_lines["priced"], "hours"].sum())
    unpriced = week_lines[~week_lines["priced"]]
    cost_result = Cost(
        currency=config.rate_card.currency,
        total=_money(total_cents),
        compute=_money(total_cents),
        waste=_money(int(week_lines.loc[week_lines["is_waste"], "cost_cents"].sum())),
        by_team=_amounts(costs.breakdown(week_lines, "team")),
        by_experiment=_amounts(costs.breakdown(week_lines, "experiment")),
        by_user=_amounts(costs.breakdown(week_lines, "user")),
        by_instance_type=_amounts(costs.breakdown(week_lines, "instance_type")),
        by_estimator=_amounts(costs.breakdown(week_lines, "estimator")),
        delta=delta,
        per_week=per_week_cost,
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
            for row in unpriced.sort_values(
                ["hours", "run_id"], ascending=[False, True]
            ).itertuples()
        ],
        open_runs=int((flags["is_open"].to_numpy() & charged_this_week).sum()),
        open_runs_capped=int((flags["open_capped"].to_numpy() & charged_this_week).sum()),
        nested_runs_covered_by_parent=int(
            (
                flags["is_child"].to_numpy()
                & started_this_week.to_numpy(dtype=bool, na_value=False)
            ).sum()
        ),
        runs_with_invalid_times=int(
            (
                flags["invalid_time"].to_numpy()
                & started_this_week.to_numpy(dtype=bool, na_value=False)
            ).sum()
        ),
    )

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

    week_runs = runs[started_this_week.to_numpy(dtype=bool, na_value=False)]
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
