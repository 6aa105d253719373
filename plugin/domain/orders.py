"""Orders and their tie to contracts.

An order belongs to a contract when it is the contract's origin order or the order of one of
its successful billing attempts. The order, the contract and the billing attempt arrive in any
order, so each side links what it can find: whichever comes last completes the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.context import EventContext
from plugin.domain.errors import MalformedPayload
from plugin.domain.payloads import first_id, money, require_id, section, text, timestamp
from plugin.domain.rows import fetch_locked, fetch_locked_one, lock
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
    """The shop's order, created if new (as a placeholder until orders/create fills it), locked.

    INSERT … ON CONFLICT DO NOTHING RETURNING the row: a new order is ours in one statement;
    an existing one is then read under a lock, as `find_order` does. Whichever event creates
    the row (an order webhook or a renewal's billing attempt), it starts with the deliveries
    already stored for it: a fulfillment event that came first found no order to date.
    """
    dialect = session.get_bind().dialect.name
    values = {"shop_id": shop_id, "order_id": order_id, "created_at_shop": created_at}
    created = (await session.execute(_new_order(dialect), values)).scalar_one_or_none()
    if created is not None:
        created.delivered_at = await first_delivery(session, shop_id, order_id)
        return created
    return await fetch_locked_one(session, _ORDER, {"shop_id": shop_id, "order_id": order_id})


_new_orders: dict[str, Insert] = {}


def _new_order(dialect: str) -> Insert:
    statement = _new_orders.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _new_orders[dialect] = (
            insert(Order)
            .on_conflict_do_nothing(index_elements=["shop_id", "order_id"])
            .returning(Order)
        )
    return statement


async def find_order(session: AsyncSession, shop_id: int, order_id: int) -> Order | None:
    """The shop's order, locked, if we have it."""
    return await fetch_locked(session, _ORDER, {"shop_id": shop_id, "order_id": order_id})


_ORDER = lock(
    select(Order).where(
        Order.shop_id == bindparam("shop_id"), Order.order_id == bindparam("order_id")
    )
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
    contract = await origin_contract(session, shop_id, order_id)
    if contract is not None:
        return contract
    return await renewal_contract(session, shop_id, order_id)


async def origin_contract(session: AsyncSession, shop_id: int, order_id: int) -> Contract | None:
    """The lowest contract the order started, if any is known."""
    result = await session.execute(_ORIGIN_CONTRACT, {"shop_id": shop_id, "order_id": order_id})
    return result.scalar_one_or_none()


async def renewal_contract(session: AsyncSession, shop_id: int, order_id: int) -> Contract | None:
    """The lowest contract with a successful billing attempt that made the order, if known."""
    result = await session.execute(_RENEWAL_CONTRACT, {"shop_id": shop_id, "order_id": order_id})
    return result.scalar_one_or_none()


async def first_delivery(session: AsyncSession, shop_id: int, order_id: int) -> datetime | None:
    """When the order was first delivered, from fulfillment events that came before it."""
    result = await session.execute(_FIRST_DELIVERY, {"shop_id": shop_id, "order_id": order_id})
    return result.scalar_one_or_none()


_ORIGIN_CONTRACT = (
    select(Contract)
    .where(
        Contract.shop_id == bindparam("shop_id"), Contract.origin_order_id == bindparam("order_id")
    )
    .order_by(Contract.contract_id)
    .limit(1)
)
_RENEWAL_CONTRACT = (
    select(Contract)
    .join(BillingAttempt, BillingAttempt.contract_pk == Contract.id)
    .where(
        BillingAttempt.shop_id == bindparam("shop_id"),
        BillingAttempt.order_id == bindparam("order_id"),
        BillingAttempt.status == BillingAttemptStatus.SUCCESS,
        Contract.shop_id == bindparam("shop_id"),
    )
    .order_by(Contract.contract_id)
    .limit(1)
)
_FIRST_DELIVERY = select(func.min(FulfillmentEvent.happened_at)).where(
    FulfillmentEvent.shop_id == bindparam("shop_id"),
    FulfillmentEvent.order_id == bindparam("order_id"),
    FulfillmentEvent.status == DELIVERED,
)
# `find_order` and `first_delivery` in one statement (the order row alone is locked).
_ORDER_AND_FIRST_DELIVERY = (
    select(Order, _FIRST_DELIVERY.scalar_subquery())
    .where(Order.shop_id == bindparam("shop_id"), Order.order_id == bindparam("order_id"))
    .with_for_update(of=Order)
    .execution_options(populate_existing=True)
)


# Fulfilment statuses that shipped nothing.
_NOT_FULFILLED = frozenset({"cancelled", "error", "failure"})


def fulfilled_time(payload: dict[str, Any]) -> datetime | None:
    """When the order was fulfilled: its first fulfilment's creation, when the payload lists
    them (the webhook may fire later, and its event time is then not the fulfilment's)."""
    fulfillments = payload.get("fulfillments")
    if fulfillments is None:
        return None
    if not isinstance(fulfillments, list):
        raise MalformedPayload("fulfillments must be a list")
    times = [
        found
        for fulfillment in fulfillments
        if isinstance(fulfillment, dict)
        and fulfillment.get("status") not in _NOT_FULFILLED
        and (found := timestamp(fulfillment.get("created_at"))) is not None
    ]
    return min(times, default=None)


async def handle_order(ctx: EventContext) -> str:
    """orders/create and orders/fulfilled: both carry the whole order."""
    payload = ctx.payload
    order_id = require_id(payload, "id", "admin_graphql_api_id")
    created_at = timestamp(payload.get("created_at")) or ctx.occurred_at
    customer = section(payload, "customer")
    customer_id = first_id(customer, "id", "admin_graphql_api_id")

    contract = await origin_contract(ctx.session, ctx.shop_id, order_id)
    # Subscriber before order: the same lock order as contract events, so they cannot deadlock.
    if customer_id is not None:
        subscriber = await find_subscriber(ctx.session, ctx.shop_id, customer_id)
        if subscriber is not None:
            fields = dict(customer)
            if "email" not in fields and payload.get("email"):
                fields["email"] = payload["email"]
            profile = Profile.from_customer(fields, payload.get("customer_locale"))
            apply_profile(subscriber, profile, ctx.occurred_at)

    # Usually known already (orders/fulfilled, or a renewal's billing attempt came first):
    # then one statement locks it and reads its first delivery.
    params = {"shop_id": ctx.shop_id, "order_id": order_id}
    found = (await ctx.session.execute(_ORDER_AND_FIRST_DELIVERY, params)).one_or_none()
    order, delivered = (found[0], found[1]) if found is not None else (None, None)
    if contract is None and (order is None or order.contract_pk is None):
        # Not the origin of a known contract: a renewal's, if its attempt is known. An order
        # linked already needs no look-up: a successful attempt links its order when it is
        # processed (creating the order if needed), and a link only ever moves to a lower
        # contract id, so no attempt's contract can change it here (`contract_of_order` is
        # the whole rule; this spares every linked order a search of the shop's attempts).
        contract = await renewal_contract(ctx.session, ctx.shop_id, order_id)
    if order is None:
        # A new row comes with its stored deliveries (and no survey was told of them yet).
        order = await order_row(ctx.session, ctx.shop_id, order_id, created_at)
        delivered = None
        before = OrderState(None, None, None)
    else:
        before = OrderState.of(order)
    order.created_at_shop = created_at
    total = money(payload.get("total_price"))
    if total is not None:
        order.total = total
    currency = text(payload.get("currency"), 3)
    if currency is not None:
        order.currency = currency.upper()
    if ctx.topic == "orders/fulfilled":
        fulfilled = fulfilled_time(payload) or ctx.occurred_at
        if order.fulfilled_at is None or fulfilled < order.fulfilled_at:
            order.fulfilled_at = fulfilled
    if delivered is not None and (order.delivered_at is None or delivered < order.delivered_at):
        order.delivered_at = delivered
    if contract is not None:
        await link_order(ctx.session, order, contract)
    await notify_surveys(ctx, order, before)
    return InboxStatus.HANDLED
