"""Shopify-shaped webhook events for tests: payload factories with sensible defaults, and helpers
that store an event through the real inbox (`record_delivery`) and process it with the real job.

Bodies follow docs/design.md §4. The topics the demo also emits are built by `plugin.demo.payloads`
(one definition of each shape); this module adds defaults and the topics the demo does not send
(app lifecycle, bulk operations, privacy).

    event = Event("subscription_contracts/create", contract(contract_id=1), at=T0)
    inbox_id = await store(runtime, event)
    await process(runtime, inbox_id)
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from plugin.db.transaction import transaction
from plugin.demo import payloads as shapes
from plugin.inbox import Delivery, record_delivery
from plugin.inbox.batches import BatchResult, process_rows
from plugin.models import WebhookInbox
from plugin.runtime import Runtime
from tests.support.signing import SHOP

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
API_VERSION = "2026-10"
_ids = itertools.count(700_001)


def next_id() -> int:
    """A fresh Shopify-like id (unique within the test session)."""
    return next(_ids)


def iso(at: datetime) -> str:
    """Shopify's timestamp format: the shop's offset, seconds precision."""
    return shapes.iso(at)


# ---- subscription contracts ---------------------------------------------------------------


def contract(
    contract_id: int,
    customer_id: int = 501,
    *,
    status: str = "active",
    revision_id: int = 1,
    currency: str = "USD",
    interval: str = "month",
    interval_count: int = 1,
    max_cycles: int | None = None,
    origin_order_id: int = 9001,
) -> dict[str, Any]:
    """subscription_contracts/* body (the same shape for every contract topic)."""
    return shapes.contract(
        contract_id=contract_id,
        customer_id=customer_id,
        status=status,
        currency=currency,
        interval=interval,
        interval_count=interval_count,
        max_cycles=max_cycles,
        origin_order_id=origin_order_id,
        revision_id=revision_id,
    )


def billing_attempt(
    attempt_id: int,
    contract_id: int,
    *,
    order_id: int | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    ready: bool = True,
) -> dict[str, Any]:
    """subscription_billing_attempts/{success,failure,challenged} body."""
    return shapes.billing_attempt(
        attempt_id=attempt_id,
        contract_id=contract_id,
        order_id=order_id,
        idempotency_key=f"attempt-{attempt_id}",
        error_code=error_code,
        error_message=error_message,
        ready=ready,
    )


def billing_cycle(
    contract_id: int, cycle_index: int, *, skipped: bool = True, cycle_start: datetime = T0
) -> dict[str, Any]:
    """subscription_billing_cycles/{skip,unskip} body."""
    body = shapes.billing_cycle_skip(
        contract_id=contract_id,
        cycle_index=cycle_index,
        cycle_start=cycle_start,
        cycle_end=cycle_start + timedelta(days=30),
    )
    body["skipped"] = skipped
    return body


# ---- customers, orders, fulfillments ------------------------------------------------------


def customer(
    customer_id: int,
    *,
    email: str | None = None,
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    locale: str = "en",
    at: datetime = T0,
) -> dict[str, Any]:
    """customers/update body (also the `customer` object inside orders)."""
    return shapes.customer(
        customer_id=customer_id,
        email=email or f"customer{customer_id}@example.com",
        first_name=first_name,
        last_name=last_name,
        locale=locale,
        at=at,
    )


def order(
    order_id: int,
    customer_id: int = 501,
    *,
    created_at: datetime = T0,
    amount: Decimal = Decimal("25.00"),
    shipping: Decimal = Decimal("4.95"),
    currency: str = "USD",
    recurring: bool = False,
    fulfilled_at: datetime | None = None,
    fulfillment_id: int | None = None,
    buyer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """orders/create (or orders/fulfilled, with fulfilled_at) body."""
    return shapes.order(
        order_id=order_id,
        customer=buyer or customer(customer_id, at=created_at),
        created_at=created_at,
        currency=currency,
        amount=amount,
        shipping=shipping,
        title="Coffee subscription box",
        recurring=recurring,
        fulfilled_at=fulfilled_at,
        fulfillment_id=fulfillment_id or (order_id + 1 if fulfilled_at else None),
    )


def fulfillment_event(
    event_id: int,
    order_id: int,
    *,
    status: str = "delivered",
    happened_at: datetime = T0,
    fulfillment_id: int | None = None,
    estimated_delivery_at: datetime | None = None,
) -> dict[str, Any]:
    """fulfillment_events/create body; status "delivered" means delivered."""
    body = shapes.fulfillment_event(
        event_id=event_id,
        fulfillment_id=fulfillment_id or order_id + 1,
        order_id=order_id,
        status=status,
        happened_at=happened_at,
        estimated_delivery_at=estimated_delivery_at,
    )
    # Carrier scans carry the scan's location: personal data, scrubbed by customers/redact.
    body |= {"city": "Lyon", "province": None, "country": "France", "zip": "69001"}
    return body


# ---- app lifecycle and bulk operations ----------------------------------------------------


def app_uninstalled(shop: str = SHOP, *, at: datetime = T0) -> dict[str, Any]:
    """app/uninstalled body: the shop object."""
    name = shop.split(".", 1)[0]
    return {
        "id": 548380009,
        "name": name,
        "email": f"owner@{name}.example",
        "domain": shop,
        "myshopify_domain": shop,
        "iana_timezone": "America/New_York",
        "currency": "USD",
        "plan_name": "basic",
        "created_at": iso(at - timedelta(days=400)),
        "updated_at": iso(at),
    }


def scopes_update(
    current: Sequence[str], previous: Sequence[str] = (), *, at: datetime = T0
) -> dict[str, Any]:
    """app/scopes_update body."""
    return {
        "id": 548380009,
        "previous": list(previous),
        "current": list(current),
        "updated_at": iso(at),
    }


def bulk_operation_finish(
    operation_id: int, *, status: str = "completed", at: datetime = T0
) -> dict[str, Any]:
    """bulk_operations/finish body."""
    return {
        "admin_graphql_api_id": f"gid://shopify/BulkOperation/{operation_id}",
        "completed_at": iso(at),
        "created_at": iso(at - timedelta(minutes=3)),
        "error_code": None,
        "status": status,
        "type": "query",
    }


# ---- compliance topics --------------------------------------------------------------------


def data_request(
    customer_id: int,
    *,
    request_id: int | None = None,
    orders_requested: Sequence[int] = (),
    shop: str = SHOP,
) -> dict[str, Any]:
    """customers/data_request body."""
    return {
        "shop_id": 548380009,
        "shop_domain": shop,
        "orders_requested": list(orders_requested),
        "customer": {
            "id": customer_id,
            "email": f"customer{customer_id}@example.com",
            "phone": "+33 6 12 34 56 78",
        },
        "data_request": {"id": request_id if request_id is not None else next_id()},
    }


def customer_redact(
    customer_id: int, *, orders_to_redact: Sequence[int] = (), shop: str = SHOP
) -> dict[str, Any]:
    """customers/redact body."""
    return {
        "shop_id": 548380009,
        "shop_domain": shop,
        "customer": {
            "id": customer_id,
            "email": f"customer{customer_id}@example.com",
            "phone": "+33 6 12 34 56 78",
        },
        "orders_to_redact": list(orders_to_redact),
    }


def shop_redact(shop: str = SHOP) -> dict[str, Any]:
    """shop/redact body (48 h after uninstall)."""
    return {"shop_id": 548380009, "shop_domain": shop}


# ---- events through the real inbox and job ------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One webhook event: what Shopify sends, with the moment it fired."""

    topic: str
    payload: dict[str, Any]
    at: datetime | None = T0  # X-Shopify-Triggered-At; None: the header was absent
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def delivery(self, shop: str = SHOP, webhook_id: str | None = None) -> Delivery:
        """One delivery of this event (a redelivery shares the event id, not the webhook id)."""
        return Delivery(
            shop_domain=shop,
            topic=self.topic,
            webhook_id=webhook_id or str(uuid.uuid4()),
            event_id=self.event_id,
            api_version=API_VERSION,
            triggered_at=self.at,
            payload=self.payload,
        )


async def store(
    runtime: Runtime, event: Event, shop: str = SHOP, webhook_id: str | None = None
) -> int:
    """Store one delivery in the inbox as the webhook endpoint does; its inbox id."""
    async with transaction(runtime.sessionmaker, None) as tx:
        stored = await record_delivery(tx.session, event.delivery(shop, webhook_id))
    if stored is None:
        raise AssertionError(f"delivery of {event.topic} was a duplicate")
    return stored.inbox_id


async def process(runtime: Runtime, inbox_id: int) -> BatchResult:
    """Apply one inbox row as the worker's batch would (a batch of that row alone)."""
    return await process_rows(runtime, [inbox_id])


async def deliver(runtime: Runtime, *events: Event, shop: str = SHOP) -> list[int]:
    """Store and process each event in turn; their inbox ids."""
    ids = []
    for event in events:
        inbox_id = await store(runtime, event, shop)
        await process(runtime, inbox_id)
        ids.append(inbox_id)
    return ids


async def inbox_row(runtime: Runtime, inbox_id: int) -> WebhookInbox | None:
    async with runtime.sessionmaker() as session:
        return await session.get(WebhookInbox, inbox_id)
