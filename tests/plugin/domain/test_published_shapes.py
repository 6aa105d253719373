"""Events as Shopify publishes them: null billing-attempt ids, deliveries before their order,
revisions, error-code spellings, skip payloads without a source, fulfilment times."""

from __future__ import annotations

from datetime import timedelta

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
from tests.plugin.domain.domain_helpers import HookCalls, one, rows
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    billing_cycle,
    contract,
    deliver,
    fulfillment_event,
    inbox_row,
    iso,
    next_id,
    order,
)

SUCCESS = "subscription_billing_attempts/success"
FAILURE = "subscription_billing_attempts/failure"
CHALLENGED = "subscription_billing_attempts/challenged"
UPDATE = "subscription_contracts/update"
DAY = timedelta(days=1)


def without_id(body: dict) -> dict:
    """A billing attempt as Shopify's published examples carry it: `"id": null`."""
    return body | {"id": None, "admin_graphql_api_id": None}


async def new_contract(rt: Runtime) -> Contract:
    cid = next_id()
    await deliver(rt, Event("subscription_contracts/create", contract(cid), at=T0))
    return await one(rt, Contract, Contract.contract_id == cid)


async def attempts_of(rt: Runtime, c: Contract) -> list[BillingAttempt]:
    return await rows(rt, BillingAttempt, BillingAttempt.contract_pk == c.id)


@pytest.mark.parametrize("topic", [SUCCESS, FAILURE, CHALLENGED])
async def test_a_null_id_attempt_is_kept_by_its_idempotency_key(rt: Runtime, topic: str) -> None:
    c = await new_contract(rt)
    aid, oid = next_id(), next_id()
    body = without_id(billing_attempt(aid, c.contract_id, order_id=oid))
    [inbox_id] = await deliver(rt, Event(topic, body, at=T0 + 30 * DAY))
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.HANDLED
    [kept] = await attempts_of(rt, c)
    assert (kept.attempt_id, kept.idempotency_key, kept.status, kept.order_id) == (
        None,
        f"attempt-{aid}",
        topic.rsplit("/", 1)[1],
        oid,
    )


@pytest.mark.parametrize("first", ["null id", "with id"])
async def test_a_later_delivery_with_the_id_is_the_same_attempt(rt: Runtime, first: str) -> None:
    c = await new_contract(rt)
    aid, oid = next_id(), next_id()
    challenged = Event(
        CHALLENGED, without_id(billing_attempt(aid, c.contract_id)), at=T0 + 30 * DAY
    )
    success = Event(
        SUCCESS, billing_attempt(aid, c.contract_id, order_id=oid), at=T0 + 30 * DAY + DAY
    )
    await deliver(rt, *((challenged, success) if first == "null id" else (success, challenged)))
    [kept] = await attempts_of(rt, c)
    assert (kept.attempt_id, kept.status, kept.order_id) == (aid, "success", oid)
    assert (await one(rt, Order, Order.order_id == oid)).contract_pk == c.id


async def test_an_attempt_known_by_its_id_alone_is_found_by_its_key_later(rt: Runtime) -> None:
    c = await new_contract(rt)
    aid = next_id()
    bare = billing_attempt(aid, c.contract_id) | {"idempotency_key": None}
    await deliver(
        rt,
        Event(CHALLENGED, bare, at=T0 + DAY),
        Event(CHALLENGED, billing_attempt(aid, c.contract_id), at=T0 + DAY),
        Event(FAILURE, without_id(billing_attempt(aid, c.contract_id)), at=T0 + 2 * DAY),
    )
    [kept] = await attempts_of(rt, c)
    assert (kept.attempt_id, kept.idempotency_key, kept.status) == (
        aid,
        f"attempt-{aid}",
        "failure",
    )


async def test_an_attempt_with_nothing_to_key_it_by_is_refused(rt: Runtime) -> None:
    c = await new_contract(rt)
    body = without_id(billing_attempt(next_id(), c.contract_id)) | {"idempotency_key": None}
    [inbox_id] = await deliver(rt, Event(FAILURE, body))
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.FAILED
    assert "idempotency_key" in (row.last_error or "")
    assert await attempts_of(rt, c) == []


@pytest.mark.parametrize("code", ["PAYMENT_METHOD_DECLINED", "payment_method_declined"])
async def test_error_codes_have_one_spelling(rt: Runtime, code: str) -> None:
    c = await new_contract(rt)
    body = without_id(billing_attempt(next_id(), c.contract_id, error_code=code))
    await deliver(rt, Event(FAILURE, body))
    [kept] = await attempts_of(rt, c)
    assert kept.error_code == "payment_method_declined"


