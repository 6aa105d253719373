"""Contracts that are ours (known to the fake Shopify and delivered to us by webhook), and the
billing-attempt webhooks that Shopify would send back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select

from plugin.models import BillingCharge, DunningCase
from plugin.runtime import Runtime
from tests.support.fake_shopify import FakeLine, FakeShopify
from tests.support.payloads import T0, Event, contract, deliver, next_id

D = date(2026, 2, 2)  # a Monday: the billing day most tests bill


async def subscribe(
    rt: Runtime,
    shopify: FakeShopify,
    due: date = D,
    *,
    status: str = "active",
    price: str = "25.00",
    due_at: time = time(12),
    customer_id: int | None = None,
) -> int:
    """A contract whose next cycle is expected on `due` (UTC `due_at`); its contract id."""
    cid, customer = next_id(), customer_id or next_id()
    shopify.add_contract(
        contract_id=cid,
        customer_id=customer,
        status=status.upper(),
        lines=[FakeLine(price)],
        next_billing_date=datetime.combine(due, due_at, tzinfo=UTC).isoformat(),
    )
    await deliver(
        rt, Event("subscription_contracts/create", contract(cid, customer, status=status), at=T0)
    )
    return cid


def gid(contract_id: int) -> str:
    return f"gid://shopify/SubscriptionContract/{contract_id}"


async def deliver_outcomes(rt: Runtime, shopify: FakeShopify, on: date) -> list[str]:
    """Shopify's webhooks for the attempts made since the last call, fired at noon on `on`."""
    topics = []
    for topic, payload in shopify.attempt_events():
        at = datetime.combine(on, time(12), tzinfo=UTC)
        await deliver(rt, Event(topic, payload, at=at))
        topics.append(topic.rsplit("/", 1)[1])
    return topics


async def charges(rt: Runtime) -> list[BillingCharge]:
    async with rt.sessionmaker() as session:
        return list(await session.scalars(select(BillingCharge).order_by(BillingCharge.id)))


async def case_of(rt: Runtime) -> DunningCase:
    async with rt.sessionmaker() as session:
        (case,) = (await session.scalars(select(DunningCase))).all()
        return case


def keys(shopify: FakeShopify) -> list[str]:
    return [a.idempotency_key for a in shopify.attempts]


def variables_of_charges(shopify: FakeShopify) -> list[dict[str, Any]]:
    return [
        r.json()["variables"]
        for r in shopify.requests_to("/graphql.json")
        if "subscriptionBillingAttemptCreate" in r.json()["query"]
    ]
