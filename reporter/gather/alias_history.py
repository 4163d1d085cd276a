"""Our own history of model aliases: MLflow keeps none (its aliases table has no timestamps).

Every build records which version each alias points at, with when it looked, and saves the
whole chain of observations as `aliases.json` next to its report; the next build continues
the chain from the newest earlier report. Comparing consecutive observations shows which
aliases moved (compute.deployments).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from reporter.errors import UsageError
from reporter.gather.snapshot import Snapshot

ALIASES_FILE = "aliases.json"
ALIASES_FORMAT = 1
KEEP_WEEKS = 104  # observations older than two years are dropped from the chain


@dataclass(frozen=True)
class AliasObservation:
    """What the aliases pointed at when a build for `week` looked at `observed_at` (UTC ISO)."""

    week: str
    observed_at: str
    aliases: tuple[tuple[str, str, int], ...]  # (model, alias, version), sorted


def observe(snapshot: Snapshot) -> AliasObservation:
    table = snapshot.tables["aliases"]
    rows = sorted(
        (str(m), str(a), int(v))
        for m, a, v in table[["name", "alias", "version"]].itertuples(index=False)
    )
    return AliasObservation(
        week=snapshot.info.week, observed_at=snapshot.info.gathered_at, aliases=tuple(rows)
    )


def export_alias_history(observations: list[AliasObservation]) -> str:
    payload = {
        "format": ALIASES_FORMAT,
        "observations": [
            {**asdict(o), "aliases": [list(a) for a in o.aliases]} for o in observations
        ],
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"


def parse_alias_history(text: str, source: str) -> list[AliasObservation]:
    try:
        payload = json.loads(text)
        if payload.get("format") != ALIASES_FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {ALIASES_FORMAT}")
        return [
            AliasObservation(
                week=str(o["week"]),
                observed_at=str(o["observed_at"]),
                aliases=tuple(sorted((str(m), str(a), int(v)) for m, a, v in o["aliases"])),
            )
            for o in payload["observations"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"alias history {source} is not readable: {exc}") from None


def read_alias_history(path: Path) -> list[AliasObservation]:
    try:
        return parse_alias_history(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise UsageError(f"cannot read alias history {path}: {exc.strerror or exc}") from None


def previous_alias_history(out: Path, week: str) -> list[AliasObservation]:
    """The chain saved by the newest report in `out` for a week before `week`; [] if none."""
    earlier = sorted(
        (p for p in out.glob(f"*/{ALIASES_FILE}") if p.parent.name < week),
        key=lambda p: p.parent.name,
    )
    return read_alias_history(earlier[-1]) if earlier else []


def extend_history(
    previous: list[AliasObservation], current: AliasObservation
) -> list[AliasObservation]:
    """The chain to save with this build: earlier observations (before this one), then it."""
    kept = [o for o in previous if o.observed_at < current.observed_at and o.week < current.week]
    return [*kept[-KEEP_WEEKS:], current]
