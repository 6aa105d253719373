"""Shopify-shaped payloads of every subscribed topic (tests/support/shopify_payloads/, written
from Shopify's documented field lists: see the README there), each signed, posted through the
real endpoint, processed by the real job, and checked for its effect.

One shop's story in event time: a contract starts with its origin order, is fulfilled and
delivered, renews through a challenged billing attempt (published shape: `"id": null`), is
changed, paused, resumed, skipped and unskipped, fails a payment (`PAYMENT_METHOD_DECLINED`)
and is cancelled; two more contracts expire and fail; then the privacy topics and uninstall.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plugin.app import build_app_runtime, create_app
from plugin.models import (
    BillingAttempt,
    BillingCycleEvent,
    Cancellation,
    Contract,
    ContractChange,
    DataExport,
    DunningCase,
    InboxStatus,
    NpsInvitation,
    Order,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.topics import TOPICS
from tests.conftest import empty_tables, make_settings
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP, signed_webhook

PAYLOADS = Path(__file__).resolve().parents[1] / "support" / "shopify_payloads"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CONTRACT, EXPIRING, FAILING = 5200001001, 5200001002, 5200001003
CUSTOMER = 7300001001
ORIGIN, RENEWAL = 6400001001, 6400001002


def payload(topic: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{topic.replace('/', '__')}.json").read_text())


def test_there_is_a_payload_for_every_subscribed_topic_and_no_other() -> None:
    files = {path.stem.replace("__", "/") for path in PAYLOADS.glob("*.json")}
    assert files == set(TOPICS)


def test_the_billing_attempts_have_the_published_null_ids() -> None:
    for topic in TOPICS:
        if topic.startswith("subscription_billing_attempts/"):
            body = payload(topic)
            assert body["id"] is None and body["admin_graphql_api_id"] is None, topic


@dataclass
class Shopify:
    """Our app as Shopify reaches it: signed POSTs to /webhooks, jobs run in-process."""

    runtime: Runtime
    client: httpx.AsyncClient

    async def send(self, topic: str, at: datetime) -> None:
        body, headers = signed_webhook(topic, payload(topic), triggered_at=at)
        response = await self.client.post("/webhooks", content=body, headers=headers)
        assert response.status_code == 200, (topic, response.text)
        assert response.json() == {"status": "accepted"}, topic
        queue = self.runtime.queue
        assert isinstance(queue, InProcessQueue)
        await queue.drain()
        assert queue.failures == [], (topic, queue.failures)

    async def one(self, model: Any, *where: Any) -> Any:
        async with self.runtime.sessionmaker() as session:
            return (await session.execute(select(model).where(*where))).scalar_one()

    async def all(self, model: Any, *where: Any) -> list[Any]:
        async with self.runtime.sessionmaker() as session:
            return list((await session.execute(select(model).where(*where))).scalars())


@pytest.fixture
async def shopify(db_url: str) -> AsyncIterator[Shopify]:
    fake = FakeShopify()  # the shop gave no token: contract details are not fetched
    runtime = await build_app_runtime(make_settings(db_url), http=fake.client())
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            yield Shopify(runtime, client)
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def contract(s: Shopify, contract_id: int = CONTRACT) -> Contract:
    found: Contract = await s.one(Contract, Contract.contract_id == contract_id)
    return found


async def created(s: Shopify) -> None:
    c = await contract(s)
    assert (c.status, c.revision_id, c.currency, c.origin_order_id) == (
        "active",
        1000001,
        "EUR",
        ORIGIN,
    )
    assert (c.billing_interval, c.billing_interval_count, c.min_cycles) == ("month", 1, 1)


async def ordered(s: Shopify) -> None:
    o = await s.one(Order, Order.order_id == ORIGIN)
    assert (o.contract_pk, o.total, o.currency) == ((await contract(s)).id, Decimal("29.90"), "EUR")
    subscriber = await s.one(Subscriber, Subscriber.customer_id == CUSTOMER)
    assert (subscriber.email, subscriber.locale) == ("lea.martin@example.com", "fr")


async def fulfilled(s: Shopify) -> None:
    # Dated by the fulfilment (15:30 Paris time), not by the webhook's later event time.
    o = await s.one(Order, Order.order_id == ORIGIN)
    assert o.fulfilled_at == datetime(2026, 1, 6, 14, 30, tzinfo=UTC)


async def delivered(s: Shopify) -> None:
    o = await s.one(Order, Order.order_id == ORIGIN)
    assert o.delivered_at == datetime(2026, 1, 8, 10, 2, tzinfo=UTC)
    [invitation] = await s.all(NpsInvitation, NpsInvitation.order_id == ORIGIN)
    assert (invitation.trigger, invitation.status) == ("delivered", "scheduled")


async def challenged(s: Shopify) -> None:
    [attempt] = await s.all(BillingAttempt)
    assert (attempt.attempt_id, attempt.status, attempt.idempotency_key) == (
        None,
        "challenged",
        "renewal-5200001001-cycle-1",
    )


async def renewed(s: Shopify) -> None:
    [attempt] = await s.all(BillingAttempt)  # the challenged attempt, now with its outcome
    assert (attempt.status, attempt.order_id) == ("success", RENEWAL)
    o = await s.one(Order, Order.order_id == RENEWAL)
    assert o.contract_pk == (await contract(s)).id


async def changed(s: Shopify) -> None:
    c = await contract(s)
    assert (c.status, c.revision_id, c.billing_interval, c.billing_interval_count) == (
        "active",
        1000002,
        "week",
        2,
    )


async def paused(s: Shopify) -> None:
    assert (await contract(s)).status == "paused"
    assert [ch.kind for ch in await s.all(ContractChange)] == ["pause"]


async def resumed(s: Shopify) -> None:
    assert (await contract(s)).status == "active"
    assert sorted(ch.kind for ch in await s.all(ContractChange)) == ["pause", "resume"]


async def skipped(s: Shopify) -> None:
    [cycle] = await s.all(BillingCycleEvent)
    assert (cycle.kind, cycle.cycle_index, cycle.skipped) == ("skip", 2, True)
    assert cycle.billing_attempt_expected_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def unskipped(s: Shopify) -> None:
    kinds = [(c.kind, c.skipped) for c in await s.all(BillingCycleEvent)]
    assert sorted(kinds) == [("skip", True), ("unskip", False)]
    changes = await s.all(ContractChange, ContractChange.kind.in_(["skip", "unskip"]))
    assert {ch.source for ch in changes} == {"unknown"}


async def declined(s: Shopify) -> None:
    [failure] = await s.all(BillingAttempt, BillingAttempt.status == "failure")
    assert (failure.error_code, failure.attempt_id) == ("payment_method_declined", None)


async def profile_updated(s: Shopify) -> None:
    subscriber = await s.one(Subscriber, Subscriber.customer_id == CUSTOMER)
    assert subscriber.email == "lea.m@example.com"


async def scopes_updated(s: Shopify) -> None:
    shop = await s.one(Shop, Shop.domain == SHOP)
    assert "write_app_proxy" in shop.scopes.split(",")


async def bulk_finished(s: Shopify) -> None:
    [row] = await s.all(WebhookInbox, WebhookInbox.topic == "bulk_operations/finish")
    assert row.status == InboxStatus.HANDLED


async def card_updated(s: Shopify) -> None:
    # The declined attempt above was not one of our charges: no dunning case waits on the card.
    [row] = await s.all(WebhookInbox, WebhookInbox.topic == "customer_payment_methods/update")
    assert row.status == InboxStatus.HANDLED
    assert await s.all(DunningCase) == []


async def cancelled(s: Shopify) -> None:
    c = await contract(s)
    assert (c.status, c.ended_at) == ("cancelled", T0 + 70 * DAY)
    [cancellation] = await s.all(Cancellation)
    # The declined payment 5 days before: the dunning process gave up.
    assert (cancellation.end_status, cancellation.reason_code) == ("cancelled", "payment_failed")


async def expired(s: Shopify) -> None:
    assert (await contract(s, EXPIRING)).status == "expired"


async def failed(s: Shopify) -> None:
    assert (await contract(s, FAILING)).status == "failed"


async def data_requested(s: Shopify) -> None:
    [export] = await s.all(DataExport)
    assert (export.customer_id, export.request_key) == (CUSTOMER, "9999")


async def redacted(s: Shopify) -> None:
    subscriber = await s.one(Subscriber, Subscriber.customer_id == CUSTOMER)
    assert subscriber.redacted_at is not None and subscriber.email is None


async def uninstalled(s: Shopify) -> None:
    assert (await s.one(Shop, Shop.domain == SHOP)).uninstalled_at == T0 + 90 * DAY


async def shop_erased(s: Shopify) -> None:
    assert await s.all(Shop) == []
    assert await s.all(Contract) == []


Check = Callable[[Shopify], Awaitable[None]]
STORY: list[tuple[str, timedelta, Check]] = [
    ("subscription_contracts/create", timedelta(0), created),
    ("orders/create", timedelta(hours=1), ordered),
    ("orders/fulfilled", 2 * DAY, fulfilled),
    ("fulfillment_events/create", 3 * DAY, delivered),
    ("subscription_billing_attempts/challenged", 30 * DAY, challenged),
    ("subscription_billing_attempts/success", 30 * DAY + timedelta(hours=1), renewed),
    ("subscription_contracts/update", 35 * DAY, changed),
    ("subscription_contracts/pause", 40 * DAY, paused),
    ("subscription_contracts/activate", 47 * DAY, resumed),
    ("subscription_billing_cycles/skip", 50 * DAY, skipped),
    ("subscription_billing_cycles/unskip", 51 * DAY, unskipped),
    ("customers/update", 52 * DAY, profile_updated),
    ("app/scopes_update", 53 * DAY, scopes_updated),
    ("bulk_operations/finish", 54 * DAY, bulk_finished),
    ("subscription_billing_attempts/failure", 65 * DAY, declined),
    ("customer_payment_methods/update", 66 * DAY, card_updated),
    ("subscription_contracts/cancel", 70 * DAY, cancelled),
    ("subscription_contracts/expire", 71 * DAY, expired),
    ("subscription_contracts/fail", 72 * DAY, failed),
    ("customers/data_request", 80 * DAY, data_requested),
    ("customers/redact", 81 * DAY, redacted),
    ("app/uninstalled", 90 * DAY, uninstalled),
    ("shop/redact", 92 * DAY, shop_erased),
]


def test_the_story_covers_every_subscribed_topic_once() -> None:
    topics = [topic for topic, _, _ in STORY]
    assert sorted(topics) == sorted(TOPICS)


async def test_each_published_shape_is_accepted_processed_and_has_its_effect(
    shopify: Shopify,
) -> None:
    for topic, after, check in STORY:
        await shopify.send(topic, T0 + after)
        if topic != "shop/redact":  # which erases the inbox with the rest of the shop
            rows = await shopify.all(WebhookInbox, WebhookInbox.topic == topic)
            assert [row.status for row in rows] == [InboxStatus.HANDLED], topic
        await check(shopify)
