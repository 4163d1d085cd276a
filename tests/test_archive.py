"""The MLflow archive on a real sqlite store: runs written through MLflow's client, read back."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from reporter.config import parse_config
from reporter.errors import GatherError, UsageError
from reporter.gather import gather
from reporter.publish.archive import WEEK_TAG, read_archived_file, record_build
from reporter.weeks import IsoWeek
from tests.conftest import RATE_CARD, WEEK, Store
from tests.test_cli import FILES, assert_one_line_error, reporter
from tests.test_email import LEAD, NOBODY, serve, smtp_env

ARCHIVED = ["aliases.json", "kpis.json", "report.html", "report.pdf", "snapshot.json"]


def copy_store(store: Store, folder: Path) -> Store:
    """A copy of `store` in `folder` that the archive may write to."""
    folder.mkdir()
    path = Path(shutil.copy(store.path, folder / "mlflow.db"))
    return Store(path=path, client=MlflowClient(tracking_uri=f"sqlite:///{path}"))


@dataclass
class Build:
    result: subprocess.CompletedProcess[str]
    folder: Path
    store: Store
    received: list[tuple[list[str], bytes]]


@pytest.fixture(scope="module")
def cli_build(small_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """`reporter build --record --email` of the hand-made week, on a writable copy of its
    store, with an SMTP server on 127.0.0.1 that refuses one of the two recipients."""
    cwd = tmp_path_factory.mktemp("cli")
    store = copy_store(small_store, cwd / "store")
    with serve() as smtp:
        smtp.mailbox.refuse[NOBODY] = "550 5.1.1 no such user"
        result = reporter(
            "build",
            "--tracking-uri",
            store.uri,
            "--week",
            str(WEEK),
            "--history-weeks",
            "2",
            "--config",
            str(write_rate_card(cwd)),
            "--record",
            "--email",
            cwd=cwd,
            env=smtp_env(smtp.port, f"{LEAD}, {NOBODY}"),
        )
    return Build(result, cwd / "reports" / str(WEEK), store, smtp.mailbox.received)


def write_rate_card(folder: Path) -> Path:
    path = folder / "reporter.yaml"
    path.write_text(yaml.safe_dump(RATE_CARD))
    return path


@pytest.fixture
def built(cli_build: Build) -> Path:
    """The report folder of that build (read-only: tests that change it copy it)."""
    return cli_build.folder


@pytest.fixture
def writable(small_store: Store, tmp_path: Path) -> Store:
    return copy_store(small_store, tmp_path / "store")


def archive_runs(store: Store, experiment: str = "reporter") -> list:
    found = store.client.get_experiment_by_name(experiment)
    return store.client.search_runs([found.experiment_id]) if found else []


def copy_for_week(folder: Path, week: str, aliases: str, into: Path) -> Path:
    """The built folder relabelled as another week's report with its own alias snapshot."""
    target = Path(shutil.copytree(folder, into / week))
    kpis = json.loads((target / "kpis.json").read_text())
    kpis["week"] = week
    (target / "kpis.json").write_text(json.dumps(kpis))
    (target / "aliases.json").write_text(aliases)
    return target


def test_record_logs_the_build_as_a_run_with_the_week_figures_and_files(
    built: Path, writable: Store
) -> None:
    # given a built report and a writable store without an archive experiment
    assert archive_runs(writable) == []
    # when the build is recorded
    run_id = record_build(writable.uri, built)
    # then one FINISHED run of the `reporter` experiment holds it
    [run] = archive_runs(writable)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    assert run.data.tags[WEEK_TAG] == "2026-W48" and run.data.params["week"] == "2026-W48"
    # with the headline figures as metrics, stamped at the week's start
    metrics = run.data.metrics
    assert metrics["cost_total"] == 32.75 and metrics["runs_total"] == 9
    assert metrics["model_versions_created"] == 1
    [point] = writable.client.get_metric_history(run_id, "cost_total")
    assert point.timestamp == WEEK.start_ms
    # and the report files as artifacts, stored beside the sqlite store
    assert sorted(a.path for a in writable.client.list_artifacts(run_id)) == ARCHIVED
    stored = writable.path.parent / "artifacts" / "reporter"
    assert (next(stored.rglob("kpis.json"))).read_bytes() == (built / "kpis.json").read_bytes()


@pytest.mark.parametrize(
    "raw", [{}, {"archive_experiment": "ml-archive", "exclude_experiments": []}]
)
def test_the_archive_experiment_never_counts_towards_a_kpi(
    raw: dict, built: Path, writable: Store
) -> None:
    # given a config (maybe renaming the archive and excluding nothing) and an archived build
    config = parse_config(raw)
    record_build(writable.uri, built, config.archive_experiment)
    [run] = archive_runs(writable, config.archive_experiment)
    # when the week is gathered with the config's exclusions
    snapshot = gather(writable.uri, WEEK, 2, exclude_experiments=tuple(config.exclude_experiments))
    # then the archive experiment and its run are not in the data
    assert snapshot.info.experiments_excluded == [config.archive_experiment]
    assert config.archive_experiment not in set(snapshot.tables["experiments"]["name"])
    assert run.info.run_id not in set(snapshot.tables["runs"]["run_id"])


