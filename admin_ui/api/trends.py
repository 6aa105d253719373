"""`GET /api/admin/trends?metric=&from=&to=&period=day|month`: one metric over time, from
the stored daily or monthly snapshots (monthly: each month as of its last day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import invalid, ok
from admin_ui.auth import AdminContext
from plugin.scoring.metrics_doc import TREND_METRICS, as_of_of
from plugin.scoring.reads import Period, latest_overview, trend

PERIODS: tuple[Period, ...] = ("day", "month")
# Default spans when `from` is not given, and the longest span served.
DEFAULT_SPAN = {"day": timedelta(days=90), "month": timedelta(days=366)}
MAX_SPAN = timedelta(days=5 * 366)


def _date(value: str | None, field: str) -> date | str | None:
    """The parsed date, None when absent, or an error message."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return f"{field} must be a date (YYYY-MM-DD)"


async def trends(request: Request, ctx: AdminContext) -> Response:
    params = request.query_params
    metric = params.get("metric")
    if not metric or metric not in TREND_METRICS:
        return invalid("metric", f"metric must be one of {', '.join(TREND_METRICS)}")
    raw_period = params.get("period") or "day"
    if raw_period not in PERIODS:
        return invalid("period", "period must be day or month")
    period: Period = "month" if raw_period == "month" else "day"
    start = _date(params.get("from"), "from")
    if isinstance(start, str):
        return invalid("from", start)
    end = _date(params.get("to"), "to")
    if isinstance(end, str):
        return invalid("to", end)
    latest = None if ctx.shop_id is None else await latest_overview(ctx.session, ctx.shop_id)
    if end is None:
        end = (as_of_of(latest) if latest else None) or datetime.now(UTC).date()
    if start is None:
        start = end - DEFAULT_SPAN[period]
    if start > end:
        return invalid("from", "from must not be after to")
    if end - start > MAX_SPAN:
        return invalid("from", "at most five years at a time")
    points = []
    if ctx.shop_id is not None:
        points = await trend(ctx.session, ctx.shop_id, TREND_METRICS[metric], period, start, end)
    return ok(
        {
            "metric": metric,
            "period": period,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "points": [{"date": day.isoformat(), "value": value} for day, value in points],
        }
    )
