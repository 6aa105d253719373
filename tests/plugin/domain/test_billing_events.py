"""Billing attempts and billing cycle skips."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from plugin.models import (
    BillingAttempt,
    BillingCycleEvent,
    Contract,
    ContractChange,
    InboxStatus,
    Order,
)
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import one, rows
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    billing_cycle,
    contract,
    deliver,
    inbox_row,
    next_id,
    order,
    process,
    store,
)

SUCCESS = "subscription_billing_attempts/success"
FAILURE = "subscription_billing_attempts/failure"
CHALLENGED = "subscription_billing_attempts/challenged"
SKIP = "subscription_billing_cycles/skip"
UNSKIP = "subscription_billing_cycles/unskip"
DAY = timedelta(days=1)


async def new_contract(rt: Runtime, customer_id: int = 501) -> Contract:
    cid = next_id()
    await deliver(rt, Event("subscription_contracts/create", contract(cid, customer_id), at=T0))
    return await one(rt, Contract, Contract.contract_id == cid)


async def attempt(rt: Runtime, attempt_id: int) -> BillingAttempt:
    return await one(rt, BillingAttempt, BillingAttempt.attempt_id == attempt_id)


async def test_failure_keeps_error_code_and_event_time(rt: Runtime) -> None:
    c = await new_contract(rt)
    aid = next_id()
    body = billing_attempt(
        aid, c.contract_id, error_code="insufficient_funds", error_message="Card declined"
    )
    await deliver(rt, Event(FAILURE, body, at=T0 + 30 * DAY))
    row = await attempt(rt, aid)
    assert (row.status, row.error_code, row.error_message) == (
        "failure",
        "insufficient_funds",
        "Card declined",
    )
    assert (row.contract_pk, row.order_id, row.occurred_at) == (c.id, None, T0 + 30 * DAY)
    assert row.idempotency_key == f"attempt-{aid}"


async def test_success_creates_the_order_and_orders_create_fills_it(rt: Runtime) -> None:
    c = await new_contract(rt)
    aid, oid = next_id(), next_id()
    await deliver(
        rt, Event(SUCCESS, billing_attempt(aid, c.contract_id, order_id=oid), at=T0 + 30 * DAY)
    )
    placeholder = await one(rt, Order, Order.order_id == oid)
    assert (placeholder.contract_pk, placeholder.subscriber_id) == (c.id, c.subscriber_id)
    assert (placeholder.created_at_shop, placeholder.total) == (T0 + 30 * DAY, None)

    created = T0 + 30 * DAY - timedelta(seconds=5)
    await deliver(
        rt,
        Event("orders/create", order(oid, created_at=created, recurring=True), at=T0 + 31 * DAY),
    )
    filled = await one(rt, Order, Order.order_id == oid)
    assert (filled.contract_pk, filled.created_at_shop) == (c.id, created)
    assert (filled.total, filled.currency) == (Decimal("29.95"), "USD")


async def test_orders_create_first_is_linked_by_the_later_success(rt: Runtime) -> None:
    c = await new_contract(rt)
    aid, oid = next_id(), next_id()
    await deliver(rt, Event("orders/create", order(oid, recurring=True), at=T0 + 30 * DAY))
    unlinked = await one(rt, Order, Order.order_id == oid)
    assert (unlinked.contract_pk, unlinked.subscriber_id) == (None, None)
    await deliver(rt, Event(SUCCESS, billing_attempt(aid, c.contract_id, order_id=oid)))
    linked = await one(rt, Order, Order.order_id == oid)
    assert (linked.contract_pk, linked.subscriber_id) == (c.id, c.subscriber_id)
    assert linked.total == Decimal("29.95")


@pytest.mark.parametrize("order_of_arrival", ["challenge first", "outcome first"])
async def test_an_outcome_is_never_replaced_by_its_challenge(
    rt: Runtime, order_of_arrival: str
) -> None:
    c = await new_contract(rt)
    aid, oid = next_id(), next_id()
    challenged = Event(CHALLENGED, billing_attempt(aid, c.contract_id), at=T0 + DAY)
    success = Event(
        SUCCESS, billing_attempt(aid, c.contract_id, order_id=oid), at=T0 + DAY + timedelta(hours=1)
    )
    pair = (challenged, success) if order_of_arrival == "challenge first" else (success, challenged)
    await deliver(rt, *pair)
    row = await attempt(rt, aid)
    assert (row.status, row.order_id, row.occurred_at) == (
        "success",
        oid,
        T0 + DAY + timedelta(hours=1),
    )
    assert len(await rows(rt, BillingAttempt, BillingAttempt.attempt_id == aid)) == 1


async def test_attempt_before_its_contract_waits_for_it(rt: Runtime) -> None:
    cid, aid = next_id(), next_id()
    inbox_id = await store(rt, Event(FAILURE, billing_attempt(aid, cid, error_code="expired_card")))
    assert (await process(rt, inbox_id)).retry_in is not None  # left for a retry
    waiting = await inbox_row(rt, inbox_id)
    assert waiting is not None
    assert waiting.status == InboxStatus.PENDING
    assert f"subscription contract {cid} not known yet" in (waiting.last_error or "")
    assert await rows(rt, BillingAttempt, BillingAttempt.attempt_id == aid) == []

    await deliver(rt, Event("subscription_contracts/create", contract(cid)))
    await process(rt, inbox_id)  # the retry (queue backoff or sweeper)
    assert (await attempt(rt, aid)).error_code == "expired_card"


async def test_skip_and_unskip_record_cycle_events_and_changes(rt: Runtime) -> None:
    c = await new_contract(rt)
    await deliver(
        rt,
        Event(SKIP, billing_cycle(c.contract_id, 3), at=T0 + 40 * DAY),
        Event(UNSKIP, billing_cycle(c.contract_id, 3, skipped=False), at=T0 + 41 * DAY),
        Event(SKIP, billing_cycle(c.contract_id, 3), at=T0 + 40 * DAY),  # a redelivery
    )
    cycles = await rows(rt, BillingCycleEvent, BillingCycleEvent.contract_pk == c.id)
    assert [(e.kind, e.cycle_index, e.occurred_at) for e in cycles] == [
        ("skip", 3, T0 + 40 * DAY),
        ("unskip", 3, T0 + 41 * DAY),
    ]
    changes = await rows(rt, ContractChange, ContractChange.contract_pk == c.id)
    assert [(ch.kind, ch.source, ch.occurred_at) for ch in changes] == [
        ("skip", "unknown", T0 + 40 * DAY),
        ("unskip", "unknown", T0 + 41 * DAY),
    ]


async def test_skip_without_cycle_index_is_refused(rt: Runtime) -> None:
    c = await new_contract(rt)
    body = billing_cycle(c.contract_id, 1)
    del body["cycle_index"]
    [inbox_id] = await deliver(rt, Event(SKIP, body))
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert row.status == InboxStatus.FAILED
    assert "cycle_index" in (row.last_error or "")
    assert await rows(rt, BillingCycleEvent) == []
