"""`/api/admin/privacy/exports`: what `customers/data_request` produced, for the merchant to send
to the customer who asked (Shopify leaves delivering the data to the merchant).

    GET /api/admin/privacy/exports?cursor=       newest first, without the data
    GET /api/admin/privacy/exports/{id}          one export's data, as a JSON download
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import invalid, not_found, ok
from admin_ui.auth import AdminContext
from plugin.bounded import MAX_ID, parse_id
from plugin.models import DataExport

PAGE_SIZE = 50


async def exports_list(request: Request, ctx: AdminContext) -> Response:
    raw = request.query_params.get("cursor")
    before: int | None = None
    if raw is not None:
        before = parse_id(raw)
        if before is None:
            return invalid("cursor", "must be the next_cursor of a previous page")
    if ctx.shop_id is None:
        return ok({"exports": [], "next_cursor": None})
    table = DataExport.__table__
    query = select(table.c.id, table.c.customer_id, table.c.requested_at, table.c.created_at).where(
        table.c.shop_id == ctx.shop_id
    )
    if before is not None:
        query = query.where(table.c.id < before)
    rows = (await ctx.session.execute(query.order_by(table.c.id.desc()).limit(PAGE_SIZE + 1))).all()
    page = rows[:PAGE_SIZE]
    return ok(
        {
            "exports": [
                {
                    "id": row.id,
                    "customer_id": row.customer_id,
                    "requested_at": row.requested_at.isoformat(),
                    "created_at": row.created_at.isoformat(),
                }
                for row in page
            ],
            "next_cursor": str(page[-1].id) if len(rows) > PAGE_SIZE else None,
        }
    )


async def export_get(request: Request, ctx: AdminContext) -> Response:
    export_id = int(request.path_params["export_id"])
    if ctx.shop_id is None or export_id > MAX_ID:
        return not_found("no such export")
    table = DataExport.__table__
    row = (
        await ctx.session.execute(
            select(table.c.customer_id, table.c.data).where(
                table.c.shop_id == ctx.shop_id, table.c.id == export_id
            )
        )
    ).first()
    if row is None:
        return not_found("no such export")
    filename = f"customer-{row.customer_id}-data-export-{export_id}.json"
    return JSONResponse(
        row.data, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
