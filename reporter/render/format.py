"""Small pure formatters, registered as Jinja filters, so every figure is shown the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ELLIPSIS = "\u2026"
NONE = "\u2013"  # en dash: the figure is unknown
MINUS = "\u2212"  # typographic minus, as wide as "+"


def money(value: float | None, currency: str = "") -> str:
    """1234.5 -> '1,234.50 USD'; None -> an en dash."""
    if value is None:
        return NONE
    text = f"{value:,.2f}"
    return f"{text} {currency}".strip()


def signed_money(value: float | None, currency: str = "") -> str:
    if value is None:
        return NONE
    sign = "+" if value > 0 else (MINUS if value < 0 else "±")
    return f"{sign}{money(abs(value), currency)}"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.125 -> '12.5%'."""
    if value is None:
        return NONE
    return f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None) -> str:
    """An already-percent change: 8.04 -> '+8.0%'."""
    if value is None:
        return NONE
    sign = "+" if value > 0 else (MINUS if value < 0 else "±")
    return f"{sign}{abs(value):.1f}%"


def number(value: float | int | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def signed_number(value: int | None) -> str:
    if value is None:
        return NONE
    return f"+{value:,}" if value > 0 else (f"{MINUS}{abs(value):,}" if value < 0 else "±0")


def hours(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:,.1f} h"


def truncate(value: Any, length: int = 60) -> str:
    """Shorten long user text for a table cell; control characters become spaces."""
    if value is None:
        return NONE
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= length else text[: length - 1] + ELLIPSIS


def plural(count: int | None, noun: str, nouns: str | None = None) -> str:
    """3, 'run' -> '3 runs'; 1, 'run' -> '1 run'."""
    if count is None:
        return f"{NONE} {nouns or noun + 's'}"
    return f"{number(count)} {noun if count == 1 else (nouns or noun + 's')}"


def signed_points(value: float | None) -> str:
    """A change of a rate in percentage points: 0.052 -> '+5.2 pts'."""
    if value is None:
        return NONE
    sign = "+" if value > 0 else (MINUS if value < 0 else "\u00b1")
    return f"{sign}{abs(value) * 100:.1f} pts"


def minutes(value: float | None) -> str:
    """Minutes as '42 min' or '3.5 h'."""
    if value is None:
        return NONE
    return f"{value:,.0f} min" if value < 90 else f"{value / 60:,.1f} h"


def duration_hours(value: float | None) -> str:
    """Hours as '45 min', '18.0 h' or '3.2 days'."""
    if value is None:
        return NONE
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:,.1f} h" if value < 48 else f"{value / 24:,.1f} days"


def per_day(value: float | None) -> str:
    """A rate per day, shown per week when below one a day: 0.0714 -> '0.5 a week'."""
    if value is None:
        return NONE
    return f"{value:.1f} a day" if value >= 1 else f"{value * 7:.1f} a week"


def metric(value: float | None) -> str:
    """A logged metric value with up to 4 significant decimals: 0.04512 -> '0.04512'."""
    if value is None:
        return NONE
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


FILTERS: dict[str, Callable[..., str]] = {
    "money": money,
    "signed_money": signed_money,
    "percent": percent,
    "signed_percent": signed_percent,
    "number": number,
    "signed_number": signed_number,
    "hours": hours,
    "cell": truncate,
    "plural": plural,
    "signed_points": signed_points,
    "minutes": minutes,
    "duration_hours": duration_hours,
    "per_day": per_day,
    "metric": metric,
}