@pytest.mark.parametrize("null_id", [True, False])
async def test_a_delivery_stored_before_the_attempt_creates_its_order_is_applied(
    rt: Runtime, hook_calls: HookCalls, null_id: bool
) -> None:
    """The fulfillment event finds no order; the renewal's billing attempt then creates the
    order row: it starts delivered, and the post-delivery survey is told."""
    c = await new_contract(rt)
    aid, oid, eid = next_id(), next_id(), next_id()
    delivered = T0 + 34 * DAY
    body = billing_attempt(aid, c.contract_id, order_id=oid)
    await deliver(
        rt,
        Event(
            "fulfillment_events/create",
            fulfillment_event(eid, oid, happened_at=delivered),
            at=delivered,
        ),
        Event(SUCCESS, without_id(body) if null_id else body, at=T0 + 30 * DAY),
    )
    o = await one(rt, Order, Order.order_id == oid)
    assert (o.contract_pk, o.delivered_at) == (c.id, delivered)
    assert hook_calls.of("on_order_delivered") == [(oid, delivered)]


async def test_the_higher_revision_is_the_newer_state_whatever_the_event_times(
    rt: Runtime,
) -> None:
    """Revision 5 (paused) fired a second before revision 4 (active) by the clocks that dated
    the deliveries: the revisions say paused is the newer state."""
    c = await new_contract(rt)
    await deliver(
        rt,
        Event(UPDATE, contract(c.contract_id, status="paused", revision_id=5), at=T0 + DAY),
        Event(
            UPDATE,
            contract(c.contract_id, revision_id=4, interval="week"),
            at=T0 + DAY + timedelta(seconds=1),
        ),
    )
    row = await one(rt, Contract, Contract.id == c.id)
    assert (row.status, row.revision_id, row.billing_interval) == ("paused", 5, "month")


async def test_a_skip_keeps_the_cycle_dates_and_flags_and_an_unknown_source(
    rt: Runtime,
) -> None:
    c = await new_contract(rt)
    start = T0 + 30 * DAY
    skip = billing_cycle(c.contract_id, 2, cycle_start=start) | {"edited": True}
    assert "source" not in skip
    unskip = billing_cycle(c.contract_id, 2, skipped=False, cycle_start=start)
    await deliver(
        rt,
        Event("subscription_billing_cycles/skip", skip, at=T0 + 20 * DAY),
        Event("subscription_billing_cycles/unskip", unskip, at=T0 + 21 * DAY),
    )
    cycles = await rows(rt, BillingCycleEvent, BillingCycleEvent.contract_pk == c.id)
    assert [
        (
            e.kind,
            e.skipped,
            e.edited,
            e.cycle_start_at,
            e.cycle_end_at,
            e.billing_attempt_expected_at,
        )
        for e in cycles
    ] == [
        ("skip", True, True, start, start + 30 * DAY, start + 30 * DAY),
        ("unskip", False, False, start, start + 30 * DAY, start + 30 * DAY),
    ]
    changes = await rows(rt, ContractChange, ContractChange.contract_pk == c.id)
    assert {change.source for change in changes} == {"unknown"}


async def test_orders_fulfilled_is_dated_by_its_first_fulfilment(rt: Runtime) -> None:
    oid = next_id()
    body = order(oid, created_at=T0, fulfilled_at=T0 + 2 * DAY)
    first = body["fulfillments"][0]
    body["fulfillments"] = [
        first | {"id": oid + 7, "created_at": iso(T0 + 3 * DAY)},
        first,
        first | {"id": oid + 8, "status": "cancelled", "created_at": iso(T0 + DAY)},
    ]
    # The webhook fired four days after the first fulfilment.
    await deliver(rt, Event("orders/fulfilled", body, at=T0 + 6 * DAY))
    assert (await one(rt, Order, Order.order_id == oid)).fulfilled_at == T0 + 2 * DAY


async def test_orders_fulfilled_without_fulfilments_is_dated_by_the_event(rt: Runtime) -> None:
    oid = next_id()
    body = order(oid, created_at=T0) | {"fulfillments": []}
    await deliver(rt, Event("orders/fulfilled", body, at=T0 + 6 * DAY))
    assert (await one(rt, Order, Order.order_id == oid)).fulfilled_at == T0 + 6 * DAY
