"""`/api/admin/reviews`: the monthly value review pack of the session token's shop.

GET /api/admin/reviews                          months that can be reviewed, newest first
GET /api/admin/reviews/{YYYY-MM}?format=json|csv|html
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import invalid, not_found, ok
from admin_ui.auth import AdminContext
from plugin.review import (
    FORMATS,
    MEDIA_TYPES,
    ReviewError,
    ReviewNotAvailable,
    available_months,
    build_review,
    render,
)

# The HTML pack is a document of its own (opened in a tab, printed): it runs no script and
# loads nothing, and says so, so that even a slip in escaping could not make it do either.
_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


async def review_months(_request: Request, ctx: AdminContext) -> Response:
    months = [] if ctx.shop_id is None else await available_months(ctx.session, ctx.shop_id)
    return ok({"months": months})


async def review_pack(request: Request, ctx: AdminContext) -> Response:
    month = request.path_params["month"]
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        return invalid("format", f"must be one of: {', '.join(FORMATS)}")
    if ctx.shop_id is None:
        return not_found(f"no figures for {month}: the shop has not been scored yet")
    try:
        pack = await build_review(ctx.session, ctx.shop_id, month)
    except ReviewNotAvailable as exc:
        return not_found(str(exc))
    except ReviewError as exc:
        return invalid("month", str(exc))
    headers: dict[str, str] = {}
    if fmt == "html":
        headers["Content-Security-Policy"] = _HTML_CSP
    else:
        filename = f"value-review-{pack.shop}-{pack.month}.{fmt}"
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(render(pack, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)
