"""A sparkline of an alert's last readings as inline SVG, drawn on the server: no script, no chart library
and nothing to download for a row of the worklist. The normal range is a shaded band; the newest reading is
a dot. The drawing is decorative; the row says the same in words, and the SVG's label lists the values."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 100.0
HEIGHT = 30.0
PAD = 3.0


def _scale(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return round(HEIGHT - PAD - (value - low) / span * (HEIGHT - 2 * PAD), 2)


def sparkline(values: list[float], label: str, band: tuple[float | None, float | None] = (None, None)) -> Markup:
    """The values (oldest first) as a line, with the normal range `band` shaded where it is known."""
    if not values:
        return Markup("")
    low_band, high_band = band
    edges = [*values, *(edge for edge in band if edge is not None)]
    low, high = min(edges), max(edges)
    step = WIDTH / max(len(values) - 1, 1)
    points = [(round(i * step, 2), _scale(v, low, high)) for i, v in enumerate(values)]
    parts = [f'<svg class="spark" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" preserveAspectRatio="none" role="img" '
             f'aria-label="{escape(label)}" focusable="false">']  # fmt: skip
    if low_band is not None or high_band is not None:
        top = _scale(high_band if high_band is not None else high, low, high)
        bottom = _scale(low_band if low_band is not None else low, low, high)
        parts.append(f'<rect class="band" x="0" y="{top}" width="{WIDTH:g}" height="{max(bottom - top, 0.5)}"/>')
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(f"{x},{y}" for x, y in points)}"/>')
    parts.append(f'<circle cx="{points[-1][0]}" cy="{points[-1][1]}" r="2.2"/></svg>')
    return Markup("".join(parts))  # noqa: S704 - numbers we computed, and the label escaped above
