"""Small pure formatters, registered as Jinja filters, so every figure is shown the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ELLIPSIS = "…"


def money(value: float | None, currency: str = "") -> str:
    """1234.5 -> '1,234.50 USD'; None -> '–'."""
    if value is None:
        return "–"
    text = f"{value:,.2f}"
    return f"{text} {currency}".strip()


def signed_money(value: float | None, currency: str = "") -> str:
    if value is None:
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{money(abs(value), currency)}"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.125 -> '12.5%'."""
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None) -> str:
    """An already-percent change: 8.04 -> '+8.0%'."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{abs(value):.1f}%"


def number(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def signed_number(value: int | None) -> str:
    if value is None:
        return "–"
    return f"+{value:,}" if value > 0 else (f"−{abs(value):,}" if value < 0 else "±0")


def hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f} h"


def truncate(value: Any, length: int = 60) -> str:
    """Shorten long user text for a table cell; control characters become spaces."""
    if value is None:
        return "–"
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= length else text[: length - 1] + ELLIPSIS


FILTERS: dict[str, Callable[..., str]] = {
    "money": money,
    "signed_money": signed_money,
    "percent": percent,
    "signed_percent": signed_percent,
    "number": number,
    "signed_number": signed_number,
    "hours": hours,
    "cell": truncate,
}
