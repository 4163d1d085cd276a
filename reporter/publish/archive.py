"""Archive each build as a run in MLflow, and read files of earlier builds back.

`reporter build --record` logs one run per build in the reporter's own experiment (config
`archive_experiment`, default `reporter`, which every KPI excludes): the week as the tag
`reporter.week`, the headline figures as metrics (so their history can be charted in MLflow
itself) and the report files as artifacts. `read_archived_file` fetches a file from the newest
earlier build: that is how the alias history survives CI runners whose disk is new every week.

A sqlite store is checked with the same schema test as gather before MLflow's client opens it
for writing, so a store written by another MLflow version is refused, never migrated.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import suppress
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run
from mlflow.exceptions import MlflowException

from reporter import __version__
from reporter.compute.results import WeeklyResults
from reporter.errors import DeliveryError, GatherError, UsageError
from reporter.gather.alias_history import ALIASES_FILE
from reporter.gather.mlflow_source import (
    _first_line,
    read_only_sqlite_uri,
    sqlite_path,
    strip_credentials,
)
from reporter.gather.snapshot import SNAPSHOT_FILE
from reporter.weeks import IsoWeek

WEEK_TAG = "reporter.week"
ARCHIVED_FILES = ("report.html", "report.pdf", "kpis.json", SNAPSHOT_FILE)
OPTIONAL_FILES = (ALIASES_FILE,)


def headline_metrics(results: WeeklyResults) -> dict[str, float]:
    """The figures logged as metrics of the archive run; unknown (null) figures are left out."""
    cost, runs, deployments = results.cost, results.runs, results.deployments
    figures: dict[str, float | int | None] = {
        "cost_total": cost.total,
        "cost_compute": cost.compute,
        "cost_fixed": cost.fixed,
        "cost_waste": cost.waste,
        "waste_share": cost.waste_share,
        "priced_share": cost.priced_share,
        "runs_total": runs.total,
        "failure_rate": runs.failure_rate,
        "active_users": runs.active_users,
        "model_versions_created": deployments.model_versions_created,
        "deployments": deployments.deployments,
        "kpis_missed": results.kpis_missed,
    }
    figures.update({f"kpi.{_metric_key(kpi.name)}": kpi.value for kpi in results.kpis})
    return {key: float(value) for key, value in figures.items() if value is not None}


def _metric_key(name: str) -> str:
    """A configured KPI name as an MLflow metric key (letters, digits, _ - . / and spaces)."""
    return re.sub(r"[^\w\-./ ]", "_", name).strip() or "_"


def record_build(tracking_uri: str, folder: Path, experiment: str = "reporter") -> str:
    """Log the report in `folder` as a FINISHED run of `experiment`; returns the run id."""
    results = WeeklyResults.from_json((folder / "kpis.json").read_text(encoding="utf-8"))
    week = IsoWeek.parse(results.week)
    files = [*ARCHIVED_FILES, *(name for name in OPTIONAL_FILES if (folder / name).is_file())]
    client = _client(tracking_uri)
    run_id = None
    try:
        run = client.create_run(
            _archive_experiment_id(client, tracking_uri, experiment),
            run_name=f"report {week}",
            tags={WEEK_TAG: str(week), "reporter.version": __version__},
        )
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[
                Metric(key, value, week.start_ms, 0)
                for key, value in headline_metrics(results).items()
            ],
            params=[Param("week", str(week))],
        )
        for name in files:
            client.log_artifact(run_id, str(folder / name))
        client.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError) as exc:
        if run_id is not None:
            _mark_failed(client, run_id)
        raise DeliveryError(
            f"archiving {week} in MLflow experiment '{experiment}' at "
            f"{strip_credentials(tracking_uri)} failed: {_first_line(exc)}"
        ) from None
    return run_id


def read_archived_file(
    tracking_uri: str, name: str, before_week: IsoWeek, experiment: str = "reporter"
) -> bytes | None:
    """Artifact `name` of the newest archived build of a week before `before_week`, or None.

    Newest means the latest week, then the latest build of that week; only FINISHED runs
    count. None when the experiment, or any such run with that artifact, does not exist.
    """
    client = _client(tracking_uri)
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None or found.lifecycle_stage != "active":
            return None
        candidates = sorted(
            (
                (week, run.info.start_time or 0, run.info.run_id)
                for run in _finished_runs(client, found.experiment_id)
                if (week := _week_of(run.data.tags.get(WEEK_TAG))) is not None
                and week < before_week
            ),
            reverse=True,
        )
        for _, _, run_id in candidates:
            if any(item.path == name for item in client.list_artifacts(run_id)):
                with tempfile.TemporaryDirectory(prefix="reporter-archive-") as tmp:
                    return Path(client.download_artifacts(run_id, name, tmp)).read_bytes()
    except (MlflowException, OSError) as exc:
        raise GatherError(
            f"reading {name} from MLflow experiment '{experiment}' at "
            f"{strip_credentials(tracking_uri)} failed: {_first_line(exc)}"
        ) from None
    return None


def _client(tracking_uri: str) -> MlflowClient:
    path = sqlite_path(tracking_uri)
    if path is not None:
        read_only_sqlite_uri(path)  # raises unless the store exists with this MLflow's schema
    return MlflowClient(tracking_uri=tracking_uri)


def _archive_experiment_id(client: MlflowClient, tracking_uri: str, name: str) -> str:
    """The archive experiment's id, created on first use (next to a sqlite store's file)."""
    found = client.get_experiment_by_name(name)
    if found is None:
        path = sqlite_path(tracking_uri)
        location = (path.parent / "artifacts" / name).as_uri() if path is not None else None
        return client.create_experiment(
            name,
            artifact_location=location,
            tags={"mlflow.note.content": "Weekly report builds archived by reporter --record"},
        )
    if found.lifecycle_stage != "active":
        raise DeliveryError(
            f"MLflow experiment '{name}' is deleted: restore it or set archive_experiment"
        )
    return found.experiment_id


def _finished_runs(client: MlflowClient, experiment_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], "attributes.status = 'FINISHED'", max_results=1000, page_token=token
        )
        runs += page
        token = page.token
        if not token:
            return runs


def _week_of(tag: str | None) -> IsoWeek | None:
    try:
        return IsoWeek.parse(tag) if tag else None
    except UsageError:
        return None


def _mark_failed(client: MlflowClient, run_id: str) -> None:
    with suppress(MlflowException, OSError):  # the original error is the one worth reporting
        client.set_terminated(run_id, "FAILED")
