"""The gather deadline bounds servers that never answer or ask us to wait an hour."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from reporter.deadline import deadline
from reporter.errors import GatherError
from reporter.gather import gather
from tests.conftest import WEEK


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for conn in accepted:
        conn.close()
    listener.close()


class _RetryLater(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b'{"error_code": "RESOURCE_EXHAUSTED", "message": "slow down"}'
        self.send_response(429)
        self.send_header("Retry-After", "3600")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def retry_later_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RetryLater)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("server", ["silent_server", "retry_later_server"])
def test_gather_is_bounded_by_the_deadline(server: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server)
    started = time.monotonic()
    with (
        pytest.raises(GatherError, match="did not finish within 4 s"),
        deadline(4, "gathering from MLflow", GatherError),
    ):
        gather(url, WEEK, history_weeks=1)
    assert time.monotonic() - started < 15


def test_a_build_that_runs_out_of_time_stops_the_browser_it_started(
    silent_server: str, tmp_path
) -> None:
    import subprocess
    import sys

    # given a server that never answers, and a build whose browser starts before gathering
    command = [sys.executable, "-m", "reporter", "build", "--tracking-uri", silent_server]
    command += ["--week", "2026-W48", "--timeout", "8", "--out", str(tmp_path)]
    # when the build runs out of time while gathering (the browser has started by then)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    # then it fails with one line, writes nothing, and leaves no browser process behind
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("reporter: error: ")
    assert list(tmp_path.iterdir()) == []
    for _ in range(50):  # SIGKILLed processes take a moment to go
        left = subprocess.run(["pgrep", "-f", "chromium.*--headless"], capture_output=True)
        if not left.stdout:
            break
        time.sleep(0.1)
    assert not left.stdout, "a headless browser outlived the build"
