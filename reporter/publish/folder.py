"""Publish a built report as a folder `<out>/<week>/` (the build artifact CI uploads)."""

from __future__ import annotations

import shutil
from pathlib import Path

from reporter.errors import ExportError
from reporter.export.files import atomic_write


def publish_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write every file of a report folder, each atomically.

    All files are produced in memory before this is called, so a failure in rendering never
    creates the folder; a crash part-way through leaves each file either old or new, whole.
    """
    created = not folder.exists()
    try:
        for name in sorted(files):
            atomic_write(folder / name, files[name])
    except OSError as exc:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise ExportError(f"cannot write report to {folder}: {exc.strerror or exc}") from None
