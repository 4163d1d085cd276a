"""WeeklyResults: every figure the report shows, kept apart from how it is displayed.

Its JSON form is kpis.json, a public interface with a JSON Schema in docs/kpis.schema.json
(generated from these models; a test keeps the two in step). Money is in the config's
currency as decimal numbers rounded to the cent; rates are fractions in [0, 1].
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

TOP_RUNS = 50


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Result):
    start: str = Field(description="Report week start, UTC ISO 8601, inclusive")
    end: str = Field(description="Report week end, UTC ISO 8601, exclusive")
    history_start: str = Field(description="Start of the history window (trends), inclusive")


class StatusCounts(_Result):
    FINISHED: int = 0
    FAILED: int = 0
    KILLED: int = 0
    RUNNING: int = 0
    SCHEDULED: int = 0


class WeekRuns(_Result):
    week: str
    total: int
    by_status: StatusCounts
    failure_rate: float | None


class ExperimentDurations(_Result):
    experiment: str
    runs: int = Field(description="Runs that started in the week and ended with valid times")
    p50_minutes: float
    p95_minutes: float


class Runs(_Result):
    total: int = Field(description="Runs started in the report week (nested runs included)")
    by_status: StatusCounts
    failure_rate: float | None = Field(
        description="(FAILED + KILLED) / finished-or-failed runs; null with none"
    )
    delta_total: int | None = Field(description="total minus last week's total")
    delta_failure_rate: float | None = Field(
        description="failure_rate minus last week's, in rate points"
    )
    active_users: int = Field(description="Distinct users with a run started in the week")
    delta_active_users: int | None
    experiments_touched: int = Field(
        description="Distinct experiments with a run started in the week"
    )
    delta_experiments_touched: int | None
    new_experiments: int = Field(description="Experiments created in the week")
    durations: list[ExperimentDurations]
    per_week: list[WeekRuns]


class Amount(_Result):
    name: str
    cost: float


class UnpricedRun(_Result):
    run_id: str
    run_name: str | None
    experiment: str
    instance_type: str | None
    hours: float


class RunCharge(_Result):
    run_id: str
    run_name: str | None
    experiment: str
    team: str
    status: str
    instance_type: str | None
    hours: float
    cost: float


class WeekCost(_Result):
    week: str
    compute: float
    waste: float
    by_team: list[Amount] = Field(description="Compute cost of the week per team")


class FixedCostShare(_Result):
    name: str
    category: str
    cost: float = Field(description="The configured amount prorated to the report week")


class BudgetStatus(_Result):
    team: str | None = Field(description="null for the overall compute budget")
    budget: float
    actual: float = Field(description="Compute cost of the report week (of the team)")
    used_share: float = Field(description="actual / budget")
    over: bool


class Forecast(_Result):
    week: str = Field(description="The week forecast (the one after the report week)")
    compute: float
    fixed: float
    total: float
    trend_per_week: float = Field(description="Slope of the compute cost trend line, per week")
    method: str


class Delta(_Result):
    absolute: float
    percent: float | None = Field(
        description="Change relative to last week in percent; null when last week was 0"
    )


class Cost(_Result):
    currency: str
    total: float = Field(description="compute + fixed for the report week")
    compute: float = Field(description="Run compute charged to the report week")
    fixed: float = Field(description="Configured fixed costs prorated to the report week")
    fixed_items: list[FixedCostShare]
    by_category: list[Amount] = Field(
        description="total split by cost category; compute is infrastructure"
    )
    waste: float = Field(description="Cost of FAILED and KILLED runs and of open runs past the cap")
    waste_share: float | None = Field(description="waste / compute")
    budgets: list[BudgetStatus]
    over_budget: bool = Field(description="Any budget of the report week exceeded")
    by_team: list[Amount]
    by_experiment: list[Amount]
    by_user: list[Amount]
    by_instance_type: list[Amount]
    by_estimator: list[Amount]
    delta: Delta | None = Field(description="total minus last week's total")
    forecast: Forecast
    per_week: list[WeekCost]
    charged_hours: float
    priced_hours: float
    priced_share: float | None = Field(description="priced_hours / charged_hours")
    unpriced_runs: list[UnpricedRun]
    runs_charged: int = Field(description="Runs with a charge in the report week")
    top_runs: list[RunCharge] = Field(description=f"The {TOP_RUNS} most expensive runs of the week")
    open_runs: int = Field(description="Runs still RUNNING/SCHEDULED charged up to the window end")
    open_runs_capped: int
    nested_runs_covered_by_parent: int
    runs_with_invalid_times: int


class WeekCount(_Result):
    week: str
    count: int


class NamedCount(_Result):
    name: str
    count: int


class AliasMoveResult(_Result):
    model: str
    alias: str
    kind: str = Field(description="promotion | rollback | removed")
    from_version: int | None
    to_version: int | None
    observed_at: str = Field(
        description="When the build that first saw the move looked (an upper bound)"
    )


class WeekDeployments(_Result):
    week: str
    versions_created: int
    deployments: int | None = Field(
        description="null when unknown (no alias observations for that week)"
    )
    median_lead_time_hours: float | None


class StaleModel(_Result):
    name: str
    weeks_since_last_version: int | None = Field(description="null: the model has no version")


class DoraTiers(_Result):
    deployment_frequency: str | None
    lead_time: str | None
    change_failure_rate: str | None
    time_to_restore: str | None
    overall: str | None = Field(description="The lowest tier among the metrics that have data")


class Deployments(_Result):
    counted_as: str = Field(description="alias | stage | version: what counts as a deployment")
    watched: list[str] = Field(description="The aliases (or stage) watched")
    deployments: int | None = Field(description="Deployments in the report week; null when unknown")
    moves: list[AliasMoveResult] = Field(description="Alias moves first seen by this week's build")
    rollbacks: int | None
    model_versions_created: int = Field(description="Model versions created in the report week")
    by_model: list[NamedCount] = Field(description="Versions created in the report week per model")
    per_week: list[WeekDeployments]
    median_lead_time_hours: float | None = Field(
        description="Median of version created minus source run start, versions of the week"
    )
    lead_times_known: int = Field(description="Versions of the week whose source run was found")
    median_promotion_hours: float | None = Field(
        description="Median of promotion observed minus version created, this week"
    )
    deployments_per_day: float | None = Field(
        description="Over the weeks with alias history in the window"
    )
    change_failure_rate: float | None = Field(description="rollbacks / promotions over the window")
    median_time_to_restore_hours: float | None
    tiers: DoraTiers
    history_note: str
    stale_models: list[StaleModel]
    registered_models: int
    aliases: int


class Estimator(_Result):
    name: str = Field(description="Short class name, e.g. RandomForestRegressor")
    full_name: str
    runs: int
    run_share: float = Field(description="runs / all runs started in the week")
    cost: float = Field(description="Compute cost of the estimator's runs in the week")
    cost_share: float | None
    failure_rate: float | None
    best: float | None = Field(description="Best value of the configured estimator metric, if any")


class KpiResult(_Result):
    name: str
    goal: str
    metric: str
    experiment: str
    aggregate: str
    direction: str
    target: float | None
    value: float | None = Field(description="This week's value; null: no run logged it")
    previous: float | None = Field(description="Last week's value")
    history: list[float | None] = Field(description="One value per week of the history window")
    status: str = Field(description="met | missed | no data | no target")


class Alert(_Result):
    kind: str = Field(
        description="budget | failure_rate | kpi | unpriced | open_runs | invalid_times | empty"
    )
    message: str


class Completeness(_Result):
    tracking_uri: str
    registry_uri: str
    view_type: str
    page_size: int
    run_queries: int
    run_pages: int
    runs_fetched: int
    runs_in_snapshot: int
    duplicate_runs_dropped: int
    experiments: int
    experiments_excluded: list[str]
    runs_reused: int = Field(description="Runs of older weeks taken from an earlier snapshot")
    reused_from: str | None = Field(description="The week of that snapshot; null: all fetched")
    mlflow_client_version: str
    mlflow_server_version: str | None


class WeeklyResults(_Result):
    schema_version: int = 1
    week: str = Field(description="ISO week, %G-W%V")
    window: Window
    generated_at: str = Field(description="When the data was gathered, UTC ISO 8601")
    reporter_version: str
    tracking_uri: str = Field(description="Tracking URI with credentials and query stripped")
    runs: Runs
    cost: Cost
    deployments: Deployments
    estimators: list[Estimator] = Field(description="Sorted by runs, most first")
    estimator_metric: str | None = Field(
        description="Metric whose best value is in estimators[].best"
    )
    kpis: list[KpiResult]
    kpis_missed: int
    alerts: list[Alert]
    completeness: Completeness

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> WeeklyResults:
        return cls.model_validate_json(text)


def kpis_json_schema() -> str:
    """The JSON Schema of kpis.json, as shipped in docs/kpis.schema.json."""
    import json

    schema = WeeklyResults.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "kpis.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
