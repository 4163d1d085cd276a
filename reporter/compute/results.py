"""WeeklyResults: every figure the report shows, kept apart from how it is displayed.

Its JSON form is kpis.json, a public interface with a JSON Schema in docs/kpis.schema.json
(generated from these models; a test keeps the two in step). Money is in the config's
currency as decimal numbers rounded to the cent; rates are fractions in [0, 1].
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class Runs(_Result):
    total: int = Field(description="Runs started in the report week (nested runs included)")
    by_status: StatusCounts
    failure_rate: float | None = Field(
        description="(FAILED + KILLED) / finished-or-failed runs; null with none"
    )
    delta_total: int | None = Field(description="total minus last week's total")
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


class Deployments(_Result):
    model_versions_created: int = Field(description="Model versions created in the report week")
    by_model: list[NamedCount] = Field(description="Versions created in the report week per model")
    per_week: list[WeekCount]
    registered_models: int
    aliases: int


class Estimator(_Result):
    name: str = Field(description="Short class name, e.g. RandomForestRegressor")
    full_name: str
    runs: int


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
