"""Which model classes the week's runs trained, from sklearn autolog's estimator tags."""

from __future__ import annotations

import pandas as pd

from reporter.compute.runs import short_estimator


def estimator_table(
    week_runs: pd.DataFrame,
    week_lines: pd.DataFrame,
    metrics: pd.DataFrame,
    metric: str | None,
    higher_is_better: bool,
) -> pd.DataFrame:
    """One row per estimator among runs that started in the week, most runs first.

    Columns: name (short class name), full_name, runs, run_share, cost_cents, cost_share,
    failure_rate ((FAILED + KILLED) / ended runs), best (best value of `metric`, or NaN).
    Untagged runs are left out of the rows but count in run_share's denominator.
    """
    tagged = week_runs[week_runs["estimator"].notna()]
    total_runs = len(week_runs)
    total_cents = int(week_lines["cost_cents"].sum())
    cents = week_lines.groupby(week_lines["estimator"].astype("string").to_numpy())[
        "cost_cents"
    ].sum()
    values = pd.Series(dtype="float64")
    if metric is not None:
        values = (
            metrics[metrics["key"] == metric].drop_duplicates("run_id").set_index("run_id")["value"]
        )
    rows = []
    for full, group in tagged.groupby(tagged["estimator"].astype(str).to_numpy()):
        ended = group["status"].isin(["FINISHED", "FAILED", "KILLED"]).sum()
        failed = group["status"].isin(["FAILED", "KILLED"]).sum()
        logged = values.reindex(group["run_id"]).dropna()
        best = (logged.max() if higher_is_better else logged.min()) if len(logged) else float("nan")
        cost = int(cents.get(full, 0))
        rows.append(
            {
                "name": short_estimator(full),
                "full_name": full,
                "runs": len(group),
                "run_share": round(len(group) / total_runs, 4),
                "cost_cents": cost,
                "cost_share": round(cost / total_cents, 4) if total_cents else None,
                "failure_rate": round(failed / ended, 4) if ended else None,
                "best": float(best),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "name",
            "full_name",
            "runs",
            "run_share",
            "cost_cents",
            "cost_share",
            "failure_rate",
            "best",
        ],
    )
    return table.sort_values(["runs", "full_name"], ascending=[False, True], ignore_index=True)
