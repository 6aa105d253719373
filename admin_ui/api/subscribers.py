"""`GET /api/admin/subscribers` (filter, sort, cursor pages) and
`GET /api/admin/subscribers/{customer_id}` (one subscriber's scores and contracts)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import invalid, not_found, ok
from admin_ui.auth import AdminContext
from plugin.bounded import parse_id
from plugin.scoring.reads import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_LIMIT,
    SORTS,
    BadCursor,
    SubscriberPage,
    subscriber_detail,
    subscriber_page,
)
from plugin.value.codes import SEGMENT_NAMES

SEGMENTS = frozenset(SEGMENT_NAMES.values())


async def list_subscribers(request: Request, ctx: AdminContext) -> Response:
    params = request.query_params
    sort = params.get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        return invalid("sort", f"sort must be one of {', '.join(SORTS)}")
    segment = params.get("segment") or None
    if segment is not None and segment not in SEGMENTS:
        return invalid("segment", f"segment must be one of {', '.join(sorted(SEGMENTS))}")
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit:
        parsed_limit = parse_id(raw_limit, maximum=MAX_LIMIT)
        if parsed_limit is None or parsed_limit < 1:
            return invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = parsed_limit
    cursor = params.get("cursor") or None
    if ctx.shop_id is None:
        page = SubscriberPage([], None)
    else:
        try:
            page = await subscriber_page(
                ctx.session, ctx.shop_id, sort=sort, segment=segment, cursor=cursor, limit=limit
            )
        except BadCursor as exc:
            return invalid("cursor", str(exc))
    return ok(
        {
            "items": page.items,
            "next_cursor": page.next_cursor,
            "sort": sort,
            "segment": segment,
            "limit": limit,
        }
    )


async def get_subscriber(request: Request, ctx: AdminContext) -> Response:
    customer_id = parse_id(request.path_params["customer_id"])
    if customer_id is None:
        return invalid("customer_id", "customer_id must be a Shopify customer id (a number)")
    detail = None
    if ctx.shop_id is not None:
        detail = await subscriber_detail(ctx.session, ctx.shop_id, customer_id)
    if detail is None:
        return not_found(f"no subscriber with customer id {customer_id} in this shop")
    return ok(detail)
