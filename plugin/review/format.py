"""Numbers as a merchant reads them (the HTML pack and the "what changed" sentences)."""

from __future__ import annotations

from plugin.review.pack import Unit

NOT_AVAILABLE = "—"


def fmt(value: float | None, unit: Unit, currency: str | None = None) -> str:
    if value is None:
        return NOT_AVAILABLE
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "points":
        return f"{value:.1f}"
    if unit == "money":
        return f"{value:,.2f} {currency}" if currency else f"{value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "days":
        return f"{value:.1f} days"
    return f"{value:.2f}"


def fmt_change(change: float | None, unit: Unit, currency: str | None = None) -> str:
    """A signed difference: shares in percentage points, the rest in their own unit."""
    if change is None:
        return NOT_AVAILABLE
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    size = abs(change)
    if unit == "share":
        return f"{sign}{100 * size:.1f} pts"
    if unit == "points":
        return f"{sign}{size:.1f}"
    if unit == "money":
        return f"{sign}{size:,.2f}" + (f" {currency}" if currency else "")
    if unit == "count":
        return f"{sign}{size:,.0f}"
    if unit == "days":
        return f"{sign}{size:.1f} days"
    return f"{sign}{size:.2f}"


def fmt_p(p_value: float | None) -> str:
    if p_value is None:
        return NOT_AVAILABLE
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
