"""Orders, their fulfilment and their carriers' scans (orders/create, orders/fulfilled,
fulfillment_events/create), applied set-based to a run of inbox rows of one shop.

These are most of a shop's events (each renewal brings an order, its fulfilment and a few
scans), so they are applied a run at a time, with one statement per kind of row rather than a
handful per event: the scans in one INSERT, the subscribers and orders locked in one SELECT
each, new orders in one INSERT, the contracts they belong to in at most two SELECTs, the
changes in one UPDATE and the NPS invitations they trigger in two statements.

The result is the one-row-at-a-time result whatever the arrival order, as every field is one of:
- the latest value by event order (an order's date, total, currency; a subscriber's profile);
- the earliest time known (first fulfilment; first delivery, from the stored scans);
- a link to the lowest contract id that claims the order (`link_order`).
A run of one row is how a single row is applied (`apply_event`), so there is one way.

Runs of billing attempts and of new contracts tie their orders through the same code
(`link_renewal_orders`, `link_origin_orders`): one home for creating, locking and writing order
rows and telling the surveys about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import Tx
from plugin.domain.context import RunOutcome
from plugin.domain.errors import MalformedPayload
from plugin.domain.event_rows import context_of
from plugin.domain.orders import DELIVERED, OrderState, link_order, progress_of
from plugin.domain.payloads import first_id, money, require_id, section, text, timestamp
from plugin.domain.rows import insert_all_if_absent, lock, write_changed
from plugin.domain.subscribers import Profile, apply_profile
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Contract,
    FulfillmentEvent,
    InboxStatus,
    Order,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.runtime import Runtime
from plugin.surveys import hooks

SCAN_TOPIC = "fulfillment_events/create"
FULFILLED_TOPIC = "orders/fulfilled"
ORDER_TOPICS = frozenset({"orders/create", FULFILLED_TOPIC, SCAN_TOPIC})
# What this module changes on an order and on a subscriber, written in one statement each.
_ORDER_COLUMNS = (
    "contract_pk",
    "subscriber_id",
    "created_at_shop",
    "total",
    "currency",
    "fulfilled_at",
    "delivered_at",
)
_PROFILE_COLUMNS = ("email", "first_name", "last_name", "locale", "profile_updated_at")
# Fulfilment statuses that shipped nothing.
_NOT_FULFILLED = frozenset({"cancelled", "error", "failure"})


@dataclass(frozen=True)
class OrderFacts:
    """What an orders/create or orders/fulfilled payload says (both carry the whole order)."""

    order_id: int
    created_at: datetime
    total: Decimal | None
    currency: str | None
    fulfilled_at: datetime | None  # orders/fulfilled only
    customer_id: int | None
    profile: Profile
    occurred_at: datetime


@dataclass(frozen=True)
class Scan:
    """A fulfillment event (a carrier's tracking update) as stored."""

    row: dict[str, Any]

    @property
    def order_id(self) -> int:
        return int(self.row["order_id"])

    @property
    def delivered(self) -> bool:
        return bool(self.row["status"] == DELIVERED)


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


def read_order(topic: str, payload: dict[str, Any], occurred_at: datetime) -> OrderFacts:
    customer = section(payload, "customer")
    fields = dict(customer)
    if "email" not in fields and payload.get("email"):
        fields["email"] = payload["email"]
    currency = text(payload.get("currency"), 3)
    return OrderFacts(
        order_id=require_id(payload, "id", "admin_graphql_api_id"),
        created_at=timestamp(payload.get("created_at")) or occurred_at,
        total=money(payload.get("total_price")),
        currency=currency.upper() if currency is not None else None,
        fulfilled_at=(fulfilled_time(payload) or occurred_at) if topic == FULFILLED_TOPIC else None,
        customer_id=first_id(customer, "id", "admin_graphql_api_id"),
        profile=Profile.from_customer(fields, payload.get("customer_locale")),
        occurred_at=occurred_at,
    )


def read_scan(shop_id: int, payload: dict[str, Any], occurred_at: datetime) -> Scan:
    status = text(payload.get("status"), 32)
    if status is None:
        raise MalformedPayload("fulfillment event has no status")
    return Scan(
        {
            "shop_id": shop_id,
            "event_id": require_id(payload, "id", "admin_graphql_api_id"),
            "fulfillment_id": first_id(payload, "fulfillment_id"),
            "order_id": require_id(payload, "order_id"),
            "status": status.lower(),
            # The carrier's time of the scan is the delivery time; the webhook may fire later.
            "happened_at": timestamp(payload.get("happened_at")) or occurred_at,
            "estimated_delivery_at": timestamp(payload.get("estimated_delivery_at")),
        }
    )


async def apply_order_events(
    tx: Tx, runtime: Runtime, shop: Shop, rows: Sequence[WebhookInbox]
) -> list[RunOutcome]:
    """Apply the rows (in event order, all of `ORDER_TOPICS`); the status of each, in order.
    Raises MalformedPayload when a row's payload cannot be read (nothing written yet)."""
    facts: list[OrderFacts] = []
    scans: list[Scan] = []
    for row in rows:
        ctx = context_of(tx, runtime, shop, row)
        if ctx.topic == SCAN_TOPIC:
            scans.append(read_scan(shop.id, ctx.payload, ctx.occurred_at))
        else:
            facts.append(read_order(ctx.topic, ctx.payload, ctx.occurred_at))
    session = tx.session
    # Stored first: an order's first delivery is then read from the table, this run's included.
    await insert_all_if_absent(
        session, FulfillmentEvent, [scan.row for scan in scans], ("shop_id", "event_id")
    )
    # Subscribers before orders: the lock order of contract events, so they cannot deadlock.
    await _apply_profiles(session, shop.id, facts)
    # A scan of an order we do not have yet waits for it: orders/create reads the stored scan.
    touched = {fact.order_id for fact in facts}
    touched.update(scan.order_id for scan in scans if scan.delivered)
    if touched:
        await _apply_to_orders(session, shop, facts, touched)
    return [InboxStatus.HANDLED] * len(rows)


async def _apply_profiles(session: AsyncSession, shop_id: int, facts: list[OrderFacts]) -> None:
    """Each order's customer fields onto its subscriber, if the customer is one (we keep
    nothing about other customers), in event order."""
    customer_ids = {fact.customer_id for fact in facts if fact.customer_id is not None}
    if not customer_ids:
        return
    found = await session.scalars(
        lock(
            select(Subscriber)
            .where(Subscriber.shop_id == shop_id, Subscriber.customer_id.in_(customer_ids))
            .order_by(Subscriber.customer_id)
        )
    )
    subscribers = {subscriber.customer_id: subscriber for subscriber in found}
    for fact in facts:
        subscriber = subscribers.get(fact.customer_id) if fact.customer_id is not None else None
        if subscriber is not None:
            apply_profile(subscriber, fact.profile, fact.occurred_at)
    await write_changed(session, list(subscribers.values()), _PROFILE_COLUMNS)


async def _apply_to_orders(
    session: AsyncSession, shop: Shop, facts: list[OrderFacts], touched: set[int]
) -> None:
    # An order event creates its order if new; a renewal's billing attempt may have already.
    new = {fact.order_id: fact.created_at for fact in facts}
    orders, before = await _orders_locked(session, shop.id, new, touched)
    for fact in facts:
        order = orders[fact.order_id]
        order.created_at_shop = fact.created_at
        if fact.total is not None:
            order.total = fact.total
        if fact.currency is not None:
            order.currency = fact.currency
        if fact.fulfilled_at is not None and (
            order.fulfilled_at is None or fact.fulfilled_at < order.fulfilled_at
        ):
            order.fulfilled_at = fact.fulfilled_at
    for order_id, contract in (await _claiming_contracts(session, shop.id, orders, facts)).items():
        await link_order(session, orders[order_id], contract)
    await _write_orders(session, shop, orders, before)


@dataclass(frozen=True)
class Renewal:
    """A successful billing attempt's order, of its contract."""

    order_id: int
    occurred_at: datetime
    contract: Contract


async def link_renewal_orders(session: AsyncSession, shop: Shop, renewals: list[Renewal]) -> None:
    """Each renewal's order tied to its contract, in event order; an order not known yet is
    created as a placeholder (dated by its first attempt) until orders/create fills it in."""
    if not renewals:
        return
    new: dict[int, datetime] = {}
    for renewal in renewals:
        new.setdefault(renewal.order_id, renewal.occurred_at)
    orders, before = await _orders_locked(session, shop.id, new, set(new))
    for renewal in renewals:
        await link_order(session, orders[renewal.order_id], renewal.contract)
    await _write_orders(session, shop, orders, before)


async def link_origin_orders(
    session: AsyncSession, shop: Shop, origins: list[tuple[int, Contract]]
) -> None:
    """Each (order id, contract) it started: the order tied to the contract if we have it (the
    contract came second), and the surveys told what they were not told yet."""
    if not origins:
        return
    orders, before = await _orders_locked(
        session, shop.id, {}, {order_id for order_id, _ in origins}
    )
    for order_id, contract in origins:
        order = orders.get(order_id)
        if order is not None:
            await link_order(session, order, contract)
    await _write_orders(session, shop, orders, before)


async def _orders_locked(
    session: AsyncSession, shop_id: int, new: dict[int, datetime], touched: set[int]
) -> tuple[dict[int, Order], dict[int, OrderState]]:
    """The orders `touched`, locked, those of `new` created first if absent (dated as given),
    each with the earliest delivery its stored scans show; and what the surveys were told of
    each before this run."""
    created = await insert_all_if_absent(
        session,
        Order,
        [
            {"shop_id": shop_id, "order_id": order_id, "created_at_shop": created_at}
            for order_id, created_at in new.items()
        ],
        ("shop_id", "order_id"),
    )
    first_delivery = (
        select(func.min(FulfillmentEvent.happened_at))
        .where(
            FulfillmentEvent.shop_id == Order.shop_id,
            FulfillmentEvent.order_id == Order.order_id,
            FulfillmentEvent.status == DELIVERED,
        )
        .scalar_subquery()
    )
    loaded = await session.execute(
        lock(
            select(Order, first_delivery)
            .where(Order.shop_id == shop_id, Order.order_id.in_(touched))
            .order_by(Order.order_id),
            of=Order,
        )
    )
    orders: dict[int, Order] = {}
    before: dict[int, OrderState] = {}
    for order, delivered in loaded:
        orders[order.order_id] = order
        # A new row: the surveys were told nothing of it, nor of the scans stored before it.
        before[order.order_id] = (
            OrderState(None, None, None) if order.order_id in created else OrderState.of(order)
        )
        # Split shipments deliver more than once: the first delivery is when it arrived.
        if delivered is not None and (order.delivered_at is None or delivered < order.delivered_at):
            order.delivered_at = delivered
    return orders, before


async def _write_orders(
    session: AsyncSession, shop: Shop, orders: dict[int, Order], before: dict[int, OrderState]
) -> None:
    """The orders' changes in one statement, then what the surveys were not told yet."""
    await write_changed(session, list(orders.values()), _ORDER_COLUMNS)
    progress = [
        found
        for order_id, order in orders.items()
        if (found := progress_of(order, before[order_id])) is not None
    ]
    if progress:
        await session.flush()  # the hooks query what this run wrote (autoflush is off)
        await hooks.on_orders_progressed(session, shop, progress)


async def _claiming_contracts(
    session: AsyncSession, shop_id: int, orders: dict[int, Order], facts: list[OrderFacts]
) -> dict[int, Contract]:
    """The lowest known contract each ordered order belongs to: the contract it started, else,
    for an order not linked yet, the contract whose successful billing attempt made it. (An
    order linked already needs no search of the attempts: a successful attempt links its order
    when it is processed, and a link only ever moves to a lower contract id.)"""
    ordered = {fact.order_id for fact in facts}
    claims: dict[int, Contract] = {}
    if not ordered:
        return claims
    origins = await session.scalars(
        select(Contract)
        .where(Contract.shop_id == shop_id, Contract.origin_order_id.in_(ordered))
        .order_by(Contract.contract_id)
    )
    for contract in origins:
        assert contract.origin_order_id is not None
        claims.setdefault(contract.origin_order_id, contract)
    unlinked = {
        order_id
        for order_id in ordered
        if order_id not in claims and orders[order_id].contract_pk is None
    }
    if not unlinked:
        return claims
    # The attempts, then their contracts by id: joined in one statement, a planner with stale
    # statistics (a shop's first hours, tables growing fast) scanned every contract of the shop.
    renewals = (
        await session.execute(
            select(BillingAttempt.order_id, BillingAttempt.contract_pk).where(
                BillingAttempt.shop_id == shop_id,
                BillingAttempt.order_id.in_(unlinked),
                BillingAttempt.status == BillingAttemptStatus.SUCCESS,
            )
        )
    ).all()
    if not renewals:
        return claims
    contracts = await session.scalars(
        select(Contract).where(
            Contract.shop_id == shop_id,
            Contract.id.in_({contract_pk for _, contract_pk in renewals}),
        )
    )
    by_pk = {contract.id: contract for contract in contracts}
    for order_id, contract_pk in renewals:
        renewed = by_pk.get(contract_pk)
        if order_id is None or renewed is None:
            continue
        current = claims.get(order_id)  # the lowest contract id wins, as in `link_order`
        if current is None or renewed.contract_id < current.contract_id:
            claims[order_id] = renewed
    return claims
