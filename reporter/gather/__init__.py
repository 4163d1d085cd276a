"""Stage 1: read MLflow into a Snapshot of pandas tables."""

from reporter.gather.mlflow_source import gather
from reporter.gather.snapshot import GatherInfo, Snapshot, export_snapshot, load_snapshot

__all__ = ["GatherInfo", "Snapshot", "export_snapshot", "gather", "load_snapshot"]
