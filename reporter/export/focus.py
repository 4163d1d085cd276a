"""costs.csv: the week's charges in FinOps FOCUS column names, for finance tools.

One row per run charged in the week (a run crossing a week boundary has a row in each
week's file, for its hours in that week) and one row per fixed cost. BilledCost sums to
kpis.json's cost.total exactly.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from reporter.compute.costs import fixed_costs
from reporter.config import Config
from reporter.weeks import IsoWeek, iso_utc

COLUMNS = [
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ResourceId",
    "ResourceName",
    "ServiceName",
    "ChargeCategory",
    "Tags",
    "x_RunId",
    "x_Experiment",
    "x_Team",
    "x_Status",
    "x_User",
    "x_InstanceType",
    "x_Hours",
    "x_Instances",
    "x_Rate",
    "x_RateRule",
    "x_CostCategory",
]
# A cell starting with one of these is a formula to a spreadsheet: MLflow names are user text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


def export_focus_csv(week_lines: pd.DataFrame, config: Config, week: IsoWeek) -> str:
    """The CSV text: run charges ordered by run id, then fixed costs in config order."""
    start, end = iso_utc(week.start), iso_utc(week.end)
    currency = config.rate_card.currency
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in week_lines.sort_values("run_id").itertuples():
        tags = {
            "team": row.team,
            "experiment": row.experiment,
            "instance_type": None if pd.isna(row.instance_type) else row.instance_type,
            "estimator": None if pd.isna(row.estimator) else row.estimator,
        }
        cost = _money(int(row.cost_cents))
        writer.writerow(
            [
                start,
                end,
                cost,
                cost,
                cost,
                currency,
                row.run_id,
                _text(row.run_name),
                "ML compute",
                "Usage",
                json.dumps(tags, ensure_ascii=False, sort_keys=True),
                row.run_id,
                _text(row.experiment),
                _text(row.team),
                row.status,
                _text(row.user),
                _text(row.instance_type),
                f"{row.hours:.6f}",
                f"{row.instances:g}",
                "" if pd.isna(row.rate) else f"{row.rate:g}",
                _text(row.rate_rule),
                "infrastructure",
            ]
        )
    for item, cents in fixed_costs(config.fixed_costs, week):
        cost = _money(cents)
        writer.writerow(
            [
                start,
                end,
                cost,
                cost,
                cost,
                currency,
                f"fixed:{item.name}",
                _text(item.name),
                item.category,
                "Purchase",
                "{}",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                f"fixed per {item.period}",
                item.category,
            ]
        )
    return out.getvalue()
