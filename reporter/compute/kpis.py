"""Model and business KPIs declared in the config: a goal, a logged metric, a target."""

from __future__ import annotations

import pandas as pd

from reporter.compute.activity import week_of_start
from reporter.config import Kpi
from reporter.weeks import IsoWeek


def kpi_weekly_values(
    kpi: Kpi,
    runs: pd.DataFrame,
    metrics: pd.DataFrame,
    weeks: list[IsoWeek],
    champion_run_id: str | None,
) -> list[float | None]:
    """The KPI's value in each week (None: no run logged it).

    last/mean/max/min: over the latest value of `metric` of runs in `experiment` that started
    in the week; `last` takes the run that started last. champion: the metric of the run
    behind the model's alias now, for the report week only (earlier weeks: None).
    """
    values = (
        metrics[metrics["key"] == kpi.metric].drop_duplicates("run_id").set_index("run_id")["value"]
    )
    if kpi.aggregate == "champion":
        value = values.get(champion_run_id) if champion_run_id is not None else None
        return [None] * (len(weeks) - 1) + [None if value is None else float(value)]
    in_experiment = runs[runs["experiment"] == kpi.experiment].copy()
    in_experiment["week"] = week_of_start(in_experiment, weeks)
    in_experiment["value"] = in_experiment["run_id"].map(values)
    logged = in_experiment.dropna(subset=["value", "week"]).sort_values(["start_time", "run_id"])
    result: list[float | None] = []
    for week in weeks:
        week_values = logged.loc[logged["week"] == str(week), "value"]
        if week_values.empty:
            result.append(None)
        elif kpi.aggregate == "last":
            result.append(float(week_values.iloc[-1]))
        else:
            result.append(float(getattr(week_values, kpi.aggregate)()))
    return result


def target_met(kpi: Kpi, value: float | None) -> bool | None:
    """Whether `value` reaches the target in the KPI's direction (None: no value or target)."""
    if value is None or kpi.target is None:
        return None
    return value >= kpi.target if kpi.direction == "higher" else value <= kpi.target
