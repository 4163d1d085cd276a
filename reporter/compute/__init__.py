"""Stage 2: pure functions from snapshot tables to WeeklyResults. Nothing here draws or reads MLflow."""

from __future__ import annotations

import pandas as pd

from reporter.compute import activity, alerts, costs, deployments, estimators, kpis
from reporter.compute.results import (
    TOP_RUNS,
    AliasMoveResult,
    Amount,
    BudgetStatus,
    Completeness,
    Cost,
    Delta,
    Deployments,
    DoraTiers,
    Estimator,
    ExperimentDurations,
    FixedCostShare,
    Forecast,
    KpiResult,
    NamedCount,
    RunCharge,
    Runs,
    StaleModel,
    StatusCounts,
    UnpricedRun,
    WeekCost,
    WeekDeployments,
    WeeklyResults,
    WeekRuns,
    Window,
)
from reporter.compute.runs import ESTIMATOR_TAGS, INSTANCE_TAG, PARENT_TAG, run_frame
from reporter.config import Config
from reporter.gather.alias_history import AliasObservation, observe
from reporter.gather.mlflow_source import Keys
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


def report_keys(config: Config) -> Keys:
    """The run tags, params and metrics a report with `config` reads: gathering only these
    is what lets a million-run window fit in memory (`build --only-report-keys`)."""
    card, fallback = config.rate_card, config.estimators.fallback_key
    either = {key for key in (card.instance_count_key, fallback) if key}
    return Keys(
        tags=frozenset(
            {config.team_tag, INSTANCE_TAG, PARENT_TAG, *ESTIMATOR_TAGS, *either}
            | {rule.tag for rule in card.rules if rule.tag}
        ),
        params=frozenset(either | {rule.param for rule in card.rules if rule.param}),
        metrics=frozenset(
            {kpi.metric for kpi in config.kpis}
            | ({config.estimators.metric} if config.estimators.metric else set())
        ),
    )


def charge_lines(snapshot: Snapshot, config: Config) -> pd.DataFrame:
    """Every run-week charge of the history window (see costs.cost_lines)."""
    week = IsoWeek.parse(snapshot.info.week)
    runs = run_frame(snapshot.tables, config.team_tag, config.estimators.fallback_key)
    return costs.cost_lines(
        runs,
        snapshot.tables["run_tags"],
        snapshot.tables["run_params"],
        config.rate_card,
        week.history(snapshot.info.history_weeks),
        _open_until_ms(snapshot, week),
    )


def compute_results(
    snapshot: Snapshot,
    config: Config,
    lines: pd.DataFrame | None = None,
    alias_history: list[AliasObservation] | None = None,
) -> WeeklyResults:
    """Every figure of the report for the snapshot's week, from its tables alone.

    `lines` are the snapshot's `charge_lines`, when the caller already has them;
    `alias_history` the chain of alias observations ending with this snapshot's (default:
    this snapshot's alone, i.e. no earlier history).
    """
    info = snapshot.info
    week = IsoWeek.parse(info.week)
    weeks = week.history(info.history_weeks)
    tables = snapshot.tables
    runs = run_frame(tables, config.team_tag, config.estimators.fallback_key)
    if lines is None:
        lines = charge_lines(snapshot, config)
    if alias_history is None:
        alias_history = [observe(snapshot)]
    week_label = str(week)
    started = activity.week_of_start(runs, weeks)
    started_this_week = (started == week_label).to_numpy(dtype=bool, na_value=False)
    week_runs = runs[started_this_week]
    week_lines = lines[lines["week"] == week_label]

    runs_result = _runs_section(runs, started, tables["experiments"], week, weeks)
    flags = costs.charge_intervals(
        runs, _open_until_ms(snapshot, week), config.rate_card.max_open_run_hours
    )
    cost_result = _cost_section(lines, flags, started_this_week, runs, config, week, weeks)
    deployments_result = _deployments_section(tables, runs, config, week, weeks, alias_history)
    table = estimators.estimator_table(
        week_runs,
        week_lines,
        tables["run_metrics"],
        config.estimators.metric,
        config.estimators.metric_direction == "higher",
    )
    estimator_results = [
        Estimator(
            name=row.name,
            full_name=row.full_name,
            runs=int(row.runs),
            run_share=float(row.run_share),
            cost=_money(int(row.cost_cents)),
            cost_share=None if pd.isna(row.cost_share) else float(row.cost_share),
            failure_rate=None if pd.isna(row.failure_rate) else float(row.failure_rate),
            best=None if pd.isna(row.best) else round(float(row.best), 6),
        )
        for row in table.itertuples()
    ]
    kpi_results = _kpi_section(runs, tables, config, weeks)
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
        estimators=estimator_results,
        estimator_metric=config.estimators.metric,
        kpis=kpi_results,
        kpis_missed=sum(k.status == "missed" for k in kpi_results),
        alerts=alerts.alerts(runs_result, cost_result, kpi_results, config.alerts, week_label),
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
            runs_reused=info.runs_reused,
            reused_from=info.reused_from,
            mlflow_client_version=info.mlflow_client_version,
            mlflow_server_version=info.mlflow_server_version,
        ),
    )


