"""An overall deadline for a stage, whatever its libraries do (MLflow retries for minutes
and honours `Retry-After: 3600`; a server may accept a connection and never answer)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reporter.errors import ReporterError


@contextmanager
def deadline(
    seconds: float | None, what: str, error: type[ReporterError] = ReporterError
) -> Iterator[None]:
    """Raise `error` in the main thread if the block runs longer than `seconds` (None: no limit).

    Uses SIGALRM, so it interrupts blocking socket reads too; off the main thread (where
    signals cannot be handled) the block runs unbounded.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise error(f"{what} did not finish within {seconds:g} s (raise the limit with --timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
