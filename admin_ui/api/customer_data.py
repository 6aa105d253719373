"""`/api/admin/customer-data`: the value data written on Shopify customers.

    GET   /api/admin/customer-data   what is written, what scopes are missing, tags on or off
    PATCH /api/admin/customer-data   {"tags_enabled": bool}

A shop that has not granted `write_customers` gets `missing_scopes`; the page asks for them
with App Bridge (`shopify.scopes.request`) and nothing else changes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import BodyInvalid, invalid, json_body, ok
from admin_ui.auth import AdminContext
from plugin.customer_data.fields import DEFINITIONS, NAMESPACE
from plugin.customer_data.sync import missing_scopes, shop_state
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import CustomerDataShop, CustomerValueState, Shop


async def _status(session: AsyncSession, shop_id: int | None) -> dict[str, Any]:
    shop = None if shop_id is None else await session.get(Shop, shop_id)
    state = None if shop_id is None else await session.get(CustomerDataShop, shop_id)
    written = 0
    if shop_id is not None:
        written = int(
            await session.scalar(
                select(func.count())
                .select_from(CustomerValueState)
                .where(
                    CustomerValueState.shop_id == shop_id,
                    CustomerValueState.published.is_not(None),
                )
            )
            or 0
        )
    return {
        "namespace": NAMESPACE,
        "metafields": [{"key": d.key, "name": d.name, "type": d.type} for d in DEFINITIONS],
        "missing_scopes": missing_scopes(shop.scopes if shop else ""),
        "tags_enabled": bool(state and state.tags_enabled),
        "definitions_created": bool(state and state.definitions_at),
        "last_synced_at": state.last_synced_at.isoformat()
        if state and state.last_synced_at
        else None,
        "last_outcome": state.last_outcome if state else None,
        "customers_written": written,
    }


async def customer_data_get(_request: Request, ctx: AdminContext) -> Response:
    return ok(await _status(ctx.session, ctx.shop_id))


async def customer_data_update(request: Request, ctx: AdminContext) -> Response:
    try:
        body = await json_body(request)
    except BodyInvalid as exc:
        return invalid(exc.field, exc.message)
    if not isinstance(body, dict) or set(body) != {"tags_enabled"}:
        return invalid("body", 'send exactly {"tags_enabled": true|false}')
    if not isinstance(body["tags_enabled"], bool):
        return invalid("tags_enabled", "must be true or false")
    async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
        shop_id = await ensure_shop(tx.session, ctx.shop_domain)
        (await shop_state(tx.session, shop_id)).tags_enabled = body["tags_enabled"]
        status = await _status(tx.session, shop_id)
    return ok(status)
