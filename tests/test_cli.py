"""The CLI as a user runs it: a subprocess, its exit code, its one-line errors, its files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import RATE_CARD, Server, Store, free_port

FILES = [
    "aliases.json",
    "charts/cost-per-week.png",
    "charts/runs-by-status.png",
    "costs.csv",
    "kpis.json",
    "report.html",
    "report.pdf",
    "snapshot.json",
]


def reporter(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reporter", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "reporter.yaml"
    path.write_text(yaml.safe_dump(RATE_CARD))
    return path


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *fragments: str
) -> None:
    assert result.returncode == code, result.stderr
    # progress lines may come first; the error is exactly one line, the last
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("reporter: error: ")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_build_then_render_gives_the_same_report(
    small_store: Store, config_file: Path, tmp_path: Path
) -> None:
    # given a seeded store; when the CLI builds W48
    built = reporter(
        "build",
        "--tracking-uri",
        small_store.uri,
        "--week",
        "2026-W48",
        "--history-weeks",
        "2",
        "--config",
        str(config_file),
        "--out",
        "reports",
        cwd=tmp_path,
    )
    # then it exits 0 and prints the files it wrote
    assert built.returncode == 0, built.stderr
    folder = tmp_path / "reports" / "2026-W48"
    assert built.stdout.split() == [
        str(Path("reports") / "2026-W48" / name)
        for name in (
            "report.html",
            "report.pdf",
            "kpis.json",
            "costs.csv",
            "snapshot.json",
            "aliases.json",
        )
    ]
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == FILES
    # when the saved snapshot is rendered again without MLflow
    rendered = reporter(
        "render", str(folder), "--config", str(config_file), "--out", "again", cwd=tmp_path
    )
    # then HTML, PDF and kpis.json are byte-identical
    assert rendered.returncode == 0, rendered.stderr
    for name in FILES:
        assert (tmp_path / "again" / "2026-W48" / name).read_bytes() == (
            folder / name
        ).read_bytes(), name


def test_build_over_http_against_a_real_mlflow_server(
    small_server: Server, config_file: Path, tmp_path: Path
) -> None:
    result = reporter(
        "build",
        "--week",
        "2026-W48",
        "--history-weeks",
        "2",
        "--config",
        str(config_file),
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": small_server.url},
    )
    assert result.returncode == 0, result.stderr
    kpis = (tmp_path / "reports" / "2026-W48" / "kpis.json").read_text()
    assert '"total": 32.75' in kpis and small_server.url in kpis


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (
            ["build", "--tracking-uri", "sqlite:///{tmp}/missing.db", "--week", "2026-W48"],
            2,
            "does not exist",
        ),
        (["build", "--tracking-uri", "{store}", "--week", "2026-48"], 2, "invalid week '2026-48'"),
        (
            [
                "build",
                "--tracking-uri",
                "{store}",
                "--week",
                "2026-W48",
                "--config",
                "{tmp}/bad.yaml",
            ],
            2,
            "'rate_card.default_rate'",
        ),
        (
            [
                "build",
                "--tracking-uri",
                "{store}",
                "--week",
                "2026-W48",
                "--config",
                "{tmp}/nope.yaml",
            ],
            2,
            "does not exist",
        ),
        (["build", "--week", "2026-W48"], 2, "no tracking URI"),
        (
            ["build", "--tracking-uri", "http://127.0.0.1:{port}", "--week", "2026-W48"],
            1,
            "unreachable",
        ),
    ],
)
def test_bad_input_gets_one_line_and_no_report(
    small_store: Store, tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    (tmp_path / "bad.yaml").write_text("rate_card:\n  default_rate: -1\n")
    filled = [a.format(tmp=tmp_path, store=small_store.uri, port=free_port()) for a in args]
    result = reporter(*filled, cwd=tmp_path)
    assert_one_line_error(result, code, fragment)
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "missing.db").exists()


def test_doctor_checks_every_part_and_names_what_fails(small_store: Store, tmp_path: Path) -> None:
    # given a working machine and a store, then a server that is down
    good = reporter("doctor", "--tracking-uri", small_store.uri, cwd=tmp_path)
    bad = reporter("doctor", "--tracking-uri", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    # then the first passes every check and the second fails only MLflow's, with how to fix it
    assert good.returncode == 0, good.stdout + good.stderr
    assert [line.split()[0:2] for line in good.stdout.splitlines()] == [
        ["ok", "browser:"],
        ["ok", "fonts:"],
        ["ok", "pdf:"],
        ["ok", "mlflow:"],
    ]
    assert bad.returncode == 1
    assert [line.split()[0] for line in bad.stdout.splitlines()] == ["ok", "ok", "ok", "FAIL"]
    assert "unreachable" in bad.stdout.splitlines()[-1]
    assert_one_line_error(bad, 1, "1 check(s) failed: mlflow")


def test_build_with_the_direct_sql_gatherer(
    small_store: Store, config_file: Path, tmp_path: Path
) -> None:
    result = reporter(
        "build",
        "--gather",
        "sql",
        "--db-uri",
        small_store.uri,
        "--week",
        "2026-W48",
        "--history-weeks",
        "2",
        "--config",
        str(config_file),
        "--only-report-keys",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    kpis = (tmp_path / "reports" / "2026-W48" / "kpis.json").read_text()
    assert '"total": 32.75' in kpis  # the same figure as through MLflow's client, all keys
    snapshot = json.loads((tmp_path / "reports" / "2026-W48" / "snapshot.json").read_text())
    assert "instance_type" in snapshot["info"]["kept_keys"]["tags"]  # says what it holds
