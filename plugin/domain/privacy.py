"""Shopify's mandatory compliance topics: customer data export, customer erasure, shop erasure.

Redaction erases what identifies or was written by a person (profile fields, free-text survey
comments, our exports, raw webhook payloads) and keeps what the shop's metrics are made of
(contracts' economics, scores, reason codes), now attached to an anonymous subscriber.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.context import SHOP_ERASED, EventContext
from plugin.domain.errors import MalformedPayload
from plugin.domain.exports import export_customer
from plugin.domain.payloads import require_id, section, shopify_id, text
from plugin.domain.rows import insert_if_absent
from plugin.domain.subscribers import find_subscriber
from plugin.models import (
    Base,
    Cancellation,
    DataExport,
    InboxStatus,
    NpsResponse,
    Order,
    Shop,
    WebhookInbox,
)

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("email", "first_name", "last_name", "locale")
REDACTED_PAYLOAD: dict[str, Any] = {"redacted": True}


def _requested_orders(payload: dict[str, Any], key: str) -> list[int]:
    value = payload.get(key) or []
    if not isinstance(value, list):
        raise MalformedPayload(f"{key} must be a list of order ids")
    return [order_id for item in value if (order_id := shopify_id(item)) is not None]


async def handle_data_request(ctx: EventContext) -> str:
    """customers/data_request: store the export for the merchant to send (one per request)."""
    payload = ctx.payload
    customer_id = require_id(section(payload, "customer"), "id", "admin_graphql_api_id")
    request_id = shopify_id(section(payload, "data_request").get("id"))
    request_key = str(request_id) if request_id is not None else ctx.event_key
    data = await export_customer(
        ctx.session, ctx.shop, customer_id, _requested_orders(payload, "orders_requested")
    )
    await insert_if_absent(
        ctx.session,
        DataExport,
        {
            "shop_id": ctx.shop_id,
            "customer_id": customer_id,
            "request_key": request_key,
            "requested_at": ctx.occurred_at,
            "data": data,
        },
        ("shop_id", "request_key"),
    )
    return InboxStatus.HANDLED


async def handle_customer_redact(ctx: EventContext) -> str:
    """customers/redact: erase the customer's personal data and free text, keep aggregates."""
    payload = ctx.payload
    session, shop_id = ctx.session, ctx.shop_id
    customer_id = require_id(section(payload, "customer"), "id", "admin_graphql_api_id")
    order_ids = set(_requested_orders(payload, "orders_to_redact"))

    subscriber = await find_subscriber(session, shop_id, customer_id)
    if subscriber is not None:
        for field in PROFILE_FIELDS:
            setattr(subscriber, field, None)
        if subscriber.redacted_at is None:
            subscriber.redacted_at = ctx.occurred_at
        for model in (NpsResponse, Cancellation):
            await session.execute(
                update(model)
                .where(model.shop_id == shop_id, model.subscriber_id == subscriber.id)
                .values(comment=None)
            )
        held = await session.execute(
            select(Order.order_id).where(
                Order.shop_id == shop_id, Order.subscriber_id == subscriber.id
            )
        )
        order_ids.update(held.scalars())
    await session.execute(
        delete(DataExport).where(
            DataExport.shop_id == shop_id, DataExport.customer_id == customer_id
        )
    )
    await _scrub_payloads(session, shop_id, ctx.inbox.id, customer_id, sorted(order_ids))
    # The request itself names the customer (email, phone): keep only what it asked for.
    ctx.inbox.payload = {
        "customer": {"id": customer_id},
        "orders_to_redact": sorted(_requested_orders(payload, "orders_to_redact")),
        **REDACTED_PAYLOAD,
    }
    return InboxStatus.HANDLED


def _json_text(*path: str) -> ColumnElement[str]:
    """A payload field as text, the same on PostgreSQL (#>>) and SQLite (json_extract)."""
    return cast(WebhookInbox.payload[path].as_string(), String)


async def _scrub_payloads(
    session: AsyncSession, shop_id: int, own_row: int, customer_id: int, order_ids: list[int]
) -> None:
    """Replace the raw webhook payloads that carry this customer's data.

    Pending rows are left alone: they must still be processed, and no personal data reaches
    the tables from them once the subscriber is redacted; inbox pruning removes them later.
    """
    customer = str(customer_id)
    orders = [str(order_id) for order_id in order_ids]
    about_customer = or_(
        and_(
            WebhookInbox.topic.in_(["orders/create", "orders/fulfilled"]),
            or_(_json_text("customer", "id") == customer, _json_text("id").in_(orders)),
        ),
        and_(WebhookInbox.topic == "fulfillment_events/create", _json_text("order_id").in_(orders)),
        and_(WebhookInbox.topic == "customers/update", _json_text("id") == customer),
        and_(
            WebhookInbox.topic.in_(["customers/data_request", "customers/redact"]),
            _json_text("customer", "id") == customer,
        ),
    )
    await session.execute(
        update(WebhookInbox)
        .where(
            WebhookInbox.shop_id == shop_id,
            WebhookInbox.status != InboxStatus.PENDING,
            WebhookInbox.id != own_row,
            about_customer,
        )
        .values(payload=REDACTED_PAYLOAD)
        .execution_options(synchronize_session=False)
    )


async def handle_shop_redact(ctx: EventContext) -> str:
    """shop/redact (48 h after uninstall): delete every row of the shop, this event's included."""
    domain = text(ctx.payload.get("shop_domain"), 255)
    if domain is not None and domain.lower() != ctx.shop.domain:
        raise MalformedPayload("shop/redact names another shop than the one that sent it")
    if ctx.shop.uninstalled_at is None:
        log.warning("shop/redact for shop %s, which we think is installed: erasing", ctx.shop_id)
    await erase_shop(ctx.session, ctx.shop_id)
    return SHOP_ERASED


async def erase_shop(session: AsyncSession, shop_id: int) -> None:
    """Delete the shop's rows from every table, dependents first, then the shop itself.

    Explicit per table rather than trusting the cascade: a table added later with a shop_id
    but a forgotten ON DELETE CASCADE is still emptied (and a test iterates every table).
    """
    for table in reversed(Base.metadata.sorted_tables):
        if table.name != Shop.__tablename__ and "shop_id" in table.c:
            await session.execute(delete(table).where(table.c.shop_id == shop_id))
    await session.execute(delete(Shop).where(Shop.id == shop_id))
