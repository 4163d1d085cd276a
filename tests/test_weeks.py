from datetime import UTC, datetime

import pytest

from reporter.errors import UsageError
from reporter.weeks import IsoWeek, iso_utc


@pytest.mark.parametrize(
    ("day", "week"),
    [
        ("2020-12-31", "2020-W53"),
        ("2021-01-03", "2020-W53"),
        ("2024-12-30", "2025-W01"),
        ("2027-01-01", "2026-W53"),
        ("2026-11-23", "2026-W48"),
    ],
)
def test_week_containing_a_day_follows_iso_8601(day: str, week: str) -> None:
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    assert str(IsoWeek.containing(moment)) == week


def test_a_run_starting_exactly_monday_midnight_belongs_to_the_new_week() -> None:
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert str(IsoWeek.containing(monday)) == "2026-W49"
    assert IsoWeek.parse("2026-W49").start_ms == int(monday.timestamp() * 1000)


def test_bounds_are_monday_to_monday_utc() -> None:
    week = IsoWeek.parse("2026-W48")
    assert (iso_utc(week.start), iso_utc(week.end)) == (
        "2026-11-23T00:00:00Z",
        "2026-11-30T00:00:00Z",
    )


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 30, 7, 17, tzinfo=UTC),  # Monday cron
        datetime(2026, 11, 30, 12, 17, tzinfo=UTC),  # five hours late
        datetime(2026, 12, 1, 15, 0, tzinfo=UTC),  # manual run on Tuesday
        datetime(2026, 12, 6, 23, 59, tzinfo=UTC),  # Sunday night
    ],
)
def test_last_complete_week_is_stable_through_the_week(now: datetime) -> None:
    assert str(IsoWeek.last_complete(now)) == "2026-W48"


def test_last_complete_week_across_a_53_week_year() -> None:
    assert str(IsoWeek.last_complete(datetime(2027, 1, 5, tzinfo=UTC))) == "2026-W53"


def test_history_lists_consecutive_weeks_oldest_first() -> None:
    assert [str(w) for w in IsoWeek.parse("2021-W02").history(3)] == [
        "2020-W53",
        "2021-W01",
        "2021-W02",
    ]


@pytest.mark.parametrize("text", ["2026-48", "2026W48", "2026-W54", "2021-W53", "last week", ""])
def test_malformed_weeks_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid week"):
        IsoWeek.parse(text)
