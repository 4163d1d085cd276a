"""Figures -> SVG/PNG in headless Chromium (kaleido), in a child process we can kill.

Chromium is driven in its own process group, so a browser that hangs or a kaleido that
never returns is ended with the whole group (no orphan browsers) after a hard timeout, and
the parent gets one clear line. Run as `python -m reporter.render.browser TIMEOUT`: it starts
the browser at once, then reads figures as JSON on stdin and writes images as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from reporter.errors import RenderError

INSTALL_HINT = (
    "install Chromium (Debian: apt-get install chromium) or set BROWSER_PATH to a Chrome or "
    "Chromium binary"
)


class ChartBrowser:
    """One headless browser session for a whole report, started ahead of use.

    The worker starts Chromium (about 2-3 s) as soon as it is created, so a job that creates
    it before gathering gets the browser ready while MLflow is read. It renders one batch of
    figures, then is closed; closing kills it and everything it started.
    """

    def __init__(self, timeout_s: float) -> None:
        browser = os.environ.get("BROWSER_PATH")
        if browser and not os.access(browser, os.X_OK):
            raise RenderError(
                f"BROWSER_PATH={browser!r} is not an executable browser: {INSTALL_HINT}"
            )
        self._timeout_s = timeout_s
        self._child = subprocess.Popen(
            [sys.executable, "-m", "reporter.render.browser", str(timeout_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: Chromium dies with it
        )

    def render(
        self, figures: list[dict[str, Any]], png_for: set[int]
    ) -> tuple[list[str], dict[int, bytes]]:
        """SVG text for every figure and PNG bytes for those in `png_for`; then the session ends."""
        request = json.dumps({"figures": figures, "png_for": sorted(png_for)})
        try:
            out, err = self._child.communicate(request.encode("utf-8"), timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"the headless browser did not render the charts within {self._timeout_s:.0f} s "
                "and was stopped"
            ) from None
        finally:
            self.close()
        if self._child.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise RenderError(
                lines[-1] if lines else f"chart rendering failed (exit {self._child.returncode})"
            )
        answer = json.loads(out)
        return answer["svgs"], {int(i): base64.b64decode(png) for i, png in answer["pngs"].items()}

    def close(self) -> None:
        _kill_group(self._child)

    def __enter__(self) -> ChartBrowser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _kill_group(child: subprocess.Popen) -> None:
    """Kill the worker and everything it started. Chromium runs in a session of its own
    (choreographer starts it so), so its process group is found through the process tree."""
    for group in {child.pid, *(_group_of(pid) for pid in _descendants(child.pid))}:
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(group, signal.SIGKILL)
    child.wait()


def _descendants(root: int) -> set[int]:
    """Every process below `root` in the process tree (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="ascii", errors="replace")
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _adopt_orphans() -> None:
    """Become the 'subreaper' of our descendants (Linux): a browser whose launcher exits is
    re-parented to this worker, not to init, so it can still be found and killed."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _explain(exc: BaseException) -> str:
    text = " ".join(str(part) for part in exc.args) if exc.args else type(exc).__name__
    lowered = text.lower()
    if (
        "no browser found" in lowered
        or "requires google chrome" in lowered
        or "requires chrome" in lowered
    ):
        return f"no Chrome or Chromium found: {INSTALL_HINT}"
    if "close immediately" in lowered or "browser" in lowered:
        where = os.environ.get("BROWSER_PATH", "the installed Chromium")
        return f"the headless browser ({where}) failed to start or answer: {INSTALL_HINT}"
    return f"chart rendering failed: {text.splitlines()[0]}"


async def _render(timeout: float) -> dict[str, Any]:
    import kaleido

    async with kaleido.Kaleido(n=1, timeout=timeout, mathjax=False) as session:
        # Kaleido reloads the tab (and its 4 MB of plotly.js) after every image; plotly's
        # toImage draws each figure into a new element and purges it, so the reload only
        # costs time (about 0.15 s an image here). Put the tab straight back instead.
        session._return_kaleido_tab = session.tabs_ready.put
        # The browser is up: now wait for the figures (the job gathers meanwhile).
        request = json.loads(await asyncio.to_thread(sys.stdin.buffer.read))
        figures = request["figures"]

        async def image(figure: dict[str, Any], fmt: str, scale: int = 1) -> bytes:
            layout = figure.get("layout", {})
            opts = {
                "format": fmt,
                "width": layout.get("width"),
                "height": layout.get("height"),
                "scale": scale,
            }
            return await session.calc_fig(figure, opts=opts)

        svgs = [(await image(figure, "svg")).decode("utf-8") for figure in figures]
        pngs = {
            str(i): base64.b64encode(await image(figures[i], "png", 2)).decode("ascii")
            for i in request["png_for"]
        }
    return {"svgs": svgs, "pngs": pngs}


def main() -> None:
    _adopt_orphans()
    try:
        answer = asyncio.run(_render(float(sys.argv[1])))
    except Exception as exc:  # kaleido and choreographer raise many types; one line out
        sys.stderr.write(_explain(exc) + "\n")
        sys.exit(1)
    finally:
        for pid in _descendants(os.getpid()):  # a browser kaleido failed to close
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
