"""Publish a built report as a folder `<out>/<week>/` (the build artifact CI uploads).

The new folder is written beside the old one and swapped in with one atomic rename, so a
crash (even kill -9) at any point leaves either the previous report folder, whole, or the
new one, whole: never a mix, and never a half-written file that CI would upload or mail.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from pathlib import Path

from reporter.errors import ExportError
from reporter.export.files import Content, atomic_write

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def publish_folder(folder: Path, files: dict[str, Content], keep: tuple[str, ...] = ()) -> None:
    """Replace `folder` with exactly `files` (names may contain '/'), atomically, carrying
    over the old folder's files named in `keep` (such as the record of mail already sent)."""
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(parent, folder.name)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=parent))
        try:
            for name, data in sorted(files.items()):
                atomic_write(staging / name, data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the previous report stays as it was
            raise
        if folder.is_dir():
            for name in keep:
                if (folder / name).is_file() and name not in files:
                    shutil.copy2(folder / name, staging / name)
            _swap(staging, folder)
            shutil.rmtree(staging)  # now holds the previous report
        else:
            os.rename(staging, folder)
    except OSError as exc:
        raise ExportError(f"cannot write report to {folder}: {exc.strerror or exc}") from None


def _swap(new: Path, current: Path) -> None:
    """Exchange two directories in one step (Linux renameat2); elsewhere, two renames."""
    with contextlib.suppress(AttributeError, OSError):
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.renameat2(_AT_FDCWD, bytes(new), _AT_FDCWD, bytes(current), _RENAME_EXCHANGE)
        if done == 0:
            return
    aside = current.with_name(f".{current.name}.previous-{os.getpid()}")
    os.rename(current, aside)
    os.rename(new, current)
    os.rename(aside, new)


def _remove_leftovers(parent: Path, name: str) -> None:
    """Staging folders of builds that were killed before they finished."""
    for leftover in parent.glob(f".{name}.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
