"""Tiny inline SVG trend lines for table cells: no browser needed, numbers only (no text)."""

from __future__ import annotations

import base64

WIDTH, HEIGHT, PAD = 90, 22, 2


def sparkline_svg(values: list[float | None], target: float | None = None) -> str | None:
    """A polyline of the known values (gaps break the line), the target as a dashed rule and
    the last point marked; None when fewer than one value is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    scale = [*known, *([target] if target is not None else [])]
    low, high = min(scale), max(scale)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)

    def point(i: int, v: float) -> str:
        return f"{PAD + i * step:.1f},{HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD):.1f}"

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(point(i, v))
    if current:
        segments.append(current)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
    ]
    if target is not None:
        y = point(0, target).split(",")[1]
        parts.append(
            f'<line x1="0" x2="{WIDTH}" y1="{y}" y2="{y}" stroke="#999" stroke-dasharray="3,2" stroke-width="1"/>'
        )
    for segment in segments:
        parts.append(
            f'<polyline fill="none" stroke="#0072B2" stroke-width="1.5" points="{" ".join(segment)}"/>'
        )
    last = max(i for i, v in enumerate(values) if v is not None)
    x, y = point(last, values[last]).split(",")
    parts.append(f'<circle cx="{x}" cy="{y}" r="2.2" fill="#0072B2"/></svg>')
    return "".join(parts)


def sparkline_uri(values: list[float | None], target: float | None = None) -> str | None:
    svg = sparkline_svg(values, target)
    return (
        None
        if svg is None
        else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    )