def test_the_newest_earlier_build_is_read_back(
    built: Path, writable: Store, tmp_path: Path
) -> None:
    # given W47 archived once and W48 archived twice, each with its own alias snapshot
    record_build(writable.uri, copy_for_week(built, "2026-W47", "w47\n", tmp_path / "a"))
    record_build(writable.uri, copy_for_week(built, "2026-W48", "w48 first\n", tmp_path / "b"))
    record_build(writable.uri, copy_for_week(built, "2026-W48", "w48 rebuilt\n", tmp_path / "c"))

    def read(name: str, before: str) -> bytes | None:
        return read_archived_file(writable.uri, name, IsoWeek.parse(before))

    # then a later week reads the newest build of the newest earlier week
    assert read("aliases.json", "2026-W50") == b"w48 rebuilt\n"
    # and a week reads only builds of weeks before it
    assert read("aliases.json", "2026-W48") == b"w47\n"
    assert read("aliases.json", "2026-W47") is None
    # and a file no build has is None, as is an archive experiment that does not exist
    assert read("nothing.json", "2026-W50") is None
    assert read_archived_file(writable.uri, "aliases.json", WEEK, experiment="none") is None


def test_a_store_of_another_schema_is_refused_and_left_unchanged(
    built: Path, writable: Store
) -> None:
    # given a store whose schema this MLflow does not write
    with sqlite3.connect(writable.path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'from-another-mlflow'")
    before = hashlib.sha256(writable.path.read_bytes()).hexdigest()
    # when a build is recorded or read back, then it is refused and nothing changes
    with pytest.raises(GatherError, match="from-another-mlflow"):
        record_build(writable.uri, built)
    with pytest.raises(GatherError, match="from-another-mlflow"):
        read_archived_file(writable.uri, "aliases.json", WEEK)
    assert hashlib.sha256(writable.path.read_bytes()).hexdigest() == before
    # and a store that does not exist is not created
    missing = writable.path.parent / "missing.db"
    with pytest.raises(UsageError, match="does not exist"):
        record_build(f"sqlite:///{missing}", built)
    assert not missing.exists()


def test_build_records_and_emails_and_a_delivery_failure_exits_3_with_the_report_kept(
    cli_build: Build,
) -> None:
    # given `build --record --email` with one recipient refused (the fixture);
    # then it exits 3 with one line naming the refused address, and the other got the mail
    assert_one_line_error(cli_build.result, 3, NOBODY, "550 5.1.1 no such user")
    assert [to for to, _ in cli_build.received] == [[LEAD]]
    # and the report folder is whole, with the record of who got it
    folder = cli_build.folder
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == sorted([*FILES, "sent.json"])
    # and the build is archived, so a build on a new disk can read its alias snapshot back
    [run] = archive_runs(cli_build.store)
    assert run.data.tags[WEEK_TAG] == str(WEEK)
    assert f"archived {WEEK} as run {run.info.run_id}" in cli_build.result.stderr
    assert (
        read_archived_file(cli_build.store.uri, "aliases.json", WEEK.shift(1))
        == (folder / "aliases.json").read_bytes()
    )


def test_a_build_on_a_fresh_disk_continues_the_alias_history_from_the_archive(
    small_store: Store, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from reporter.job import earlier_alias_history, save_report

    # given last week's build, recorded in MLflow, on a runner whose disk is then thrown away
    store = copy_store(small_store, tmp_path / "store")
    config = parse_config(RATE_CARD)
    first = gather(store.uri, WEEK.shift(-1), 2, now=datetime(2026, 11, 23, 6, 17, tzinfo=UTC))
    record_build(store.uri, save_report(first, config, tmp_path / "runner-1"), "reporter")
    # when this week's build starts on a new runner (an empty output folder)
    previous = earlier_alias_history(tmp_path / "runner-2", WEEK, store.uri, "reporter")
    second = gather(store.uri, WEEK, 2, now=datetime(2026, 11, 30, 6, 17, tzinfo=UTC))
    folder = save_report(second, config, tmp_path / "runner-2", previous_aliases=previous)
    # then its alias history holds last week's observation, read back from the archive
    saved = json.loads((folder / "aliases.json").read_text())["observations"]
    assert [o["week"] for o in saved] == ["2026-W47", "2026-W48"]
    assert (
        "2 alias snapshots"
        in json.loads((folder / "kpis.json").read_text())["deployments"]["history_note"]
    )
