"""Stage 1: read MLflow into a Snapshot of pandas tables (through MLflow, or straight from SQL)."""

from reporter.gather.mlflow_source import Keys, gather
from reporter.gather.snapshot import GatherInfo, Snapshot, export_snapshot, load_snapshot
from reporter.gather.sql_source import gather_sql

__all__ = [
    "GatherInfo",
    "Keys",
    "Snapshot",
    "export_snapshot",
    "gather",
    "gather_sql",
    "load_snapshot",
]
