"""ISO weeks and their UTC bounds: the one place where the tool reasons about time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from reporter.errors import UsageError

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO 8601 week (`%G-W%V`): Monday 00:00 UTC inclusive to the next Monday exclusive."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK_RE.match(text.strip())
        if not match:
            raise UsageError(f"invalid week {text!r}: expected an ISO week like 2026-W48")
        year, week = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise UsageError(f"invalid week {text!r}: {year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, moment: datetime) -> IsoWeek:
        """The week a UTC moment falls in (a naive datetime is taken as UTC)."""
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        iso = moment.date().isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def last_complete(cls, now: datetime) -> IsoWeek:
        """The most recent week that had fully ended at `now` (the week before now's week)."""
        return cls.containing(now).shift(-1)

    @property
    def start(self) -> datetime:
        return datetime.combine(
            date.fromisocalendar(self.year, self.week, 1), datetime.min.time(), UTC
        )

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_ms(self.end)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.containing(self.start + timedelta(weeks=weeks))

    def history(self, weeks: int) -> list[IsoWeek]:
        """`weeks` consecutive weeks ending with this one, oldest first."""
        return [self.shift(offset) for offset in range(1 - weeks, 1)]

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, MLflow's unit for every timestamp."""
    return int(moment.timestamp() * 1000)


def from_ms(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def iso_utc(moment: datetime) -> str:
    """`2026-11-23T00:00:00Z`: the form written into kpis.json and the report."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
