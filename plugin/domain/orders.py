"""Orders and their tie to contracts.

An order belongs to a contract when it is the contract's origin order or the order of one of
its successful billing attempts. The order, the contract and the billing attempt arrive in any
order, so each side links what it can find: whichever comes last completes the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.context import EventContext
from plugin.domain.payloads import first_id, money, require_id, section, text, timestamp
from plugin.domain.rows import insert_if_absent, locked, locked_one
from plugin.domain.subscribers import Profile, apply_profile, find_subscriber
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Contract,
    FulfillmentEvent,
    InboxStatus,
    Order,
)
from plugin.surveys import hooks

DELIVERED = "delivered"


async def order_row(
    session: AsyncSession, shop_id: int, order_id: int, created_at: datetime
) -> Order:
    """The shop's order, created if new (as a placeholder until orders/create fills it), locked."""
    await insert_if_absent(
        session,
        Order,
        {"shop_id": shop_id, "order_id": order_id, "created_at_shop": created_at},
        ("shop_id", "order_id"),
    )
    return await locked_one(
        session, select(Order).where(Order.shop_id == shop_id, Order.order_id == order_id)
    )


async def find_order(session: AsyncSession, shop_id: int, order_id: int) -> Order | None:
    return await locked(
        session, select(Order).where(Order.shop_id == shop_id, Order.order_id == order_id)
    )


@dataclass(frozen=True)
class OrderState:
    """What the survey hooks have been told about an order, taken before changing it."""

    contract_pk: int | None
    fulfilled_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, order: Order) -> OrderState:
        return cls(order.contract_pk, order.fulfilled_at, order.delivered_at)


async def notify_surveys(ctx: EventContext, order: Order, before: OrderState) -> None:
    """Tell the survey module about fulfilment and delivery of a subscription order once known:
    when it happens to a linked order, or when an order that already has it becomes linked."""
    if order.contract_pk is None:
        return
    await ctx.session.flush()  # the hooks query what this event wrote (autoflush is off)
    linked = before.contract_pk != order.contract_pk
    fulfilled, delivered = order.fulfilled_at, order.delivered_at
    if fulfilled is not None and (linked or fulfilled != before.fulfilled_at):
        await hooks.on_order_fulfilled(ctx.session, ctx.shop, order, fulfilled)
    if delivered is not None and (linked or delivered != before.delivered_at):
        await hooks.on_order_delivered(ctx.session, ctx.shop, order, delivered)


async def link_order(session: AsyncSession, order: Order, contract: Contract) -> None:
    """Tie the order to the contract. One checkout can start several contracts with the same
    origin order; the order then belongs to the lowest contract id, whatever the arrival order."""
    if order.contract_pk == contract.id:
        return
    if order.contract_pk is not None:
        current = await session.get(Contract, order.contract_pk)
        if current is not None and current.contract_id < contract.contract_id:
            return
    order.contract_pk = contract.id
    order.subscriber_id = contract.subscriber_id


async def link_known_order(ctx: EventContext, order_id: int, contract: Contract) -> None:
    """Link the order if we already have it (the contract or attempt came second)."""
    order = await find_order(ctx.session, ctx.shop_id, order_id)
    if order is None:
        return
    before = OrderState.of(order)
    await link_order(ctx.session, order, contract)
    await notify_surveys(ctx, order, before)


async def contract_of_order(session: AsyncSession, shop_id: int, order_id: int) -> Contract | None:
    """The contract an order belongs to, if its contract or billing attempt is known already."""
    origin = await session.execute(
        select(Contract)
        .where(Contract.shop_id == shop_id, Contract.origin_order_id == order_id)
        .order_by(Contract.contract_id)
        .limit(1)
    )
    contract = origin.scalar_one_or_none()
    if contract is not None:
        return contract
    renewal = await session.execute(
        select(Contract)
        .join(BillingAttempt, BillingAttempt.contract_pk == Contract.id)
        .where(
            BillingAttempt.shop_id == shop_id,
            BillingAttempt.order_id == order_id,
            BillingAttempt.status == BillingAttemptStatus.SUCCESS,
            Contract.shop_id == shop_id,
        )
        .order_by(Contract.contract_id)
        .limit(1)
    )
    return renewal.scalar_one_or_none()


async def first_delivery(session: AsyncSession, shop_id: int, order_id: int) -> datetime | None:
    """When the order was first delivered, from fulfillment events that came before it."""
    result = await session.execute(
        select(func.min(FulfillmentEvent.happened_at)).where(
            FulfillmentEvent.shop_id == shop_id,
            FulfillmentEvent.order_id == order_id,
            FulfillmentEvent.status == DELIVERED,
        )
    )
    return result.scalar_one_or_none()


async def handle_order(ctx: EventContext) -> str:
    """orders/create and orders/fulfilled: both carry the whole order."""
    payload = ctx.payload
    order_id = require_id(payload, "id", "admin_graphql_api_id")
    created_at = timestamp(payload.get("created_at")) or ctx.occurred_at
    customer = section(payload, "customer")
    customer_id = first_id(customer, "id", "admin_graphql_api_id")

    contract = await contract_of_order(ctx.session, ctx.shop_id, order_id)
    # Subscriber before order: the same lock order as contract events, so they cannot deadlock.
    if customer_id is not None:
        subscriber = await find_subscriber(ctx.session, ctx.shop_id, customer_id)
        if subscriber is not None:
            fields = dict(customer)
            if "email" not in fields and payload.get("email"):
                fields["email"] = payload["email"]
            profile = Profile.from_customer(fields, payload.get("customer_locale"))
            apply_profile(subscriber, profile, ctx.occurred_at)

    order = await order_row(ctx.session, ctx.shop_id, order_id, created_at)
    before = OrderState.of(order)
    order.created_at_shop = created_at
    total = money(payload.get("total_price"))
    if total is not None:
        order.total = total
    currency = text(payload.get("currency"), 3)
    if currency is not None:
        order.currency = currency.upper()
    if ctx.topic == "orders/fulfilled" and (
        order.fulfilled_at is None or ctx.occurred_at < order.fulfilled_at
    ):
        order.fulfilled_at = ctx.occurred_at
    delivered = await first_delivery(ctx.session, ctx.shop_id, order_id)
    if delivered is not None and (order.delivered_at is None or delivered < order.delivered_at):
        order.delivered_at = delivered
    if contract is not None:
        await link_order(ctx.session, order, contract)
    await notify_surveys(ctx, order, before)
    return InboxStatus.HANDLED
