"""The report folder is replaced atomically: a crash leaves the previous report whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reporter.publish.folder import publish_folder

WRITER = """
import os, sys, time
from pathlib import Path
import reporter.export.files as files
real_fsync = os.fsync
def slow_fsync(fd):
    real_fsync(fd)
    Path(sys.argv[2]).touch()  # tell the test a file is half-way through
    time.sleep(60)
files.os.fsync = slow_fsync
from reporter.publish.folder import publish_folder
publish_folder(Path(sys.argv[1]), {"report.html": b"new" * 100_000, "kpis.json": b"{}"})
"""


def test_kill_9_while_writing_leaves_the_previous_report_intact(tmp_path: Path) -> None:
    # given last build's report
    folder = tmp_path / "reports" / "2026-W48"
    publish_folder(folder, {"report.html": b"old report", "kpis.json": b'{"old": true}'})
    # when a rebuild is killed with SIGKILL in the middle of writing its files
    marker = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # then the report folder is exactly the previous one
    assert sorted(p.name for p in folder.iterdir()) == ["kpis.json", "report.html"]
    assert (folder / "report.html").read_bytes() == b"old report"
    # and the next build cleans up what the killed one left beside it
    publish_folder(folder, {"report.html": b"newer"})
    assert sorted(p.name for p in folder.parent.iterdir()) == ["2026-W48"]
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


def test_a_rebuild_keeps_only_the_named_delivery_records(tmp_path: Path) -> None:
    folder = tmp_path / "2026-W48"
    publish_folder(folder, {"report.html": b"1", "charts/a.png": b"png"})
    (folder / "sent.json").write_text("[]")
    publish_folder(folder, {"report.html": b"2"}, keep=("sent.json",))
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "report.html",
        "sent.json",
    ]
    assert (folder / "report.html").read_bytes() == b"2"


def test_a_streamed_file_that_fails_halfway_leaves_the_previous_report(tmp_path: Path) -> None:
    import pytest

    # given a published report
    folder = tmp_path / "2026-W48"
    publish_folder(folder, {"report.html": b"old", "snapshot.json": b"{}"})

    def half_then_fail(handle) -> None:
        handle.write(b'{"format": 1, "tables": {')
        raise MemoryError("out of memory while writing the snapshot")

    # when the next build's streamed snapshot fails while being written
    with pytest.raises(MemoryError):
        publish_folder(folder, {"report.html": b"new", "snapshot.json": half_then_fail})
    # then the previous report is there, whole, and no staging folder is left behind
    assert (folder / "report.html").read_bytes() == b"old"
    assert (folder / "snapshot.json").read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W48"]
