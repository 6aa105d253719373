"""`GET /api/admin/subscribers` (filter, sort, cursor pages), `GET /api/admin/subscribers.csv`
(the same filtered list as a CSV file) and `GET /api/admin/subscribers/{customer_id}` (one
subscriber's scores, contracts, risk signals and timeline).

Filters (all optional): segment (a stored segment or the tabs healthy, new, paused), plan,
cadence ("month:1"), cohort ("YYYY-MM"), currency, nps (promoter, passive, detractor, none).
`why=1` adds each listed subscriber's risk signals.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from admin_ui.api.common import invalid, not_found, ok
from admin_ui.auth import AdminContext
from plugin.models.base import utcnow
from plugin.scoring.reads import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_LIMIT,
    NPS_CATEGORIES,
    SEGMENT_GROUPS,
    SORTS,
    BadCursor,
    SubscriberFilter,
    SubscriberPage,
    subscriber_detail,
    subscriber_page,
)
from plugin.scoring.subscriber_story import risk_signals, timeline
from plugin.value.codes import SEGMENT_NAMES

SEGMENTS = frozenset(SEGMENT_NAMES.values())
TABS = frozenset({*SEGMENT_GROUPS, "new", "paused"})
INTERVALS = ("day", "week", "month", "year")
_MAX_CUSTOMER_ID = 2**63 - 1
_COHORT = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CADENCE = re.compile(r"^(day|week|month|year):([1-9]\d{0,2})$")
# The CSV's columns, in order; documented in docs/workspace.md. Add new ones at the end only.
CSV_COLUMNS = (
    "customer_id",
    "name",
    "email",
    "segment",
    "value_score",
    "churn_risk",
    "risk_method",
    "expected_residual_value",
    "mrr",
    "currency",
    "renewals",
    "nps_last",
)
CSV_PAGE = 1000


class FilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_filter(params: QueryParams) -> SubscriberFilter:
    """The listing's filter from the query; FilterError names the parameter at fault."""

    def get(name: str) -> str | None:
        value = params.get(name)
        return value.strip() or None if value is not None else None

    segment = get("segment")
    if segment is not None and segment not in SEGMENTS and segment not in TABS:
        names = ", ".join(sorted(SEGMENTS | TABS))
        raise FilterError("segment", f"segment must be one of {names}")
    plan = get("plan")
    if plan is not None and len(plan) > 255:
        raise FilterError("plan", "plan must be a plan name (at most 255 characters)")
    cadence = get("cadence")
    if cadence is not None and not _CADENCE.match(cadence):
        raise FilterError("cadence", "cadence must be <day|week|month|year>:<count>, e.g. month:1")
    cohort = get("cohort")
    if cohort is not None and not _COHORT.match(cohort):
        raise FilterError("cohort", "cohort must be a month (YYYY-MM)")
    currency = get("currency")
    if currency is not None and not _CURRENCY.match(currency):
        raise FilterError("currency", "currency must be a 3-letter currency code")
    nps = get("nps")
    if nps is not None and nps not in NPS_CATEGORIES:
        raise FilterError("nps", f"nps must be one of {', '.join(NPS_CATEGORIES)}")
    return SubscriberFilter(segment, plan, cadence, cohort, currency, nps)


def _sort(params: QueryParams) -> str | None:
    sort = params.get("sort") or DEFAULT_SORT
    return sort if sort in SORTS else None


async def _with_why(ctx: AdminContext, items: list[dict[str, Any]]) -> None:
    assert ctx.shop_id is not None
    ids = [item.pop("subscriber_id") for item in items]
    signals = await risk_signals(ctx.session, ctx.shop_id, ids, utcnow())
    for item, sid in zip(items, ids, strict=True):
        why = signals[sid]
        if not why and item.get("tenure", 1) <= 1 and item.get("segment") != "churned":
            why = [{"signal": "early_tenure", "count": 1}]
        item["why"] = why


async def list_subscribers(request: Request, ctx: AdminContext) -> Response:
    params = request.query_params
    sort = _sort(params)
    if sort is None:
        return invalid("sort", f"sort must be one of {', '.join(SORTS)}")
    try:
        filters = parse_filter(params)
    except FilterError as exc:
        return invalid(exc.field, str(exc))
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    cursor = params.get("cursor") or None
    why = params.get("why") == "1"
    if ctx.shop_id is None:
        page = SubscriberPage([], None)
    else:
        try:
            page = await subscriber_page(
                ctx.session,
                ctx.shop_id,
                sort=sort,
                cursor=cursor,
                limit=limit,
                filters=filters,
                with_ids=why,
            )
        except BadCursor as exc:
            return invalid("cursor", str(exc))
        if why:
            await _with_why(ctx, page.items)
    return ok(
        {
            "items": page.items,
            "next_cursor": page.next_cursor,
            "sort": sort,
            "segment": filters.segment,
            "filters": {k: v for k, v in vars(filters).items() if v is not None},
            "limit": limit,
        }
    )


def _csv_row(item: dict[str, Any]) -> list[Any]:
    values = {**item, "renewals": item.get("tenure")}
    return ["" if values.get(col) is None else values[col] for col in CSV_COLUMNS]


async def export_subscribers(request: Request, ctx: AdminContext) -> Response:
    """The filtered, sorted list as CSV, every page of it (streamed, one query per 1,000)."""
    params = request.query_params
    sort = _sort(params)
    if sort is None:
        return invalid("sort", f"sort must be one of {', '.join(SORTS)}")
    try:
        filters = parse_filter(params)
    except FilterError as exc:
        return invalid(exc.field, str(exc))
    shop_id = ctx.shop_id
    # The admin session closes when this handler returns: read everything first. Pages are
    # keyset scans, so the cost is linear in the rows exported.
    rows: list[list[Any]] = []
    cursor: str | None = None
    while shop_id is not None:
        page = await subscriber_page(
            ctx.session, shop_id, sort=sort, cursor=cursor, limit=CSV_PAGE, filters=filters
        )
        rows.extend(_csv_row(item) for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    async def body() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for start in range(0, len(rows), CSV_PAGE):
            for row in rows[start : start + CSV_PAGE]:
                writer.writerow([_safe_cell(v) for v in row])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    filename = f"subscribers-{ctx.shop_domain.split('.')[0]}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _safe_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def get_subscriber(request: Request, ctx: AdminContext) -> Response:
    raw = request.path_params["customer_id"]
    if not raw.isdigit() or int(raw) > _MAX_CUSTOMER_ID:
        return invalid("customer_id", "customer_id must be a Shopify customer id (a number)")
    detail = None
    if ctx.shop_id is not None:
        detail = await subscriber_detail(ctx.session, ctx.shop_id, int(raw))
    if detail is None or ctx.shop_id is None:
        return not_found(f"no subscriber with customer id {raw} in this shop")
    sid = detail.pop("subscriber_id")
    detail["why"] = (await risk_signals(ctx.session, ctx.shop_id, [sid], utcnow()))[sid]
    detail["timeline"] = await timeline(ctx.session, ctx.shop_id, sid)
    return ok(detail)
