"""One row per run with the attributes every KPI groups by, derived from the snapshot tables."""

from __future__ import annotations

import pandas as pd

UNATTRIBUTED = "unattributed"
PARENT_TAG = "mlflow.parentRunId"
INSTANCE_TAG = "instance_type"
ESTIMATOR_TAGS = ("estimator_class", "estimator_name")
STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")


def tag_values(long_table: pd.DataFrame, key: str, id_column: str = "run_id") -> pd.Series:
    """The value of one key per id, from a long (id, key, value) table."""
    rows = long_table[long_table["key"] == key]
    return rows.drop_duplicates(id_column).set_index(id_column)["value"]


def short_estimator(full_name: str) -> str:
    """`sklearn.ensemble._forest.RandomForestRegressor` -> `RandomForestRegressor`."""
    return full_name.rsplit(".", 1)[-1]


def run_frame(
    tables: dict[str, pd.DataFrame], team_tag: str, estimator_fallback: str | None = None
) -> pd.DataFrame:
    """Runs joined with experiment name, team, instance type, estimator and parent run.

    Team: the run's `team_tag` tag, else its experiment's, else "unattributed".
    Estimator: `estimator_class` (sklearn autolog), else `estimator_name`, else the tag and
    then the param named `estimator_fallback`, else None.
    """
    runs = tables["runs"].set_index("run_id", drop=False)
    experiments = tables["experiments"].set_index("experiment_id")
    run_tags = tables["run_tags"]
    frame = runs.copy()
    frame["experiment"] = (
        frame["experiment_id"].map(experiments["name"]).fillna(frame["experiment_id"])
    )
    experiment_team = tag_values(tables["experiment_tags"], team_tag, "experiment_id")
    team = tag_values(run_tags, team_tag).reindex(frame.index)
    team = team.astype("string").fillna(
        frame["experiment_id"].map(experiment_team).astype("string")
    )
    frame["team"] = team.fillna(UNATTRIBUTED).replace("", UNATTRIBUTED)
    frame["instance_type"] = tag_values(run_tags, INSTANCE_TAG).reindex(frame.index)
    estimator = pd.Series(pd.NA, index=frame.index, dtype="string")
    for key in ESTIMATOR_TAGS:
        estimator = estimator.fillna(tag_values(run_tags, key).reindex(frame.index))
    if estimator_fallback is not None:
        estimator = estimator.fillna(tag_values(run_tags, estimator_fallback).reindex(frame.index))
        params = tables["run_params"]
        estimator = estimator.fillna(tag_values(params, estimator_fallback).reindex(frame.index))
    frame["estimator"] = estimator
    frame["parent_run_id"] = tag_values(run_tags, PARENT_TAG).reindex(frame.index)
    frame["user"] = frame["user_id"].fillna(UNATTRIBUTED).replace("", UNATTRIBUTED)
    return frame.reset_index(drop=True)