def _delta(now: float | None, before: float | None, digits: int | None = None) -> float | None:
    if now is None or before is None:
        return None
    return now - before if digits is None else round(now - before, digits)


def _runs_section(
    runs: pd.DataFrame,
    started: pd.Series,
    experiments: pd.DataFrame,
    week: IsoWeek,
    weeks: list[IsoWeek],
) -> Runs:
    counts = activity.status_counts(runs, weeks)
    per_week = [
        WeekRuns(
            week=label,
            total=int(row.sum()),
            by_status=StatusCounts(**{k: int(v) for k, v in row.items()}),
            failure_rate=activity.failure_rate(row),
        )
        for label, row in counts.iterrows()
    ]
    this = runs[(started == str(week)).to_numpy(dtype=bool, na_value=False)]
    users, touched = this["user"].nunique(), this["experiment_id"].nunique()
    previous = per_week[-2] if len(per_week) > 1 else None
    before = runs[(started == str(week.shift(-1))).to_numpy(dtype=bool, na_value=False)]
    current = per_week[-1]
    return Runs(
        total=current.total,
        by_status=current.by_status,
        failure_rate=current.failure_rate,
        delta_total=None if previous is None else current.total - previous.total,
        delta_failure_rate=_delta(
            current.failure_rate, previous.failure_rate if previous else None, 4
        ),
        active_users=int(users),
        delta_active_users=None if previous is None else int(users - before["user"].nunique()),
        experiments_touched=int(touched),
        delta_experiments_touched=None
        if previous is None
        else int(touched - before["experiment_id"].nunique()),
        new_experiments=activity.new_experiments(experiments, week),
        durations=[
            ExperimentDurations(experiment=e, runs=n, p50_minutes=p50, p95_minutes=p95)
            for e, n, p50, p95 in activity.duration_percentiles(this)
        ],
        per_week=per_week,
    )


def _deployments_section(
    tables: dict[str, pd.DataFrame],
    runs: pd.DataFrame,
    config: Config,
    week: IsoWeek,
    weeks: list[IsoWeek],
    alias_history: list[AliasObservation],
) -> Deployments:
    """Deployments counted the configured way, lead times, DORA tiers, stale models."""
    settings = config.deployments
    versions = tables["model_versions"]
    labels = [str(w) for w in weeks]
    moves = [
        m for m in deployments.alias_moves(alias_history, settings.aliases) if m.week in labels
    ]
    observed_weeks = {after.week for after in alias_history[1:]}
    per_week_count: list[int | None] = []
    for w in weeks:
        if settings.count == "alias":
            known = str(w) in observed_weeks
            per_week_count.append(
                sum(m.week == str(w) and m.kind == "promotion" for m in moves) if known else None
            )
        elif settings.count == "stage":
            per_week_count.append(len(deployments.stage_deployments(versions, w, settings.stage)))
        else:
            per_week_count.append(len(deployments.versions_in(versions, w)))
    lead_times = {
        str(w): deployments.lead_time_hours(deployments.versions_in(versions, w), runs)
        for w in weeks
    }
    week_versions = deployments.versions_in(versions, week)
    by_model = week_versions.groupby("name").size()

    known_counts = [c for c in per_week_count if c is not None]
    per_day = round(sum(known_counts) / (7 * len(known_counts)), 4) if known_counts else None
    promotions = [m for m in moves if m.kind == "promotion"]
    rollbacks = [m for m in moves if m.kind == "rollback"]
    alias_mode = settings.count == "alias"
    change_failure_rate = (
        round(len(rollbacks) / len(promotions), 4) if alias_mode and promotions else None
    )
    restore = deployments.median_or_none(deployments.restore_hours(moves)) if alias_mode else None
    created = versions.set_index(["name", "version"])["creation_time"]
    promotion_hours = [
        (deployments.ms_of(m.observed_at) - int(created[(m.model, m.to_version)]))
        / deployments.HOUR_MS
        for m in promotions
        if m.week == str(week) and (m.model, m.to_version) in created.index
    ]
    lead_time = deployments.median_or_none(lead_times[str(week)])
    window_lead_time = deployments.median_or_none(
        [h for hours in lead_times.values() for h in hours]
    )
    tiers = [
        deployments.frequency_tier(per_day),
        deployments.lead_time_tier(window_lead_time),
        deployments.failure_rate_tier(change_failure_rate),
        deployments.restore_tier(restore),
    ]
    if not alias_mode:
        note = (
            f"A deployment is a model version whose stage became {settings.stage} in the week "
            "(the version's last update time stands for the transition)."
            if settings.count == "stage"
            else "A deployment is a model version created (no alias or stage is watched)."
        )
    elif len(alias_history) < 2:
        note = (
            "No earlier alias snapshot was found, so alias moves (deployments, rollbacks) are "
            "not known yet; this build's snapshot starts the history."
        )
    else:
        note = (
            f"Alias moves of {', '.join(settings.aliases)} come from {len(alias_history)} alias "
            f"snapshots taken by successive builds since {alias_history[0].observed_at}; a move "
            "is dated by the build that first saw it."
        )
    return Deployments(
        counted_as=settings.count,
        watched=list(settings.aliases)
        if alias_mode
        else [settings.stage]
        if settings.count == "stage"
        else [],
        deployments=per_week_count[-1],
        moves=[
            AliasMoveResult(
                model=m.model,
                alias=m.alias,
                kind=m.kind,
                from_version=m.from_version,
                to_version=m.to_version,
                observed_at=m.observed_at,
            )
            for m in moves
            if m.week == str(week)
        ],
        rollbacks=sum(m.week == str(week) for m in rollbacks)
        if alias_mode and per_week_count[-1] is not None
        else None,
        model_versions_created=len(week_versions),
        by_model=[
            NamedCount(name=str(n), count=int(c))
            for n, c in sorted(by_model.items(), key=lambda item: (-item[1], item[0]))
        ],
        per_week=[
            WeekDeployments(
                week=label,
                versions_created=len(deployments.versions_in(versions, w)),
                deployments=count,
                median_lead_time_hours=deployments.median_or_none(lead_times[label]),
            )
            for label, w, count in zip(labels, weeks, per_week_count, strict=True)
        ],
        median_lead_time_hours=lead_time,
        lead_times_known=len(lead_times[str(week)]),
        median_promotion_hours=deployments.median_or_none(promotion_hours),
        deployments_per_day=per_day,
        change_failure_rate=change_failure_rate,
        median_time_to_restore_hours=restore,
        tiers=DoraTiers(
            deployment_frequency=tiers[0],
            lead_time=tiers[1],
            change_failure_rate=tiers[2],
            time_to_restore=tiers[3],
            overall=deployments.overall_tier(tiers),
        ),
        history_note=note,
        stale_models=[
            StaleModel(name=n, weeks_since_last_version=age)
            for n, age in deployments.stale_models(
                tables["registered_models"], versions, week, settings.stale_after_weeks
            )
        ],
        registered_models=len(tables["registered_models"]),
        aliases=len(tables["aliases"]),
    )


