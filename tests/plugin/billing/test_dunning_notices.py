"""Dunning tells people: each failed charge records the "Subscription payment failed" Flow
trigger once (a redelivered webhook adds nothing), and each case's end records "Subscription
dunning ended" once, with the outcome the merchant's Flow branches on."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from plugin.billing.run import bill_shop
from plugin.flow.catalogue import CUSTOMER, DUNNING_ENDED, PAYMENT_FAILED
from plugin.models import FlowTriggerEvent, Shop
from plugin.runtime import Runtime
from tests.plugin.billing.billing_helpers import D, gid, subscribe
from tests.plugin.billing.test_dunning import bill_and_answer, configure
from tests.support.fake_shopify import FakeShopify
from tests.support.payloads import Event, deliver
from tests.support.signing import SHOP

DAY = timedelta(days=1)


async def firings(rt: Runtime, handle: str) -> list[dict[str, Any]]:
    async with rt.sessionmaker() as session:
        rows = await session.scalars(
            select(FlowTriggerEvent)
            .where(FlowTriggerEvent.handle == handle)
            .order_by(FlowTriggerEvent.id)
        )
        return [row.payload for row in rows]


async def test_each_failed_charge_fires_once_with_what_a_customer_email_needs(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify, customer_id=4711, price="25.00")
    shopify.decline(gid(cid), "insufficient_funds", "insufficient_funds")

    await bill_shop(rt, SHOP, D)
    [(topic, failure)] = shopify.attempt_events()
    at = datetime.combine(D, time(12), tzinfo=UTC)
    await deliver(rt, Event(topic, failure, at=at))
    await deliver(rt, Event(topic, failure, at=at + timedelta(minutes=5)))  # redelivered

    assert await firings(rt, PAYMENT_FAILED.handle) == [
        {
            CUSTOMER: 4711,
            "Contract ID": str(cid),
            "Amount": "25.00",
            "Currency": "USD",
            "Error code": "insufficient_funds",
            "Failed on": D.isoformat(),
            "Next retry date": (D + DAY).isoformat(),
            "Retries left": "3",
            "Needs new payment method": "false",
            "Final action": "pause",
        }
    ]
    # Retry 1 fails too: a second firing, one retry fewer, the next date two days on.
    await bill_and_answer(rt, shopify, D + DAY)
    second = (await firings(rt, PAYMENT_FAILED.handle))[1]
    assert (second["Failed on"], second["Next retry date"], second["Retries left"]) == (
        (D + DAY).isoformat(),
        (D + 3 * DAY).isoformat(),
        "2",
    )
    assert await firings(rt, DUNNING_ENDED.handle) == []


async def test_an_expired_card_promises_no_date_and_asks_for_a_new_card(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "expired_payment_method")

    await bill_and_answer(rt, shopify, D)

    [fired] = await firings(rt, PAYMENT_FAILED.handle)
    assert (fired["Next retry date"], fired["Needs new payment method"]) == ("", "true")


async def test_a_paid_retry_ends_dunning_as_recovered_once(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify, customer_id=4712, price="30.00")
    shopify.decline(gid(cid), "insufficient_funds")

    await bill_and_answer(rt, shopify, D)
    await bill_and_answer(rt, shopify, D + DAY)  # retry 1 pays
    await bill_and_answer(rt, shopify, D + 2 * DAY)  # nothing more to do

    assert await firings(rt, DUNNING_ENDED.handle) == [
        {
            CUSTOMER: 4712,
            "Contract ID": str(cid),
            "Outcome": "recovered",
            "Amount": "30.00",
            "Currency": "USD",
            "Failed attempts": "1",
        }
    ]


async def test_the_final_action_ends_dunning_as_cancelled(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    await configure(rt, shop, retry_days=[1], final_action="cancel")
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "card_declined", "card_declined")

    await bill_and_answer(rt, shopify, D)
    await bill_and_answer(rt, shopify, D + DAY)
    last = (await firings(rt, PAYMENT_FAILED.handle))[-1]
    assert (last["Retries left"], last["Next retry date"], last["Final action"]) == (
        "0",
        "",
        "cancel",
    )
    await bill_shop(rt, SHOP, D + 2 * DAY)
    await bill_shop(rt, SHOP, D + 3 * DAY)  # a rerun ends nothing twice

    [ended] = await firings(rt, DUNNING_ENDED.handle)
    assert (ended["Contract ID"], ended["Outcome"], ended["Failed attempts"]) == (
        str(cid),
        "cancelled",
        "2",
    )


async def test_an_attempt_we_did_not_make_fires_nothing(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "insufficient_funds")
    await bill_shop(rt, SHOP, D)
    [(topic, failure)] = shopify.attempt_events()
    # Another app's attempt on the contract (not our key): not ours to chase or announce.
    await deliver(rt, Event(topic, {**failure, "idempotency_key": "another-app-1"}))

    assert await firings(rt, PAYMENT_FAILED.handle) == []
