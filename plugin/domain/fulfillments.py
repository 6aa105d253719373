"""Fulfillment events (carrier tracking updates); `delivered` dates the order's delivery."""

from __future__ import annotations

from plugin.domain.context import EventContext
from plugin.domain.errors import MalformedPayload
from plugin.domain.orders import DELIVERED, OrderState, find_order, notify_surveys
from plugin.domain.payloads import first_id, require_id, text, timestamp
from plugin.domain.rows import insert_if_absent
from plugin.models import FulfillmentEvent, InboxStatus


async def handle_fulfillment_event(ctx: EventContext) -> str:
    payload = ctx.payload
    event_id = require_id(payload, "id", "admin_graphql_api_id")
    order_id = require_id(payload, "order_id")
    status = text(payload.get("status"), 32)
    if status is None:
        raise MalformedPayload("fulfillment event has no status")
    status = status.lower()
    # The carrier's time of the scan is the delivery time; the webhook may fire later.
    happened_at = timestamp(payload.get("happened_at")) or ctx.occurred_at
    await insert_if_absent(
        ctx.session,
        FulfillmentEvent,
        {
            "shop_id": ctx.shop_id,
            "event_id": event_id,
            "fulfillment_id": first_id(payload, "fulfillment_id"),
            "order_id": order_id,
            "status": status,
            "happened_at": happened_at,
            "estimated_delivery_at": timestamp(payload.get("estimated_delivery_at")),
        },
        ("shop_id", "event_id"),
    )
    if status != DELIVERED:
        return InboxStatus.HANDLED
    order = await find_order(ctx.session, ctx.shop_id, order_id)
    if order is None:
        # orders/create has not come yet; it picks the delivery up from the row stored above.
        return InboxStatus.HANDLED
    before = OrderState.of(order)
    # Split shipments deliver more than once: the first delivery is when the subscriber got it.
    if order.delivered_at is None or happened_at < order.delivered_at:
        order.delivered_at = happened_at
    await notify_surveys(ctx, order, before)
    return InboxStatus.HANDLED
