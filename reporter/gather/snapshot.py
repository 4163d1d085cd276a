"""The gathered data a report is built from, saved next to the report so it can be re-rendered.

A snapshot is plain tables (pandas DataFrames with a fixed schema) plus metadata about how
they were fetched. The schema below is the contract between gather and compute: gather
validates against it once, everything downstream trusts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from reporter.errors import ExportError, UsageError

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_FORMAT = 1
ROWS_PER_LINE = 10_000  # fixed: the same snapshot always saves to the same bytes

# table -> column -> pandas dtype. Timestamps are MLflow's epoch milliseconds (nullable ints).
TABLES: dict[str, dict[str, str]] = {
    "experiments": {
        "experiment_id": "string",
        "name": "string",
        "lifecycle_stage": "string",
        "creation_time": "Int64",
    },
    "experiment_tags": {"experiment_id": "string", "key": "string", "value": "string"},
    "runs": {
        "run_id": "string",
        "experiment_id": "string",
        "run_name": "string",
        "user_id": "string",
        "status": "string",
        "start_time": "Int64",
        "end_time": "Int64",
        "lifecycle_stage": "string",
    },
    "run_tags": {"run_id": "string", "key": "string", "value": "string"},
    "run_params": {"run_id": "string", "key": "string", "value": "string"},
    "run_metrics": {"run_id": "string", "key": "string", "value": "float64"},
    "registered_models": {
        "name": "string",
        "creation_time": "Int64",
        "last_updated_time": "Int64",
    },
    "model_versions": {
        "name": "string",
        "version": "Int64",
        "creation_time": "Int64",
        "last_updated_time": "Int64",
        "current_stage": "string",
        "status": "string",
        "run_id": "string",
        "source": "string",
    },
    "aliases": {"name": "string", "alias": "string", "version": "Int64"},
}

# Rows are sorted on these keys so the same store always saves to the same bytes.
SORT_KEYS: dict[str, list[str]] = {
    "experiments": ["experiment_id"],
    "experiment_tags": ["experiment_id", "key"],
    "runs": ["start_time", "run_id"],
    "run_tags": ["run_id", "key"],
    "run_params": ["run_id", "key"],
    "run_metrics": ["run_id", "key"],
    "registered_models": ["name"],
    "model_versions": ["name", "version"],
    "aliases": ["name", "alias"],
}


@dataclass(frozen=True)
class GatherInfo:
    """How and when the data was fetched: what the report's completeness section states."""

    week: str
    history_weeks: int
    window_start: str
    window_end: str
    history_start: str
    tracking_uri: str
    registry_uri: str
    gathered_at: str
    reporter_version: str
    mlflow_client_version: str
    mlflow_server_version: str | None
    view_type: str
    page_size: int
    run_queries: int
    run_pages: int
    runs_fetched: int
    duplicate_runs_dropped: int
    experiments_excluded: list[str] = field(default_factory=list)
    runs_reused: int = 0  # runs taken from an earlier week's snapshot instead of MLflow
    reused_from: str | None = None  # that snapshot's week
    # The run tag/param/metric keys gathered, when only some were (`Keys.describe`); None: all.
    kept_keys: dict[str, list[str] | None] | None = None


@dataclass(frozen=True)
class Snapshot:
    info: GatherInfo
    tables: dict[str, pd.DataFrame]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def make_table(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build table `name` from row dicts, with the schema's columns, dtypes and row order."""
    columns = TABLES[name]
    frame = pd.DataFrame(rows, columns=list(columns))
    frame = frame.astype(columns)
    return frame.sort_values(SORT_KEYS[name], kind="stable", ignore_index=True)


def iter_snapshot(snapshot: Snapshot) -> Iterator[str]:
    """The snapshot as deterministic JSON text (sorted rows, fixed column order), in pieces.

    Rows are written ROWS_PER_LINE to a line, each piece built from a slice of the table, so
    a million-run snapshot is never one list of Python rows, nor one string, in memory.
    """
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    info = json.dumps(asdict(snapshot.info), ensure_ascii=False)
    yield f'{{\n "format": {SNAPSHOT_FORMAT},\n "info": {info},\n "tables": {{'
    for number, (name, columns) in enumerate(TABLES.items()):
        frame = snapshot.tables[name][list(columns)]
        yield f'{"," if number else ""}\n  "{name}": {{"columns": {encode(list(columns))}, "rows": ['
        for start in range(0, len(frame), ROWS_PER_LINE):
            piece = frame.iloc[start : start + ROWS_PER_LINE]
            rows = piece.astype(object).where(piece.notna(), None).to_numpy().tolist()
            yield ("," if start else "") + "\n   " + encode(rows)[1:-1]
        yield "]}"
    yield "\n }\n}\n"


def export_snapshot(snapshot: Snapshot) -> str:
    """The whole snapshot.json text (small snapshots; `save_snapshot` streams to a file)."""
    return "".join(iter_snapshot(snapshot))


def save_snapshot(snapshot: Snapshot, handle: BinaryIO) -> None:
    """Write snapshot.json to an open binary file, piece by piece."""
    for piece in iter_snapshot(snapshot):
        handle.write(piece.encode("utf-8"))


def load_snapshot(path: Path) -> Snapshot:
    """Read a snapshot saved by `export_snapshot` (a file, or a report folder holding one)."""
    if path.is_dir():
        path = path / SNAPSHOT_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"no snapshot at {path}: pass a report folder written by 'reporter build'"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read snapshot {path}: {exc}") from None
    if payload.get("format") != SNAPSHOT_FORMAT:
        raise UsageError(
            f"snapshot {path} has format {payload.get('format')!r}; this reporter reads {SNAPSHOT_FORMAT}"
        )
    try:
        tables = {
            name: make_table(
                name,
                [
                    dict(zip(payload["tables"][name]["columns"], row, strict=True))
                    for row in payload["tables"][name]["rows"]
                ],
            )
            for name in TABLES
        }
        info = GatherInfo(**payload["info"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"snapshot {path} is damaged: {exc}") from None
    return Snapshot(info=info, tables=tables)
