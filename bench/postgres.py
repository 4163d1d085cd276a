"""A throwaway PostgreSQL server on 127.0.0.1, for the benchmark and the tests.

It uses the distribution's PostgreSQL (Debian's `postgresql` package; `.ci/system-packages.sh
postgres` installs it), runs from a fresh data folder on a free port with TCP only (no unix
socket), trusts local connections, and is stopped and deleted on exit. PostgreSQL refuses to
run as root, so as root it runs as the `postgres` user that the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_USER = "postgres"


def find_bindir() -> Path:
    """The folder of `initdb` and `pg_ctl`: $PG_BINDIR, else PATH, else Debian's versioned folder."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if versions:
        return Path(versions[-1]).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: run `bash .ci/system-packages.sh postgres` "
        "(or set PG_BINDIR to the folder holding initdb and pg_ctl)"
    )


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in Path(path).parts[-3].split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def temporary_postgres(database: str = "mlflow") -> Iterator[str]:
    """Start PostgreSQL, create `database`, yield its URI; stop the server and delete its files."""
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", _USER, "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="reporter-pg-"))
    data, log = folder / "data", folder / "server.log"
    if as_root:
        shutil.chown(folder, _USER)
    port = _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, text=True, timeout=120)

    started = False
    try:
        try:
            pg(str(bindir / "initdb"), "-D", str(data), "-U", _USER, "--auth=trust", "-E", "UTF8")
            pg(
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            )
        except subprocess.CalledProcessError as exc:
            server_log = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"PostgreSQL failed to start: {exc.stderr or exc.stdout}{server_log}"
            ) from None
        started = True
        _create_database(port, database)
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; MLflow here uses psycopg2
        yield f"postgresql+psycopg2://{_USER}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            pg(str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(data))
        shutil.rmtree(folder, ignore_errors=True)


def _create_database(port: int, database: str) -> None:
    import psycopg2

    admin = psycopg2.connect(host="127.0.0.1", port=port, user=_USER, dbname="postgres")
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
