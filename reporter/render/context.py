"""The one object templates see: ReportContext. Every name a template may use is documented here."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from reporter.compute.results import WeeklyResults


@dataclass(frozen=True)
class ChartImage:
    """A rendered chart.

    id: stable anchor (`cost-per-week`); title: caption text; alt: text alternative for
    screen readers and mail clients that block images; src: a `data:image/svg+xml` URI.
    """

    id: str
    title: str
    alt: str
    src: str

    @classmethod
    def from_svg(cls, id: str, title: str, alt: str, svg: str) -> ChartImage:
        encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        return cls(id=id, title=title, alt=alt, src=f"data:image/svg+xml;base64,{encoded}")


@dataclass(frozen=True)
class ReportContext:
    """What templates render; nothing else is in their namespace (besides filters).

    title: report title from the config; week: ISO week label (`2026-W48`);
    results: every figure (WeeklyResults, the same data as kpis.json);
    charts: rendered charts by id (`cost-per-week`, `runs-by-status`, `versions-per-week`,
    `top-estimators`, `cost-by-instance-type`, `waste-share`); alerts: warnings for the summary, plain text; top_n: rows shown in tables before "and N more".
    """

    title: str
    week: str
    results: WeeklyResults
    charts: dict[str, ChartImage]
    alerts: list[str]
    top_n: int


CONTEXT_FIELDS = frozenset(ReportContext.__dataclass_fields__)