def _kpi_section(
    runs: pd.DataFrame, tables: dict[str, pd.DataFrame], config: Config, weeks: list[IsoWeek]
) -> list[KpiResult]:
    aliases = tables["aliases"]
    versions = tables["model_versions"].set_index(["name", "version"])["run_id"]
    results = []
    for kpi in config.kpis:
        champion_run = None
        if kpi.aggregate == "champion":
            hit = aliases[(aliases["name"] == kpi.model) & (aliases["alias"] == kpi.alias)]
            if len(hit):
                champion_run = versions.get((kpi.model, int(hit["version"].iloc[0])))
        history = kpis.kpi_weekly_values(kpi, runs, tables["run_metrics"], weeks, champion_run)
        value = history[-1]
        met = kpis.target_met(kpi, value)
        status = (
            "no data"
            if value is None
            else "no target"
            if met is None
            else "met"
            if met
            else "missed"
        )
        results.append(
            KpiResult(
                name=kpi.name,
                goal=kpi.goal,
                metric=kpi.metric,
                experiment=kpi.experiment,
                aggregate=kpi.aggregate,
                direction=kpi.direction,
                target=kpi.target,
                value=value,
                previous=history[-2] if len(history) > 1 else None,
                history=history,
                status=status,
            )
        )
    return results


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
        runs_charged=int(week_lines["run_id"].nunique()),
        top_runs=[
            RunCharge(
                run_id=row.run_id,
                run_name=None if pd.isna(row.run_name) else row.run_name,
                experiment=row.experiment,
                team=row.team,
                status=row.status,
                instance_type=None if pd.isna(row.instance_type) else row.instance_type,
                hours=round(float(row.hours), 2),
                cost=_money(int(row.cost_cents)),
            )
            for row in week_lines.sort_values(["cost_cents", "run_id"], ascending=[False, True])
            .head(TOP_RUNS)
            .itertuples()
        ],
        open_runs=int((flags["is_open"].to_numpy() & charged_this_week).sum()),
        open_runs_capped=int((flags["open_capped"].to_numpy() & charged_this_week).sum()),
        nested_runs_covered_by_parent=int((flags["is_child"].to_numpy() & started_this_week).sum()),
        runs_with_invalid_times=int((flags["invalid_time"].to_numpy() & started_this_week).sum()),
    )
