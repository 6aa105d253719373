"""Contract events: status history, out-of-order and duplicate deliveries, details from GraphQL."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from plugin.db.transaction import transaction
from plugin.models import (
    Cancellation,
    Contract,
    ContractChange,
    ContractStatusEvent,
    InboxStatus,
    Plan,
    PlanVersion,
    Subscriber,
)
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import HookCalls, give_token, one, rows, shop_of
from tests.support.fake_shopify import FakeLine, FakeShopify
from tests.support.payloads import (
    T0,
    Event,
    contract,
    deliver,
    inbox_row,
    next_id,
    process,
    store,
)

CREATE = "subscription_contracts/create"
UPDATE = "subscription_contracts/update"
PAUSE = "subscription_contracts/pause"
ACTIVATE = "subscription_contracts/activate"
CANCEL = "subscription_contracts/cancel"
EXPIRE = "subscription_contracts/expire"
DAY = timedelta(days=1)


async def contract_row(rt: Runtime, contract_id: int) -> Contract:
    return await one(rt, Contract, Contract.contract_id == contract_id)


async def history(rt: Runtime, contract_id: int) -> list[tuple[str, object, int | None]]:
    pk = (await contract_row(rt, contract_id)).id
    found = await rows(rt, ContractStatusEvent, ContractStatusEvent.contract_pk == pk)
    return sorted((e.status, e.occurred_at, e.revision_id) for e in found)


async def test_create_builds_subscriber_contract_and_history(rt: Runtime) -> None:
    cid = next_id()
    body = contract(cid, 501, currency="EUR", interval="week", interval_count=2, max_cycles=12)
    [inbox_id] = await deliver(rt, Event(CREATE, body, at=T0))

    subscriber = await one(rt, Subscriber, Subscriber.customer_id == 501)
    row = await contract_row(rt, cid)
    assert row.subscriber_id == subscriber.id
    assert (row.status, row.status_at, row.revision_id) == ("active", T0, 1)
    assert (row.started_at, row.ended_at) == (T0, None)
    assert (row.currency, row.billing_interval, row.billing_interval_count) == ("EUR", "week", 2)
    assert (row.delivery_interval, row.delivery_interval_count, row.max_cycles) == ("week", 2, 12)
    assert row.origin_order_id == 9001
    assert subscriber.first_seen_at == T0
    assert await history(rt, cid) == [("active", T0, 1)]
    inbox = await inbox_row(rt, inbox_id)
    assert inbox is not None
    assert (inbox.status, inbox.attempts, inbox.last_error) == (InboxStatus.HANDLED, 1, None)
    assert inbox.handled_at is not None


def lifecycle(cid: int) -> list[Event]:
    """create → pause → resume → plan change → cancel, revisions rising with time."""
    monthly = {"interval": "month", "interval_count": 1}
    bimonthly = {"interval": "month", "interval_count": 2}
    return [
        Event(CREATE, contract(cid, 501, revision_id=1, **monthly), at=T0),
        Event(PAUSE, contract(cid, 501, status="paused", revision_id=2, **monthly), at=T0 + DAY),
        Event(ACTIVATE, contract(cid, 501, revision_id=3, **monthly), at=T0 + 5 * DAY),
        Event(UPDATE, contract(cid, 501, revision_id=4, **bimonthly), at=T0 + 6 * DAY),
        Event(
            CANCEL,
            contract(cid, 501, status="cancelled", revision_id=5, **bimonthly),
            at=T0 + 9 * DAY,
        ),
    ]


async def test_shuffled_deliveries_end_in_the_latest_state(
    rt: Runtime, hook_calls: HookCalls
) -> None:
    rng = random.Random(20261123)
    orders = [list(range(5)), list(reversed(range(5)))]
    orders += [rng.sample(range(5), 5) for _ in range(8)]
    for order in orders:
        cid = next_id()
        events = lifecycle(cid)
        await deliver(rt, *(events[i] for i in order))
        row = await contract_row(rt, cid)
        assert (row.status, row.status_at, row.revision_id) == ("cancelled", T0 + 9 * DAY, 5), order
        assert (row.started_at, row.ended_at) == (T0, T0 + 9 * DAY), order
        assert (row.billing_interval, row.billing_interval_count) == ("month", 2), order
        assert len(await history(rt, cid)) == 5
        changes = await rows(rt, ContractChange, ContractChange.contract_pk == row.id)
        assert sorted((c.kind, c.occurred_at) for c in changes) == [
            ("pause", T0 + DAY),
            ("resume", T0 + 5 * DAY),
        ]
        # Surveys hear of the end exactly once, with its event time, whatever the order.
        ended = [call for call in hook_calls.of("on_contract_ended") if call[0][0] == cid]
        assert ended == [((cid, "cancelled"), T0 + 9 * DAY)], order


async def test_late_update_never_overwrites_a_newer_state(rt: Runtime) -> None:
    cid = next_id()
    await deliver(
        rt,
        Event(CANCEL, contract(cid, status="cancelled", revision_id=7), at=T0 + 10 * DAY),
        # Fired earlier, delivered later, with older terms: history only.
        Event(UPDATE, contract(cid, revision_id=3, interval="week"), at=T0 + 2 * DAY),
    )
    row = await contract_row(rt, cid)
    assert (row.status, row.revision_id, row.billing_interval) == ("cancelled", 7, "month")
    assert row.ended_at == T0 + 10 * DAY
    assert row.started_at == T0 + 2 * DAY  # the earliest event seen
    assert await history(rt, cid) == [
        ("active", T0 + 2 * DAY, 3),
        ("cancelled", T0 + 10 * DAY, 7),
    ]


@pytest.mark.parametrize("first", ["older revision", "newer revision"])
async def test_revision_breaks_a_tie_of_event_times(rt: Runtime, first: str) -> None:
    cid = next_id()
    paused = Event(UPDATE, contract(cid, status="paused", revision_id=3), at=T0)
    active = Event(UPDATE, contract(cid, status="active", revision_id=4), at=T0)
    await deliver(rt, *((paused, active) if first == "older revision" else (active, paused)))
    row = await contract_row(rt, cid)
    assert (row.status, row.revision_id) == ("active", 4)


async def test_reactivation_clears_the_end(rt: Runtime, hook_calls: HookCalls) -> None:
    cid = next_id()
    await deliver(
        rt,
        Event(CREATE, contract(cid, revision_id=1), at=T0),
        Event(CANCEL, contract(cid, status="cancelled", revision_id=2), at=T0 + 3 * DAY),
    )
    assert (await contract_row(rt, cid)).ended_at == T0 + 3 * DAY
    await deliver(rt, Event(ACTIVATE, contract(cid, revision_id=3), at=T0 + 4 * DAY))
    row = await contract_row(rt, cid)
    assert (row.status, row.ended_at) == ("active", None)
    # Cancelled again later: a new end, told to surveys again.
    await deliver(
        rt, Event(CANCEL, contract(cid, status="cancelled", revision_id=4), at=T0 + 8 * DAY)
    )
    assert (await contract_row(rt, cid)).ended_at == T0 + 8 * DAY
    assert hook_calls.of("on_contract_ended") == [
        ((cid, "cancelled"), T0 + 3 * DAY),
        ((cid, "cancelled"), T0 + 8 * DAY),
    ]


async def test_a_comeback_retracts_the_cancellation_through_the_webhooks(rt: Runtime) -> None:
    cid = next_id()
    await deliver(
        rt,
        Event(CREATE, contract(cid, revision_id=1), at=T0),
        Event(CANCEL, contract(cid, status="cancelled", revision_id=2), at=T0 + 3 * DAY),
    )
    assert len(await rows(rt, Cancellation)) == 1
    # Activated again (delivered as an update): the cancel no longer counts anywhere.
    await deliver(rt, Event(UPDATE, contract(cid, revision_id=3), at=T0 + 4 * DAY))
    assert await rows(rt, Cancellation) == []
    # A status from before the cancel, delivered late, retracts nothing.
    await deliver(
        rt, Event(CANCEL, contract(cid, status="cancelled", revision_id=4), at=T0 + 9 * DAY)
    )
    await deliver(rt, Event(PAUSE, contract(cid, status="paused", revision_id=2), at=T0 + DAY))
    [cancellation] = await rows(rt, Cancellation)
    assert cancellation.cancelled_at == T0 + 9 * DAY


async def test_an_end_is_dated_by_its_first_ending(rt: Runtime, hook_calls: HookCalls) -> None:
    cid = next_id()
    await deliver(
        rt,
        Event(EXPIRE, contract(cid, status="expired", revision_id=3), at=T0 + 9 * DAY),
        Event(CANCEL, contract(cid, status="cancelled", revision_id=2), at=T0 + 4 * DAY),
    )
    row = await contract_row(rt, cid)
    assert (row.status, row.ended_at) == ("expired", T0 + 4 * DAY)
    assert hook_calls.of("on_contract_ended")[-1] == ((cid, "cancelled"), T0 + 4 * DAY)
    # The survey module joined the end: a cancellation dated by event time.
    cancellation = await one(rt, Cancellation, Cancellation.contract_pk == row.id)
    assert (cancellation.cancelled_at, cancellation.end_status) == (T0 + 4 * DAY, "cancelled")


async def test_a_redelivered_event_changes_nothing(rt: Runtime, hook_calls: HookCalls) -> None:
    cid = next_id()
    event = Event(CANCEL, contract(cid, status="cancelled"), at=T0)
    first = await store(rt, event)
    second = await store(rt, event)  # same event id, new webhook id
    await process(rt, first)
    before = await contract_row(rt, cid)
    await process(rt, second)
    after = await contract_row(rt, cid)
    assert (after.status, after.status_at, after.updated_at) == (
        before.status,
        before.status_at,
        before.updated_at,
    )
    assert len(await history(rt, cid)) == 1
    assert len(hook_calls.of("on_contract_ended")) == 1
    second_row = await inbox_row(rt, second)
    assert second_row is not None and second_row.status == InboxStatus.HANDLED


async def test_unknown_status_is_refused_and_nothing_stored(rt: Runtime) -> None:
    cid = next_id()
    [inbox_id] = await deliver(rt, Event(UPDATE, contract(cid, status="zombie")))
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert row.status == InboxStatus.FAILED
    assert "zombie" in (row.last_error or "")
    assert await rows(rt, Contract, Contract.contract_id == cid) == []


# ---- details from the Admin API ---------------------------------------------------------------


async def test_details_fetched_when_the_shop_has_a_token(rt: Runtime, shopify: FakeShopify) -> None:
    cid = next_id()
    await give_token(rt, shopify)
    shopify.add_contract(
        contract_id=cid,
        customer_id=501,
        lines=[FakeLine("12.50", 2, "Coffee, every month"), FakeLine("5.00", 1, None)],
        next_billing_date="2026-02-05T12:00:00Z",
    )
    await deliver(rt, Event(CREATE, contract(cid), at=T0))
    row = await contract_row(rt, cid)
    # Lines × quantity; the fake's delivery price is not part of the recurring amount.
    assert row.recurring_amount == Decimal("30.00")
    assert row.plan_name == "Coffee, every month"
    assert row.next_billing_date == date(2026, 2, 5)
    assert row.details_fetched_at is not None
    assert len(shopify.requests_to("graphql.json")) == 1

    # Held details are not fetched again for an older event, but an edit after them is.
    await deliver(rt, Event(PAUSE, contract(cid, status="paused", revision_id=2), at=T0 + DAY))
    assert len(shopify.requests_to("graphql.json")) == 1
    shopify.add_contract(contract_id=cid, customer_id=501, lines=[FakeLine("40.00", 1)])
    await deliver(
        rt, Event(UPDATE, contract(cid, revision_id=3), at=utcnow() + timedelta(minutes=1))
    )
    assert len(shopify.requests_to("graphql.json")) == 2
    assert (await contract_row(rt, cid)).recurring_amount == Decimal("40.00")


async def test_a_contract_bought_through_our_plan_is_named_after_the_plan(
    rt: Runtime, shopify: FakeShopify
) -> None:
    # Shopify names the contract's line after the selling plan, which says only its frequency;
    # the metrics group contracts by the merchant's plan, so ours are named after it.
    await give_token(rt, shopify)
    shop = await shop_of(rt)
    async with transaction(rt.sessionmaker, None) as tx:
        plan = Plan(
            shop_id=shop.id, name="Monthly Roast", group_gid="gid://shopify/SellingPlanGroup/1"
        )
        tx.session.add(plan)
        await tx.session.flush()
        tx.session.add(
            PlanVersion(
                shop_id=shop.id,
                plan_id=plan.id,
                version=1,
                discount_type="none",
                discount_value=Decimal(0),
                frequencies=[{"interval": "month", "delivery_count": 1, "billing_count": 1}],
                selling_plans={"month-1-1": "gid://shopify/SellingPlan/7001"},
            )
        )
    ours, theirs = next_id(), next_id()
    shopify.add_contract(
        contract_id=ours,
        customer_id=601,
        lines=[FakeLine("24.00", 1, "Delivered every month", 7001)],
    )
    shopify.add_contract(
        contract_id=theirs,
        customer_id=602,
        lines=[FakeLine("24.00", 1, "Delivered every month", 9999)],
    )
    await deliver(rt, Event(CREATE, contract(ours), at=T0))
    await deliver(rt, Event(CREATE, contract(theirs), at=T0))
    assert (await contract_row(rt, ours)).plan_name == "Monthly Roast"
    assert (await contract_row(rt, theirs)).plan_name == "Delivered every month"


async def test_details_left_for_backfill_without_a_token(rt: Runtime, shopify: FakeShopify) -> None:
    cid = next_id()
    shopify.add_contract(contract_id=cid, customer_id=501)
    [inbox_id] = await deliver(rt, Event(CREATE, contract(cid)))
    row = await contract_row(rt, cid)
    assert (row.recurring_amount, row.plan_name, row.details_fetched_at) == (None, None, None)
    assert shopify.requests == []
    inbox = await inbox_row(rt, inbox_id)
    assert inbox is not None and inbox.status == InboxStatus.HANDLED


async def test_refused_token_or_unknown_contract_does_not_fail_the_event(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    unknown = next_id()  # Shopify answers subscriptionContract: null
    await deliver(rt, Event(CREATE, contract(unknown)))
    assert (await contract_row(rt, unknown)).details_fetched_at is None

    revoked = next_id()
    shopify.add_contract(contract_id=revoked, customer_id=501)
    shopify.revoke_tokens()  # 401 from GraphQL
    [inbox_id] = await deliver(rt, Event(CREATE, contract(revoked)))
    assert (await contract_row(rt, revoked)).details_fetched_at is None
    inbox = await inbox_row(rt, inbox_id)
    assert inbox is not None and inbox.status == InboxStatus.HANDLED
    assert len(shopify.requests_to("graphql.json")) == 2


async def test_throttled_fetch_waits_and_completes(rt: Runtime, shopify: FakeShopify) -> None:
    cid = next_id()
    await give_token(rt, shopify)
    shopify.add_contract(contract_id=cid, customer_id=501)
    # Cost 100 with 99.9 available at 1,000/s: the client waits (its 0.5 s floor), then retries.
    shopify.throttle(requested=100, available=99.9, restore_rate=1000)
    await deliver(rt, Event(CREATE, contract(cid)))
    assert (await contract_row(rt, cid)).recurring_amount == Decimal("25.00")
    assert len(shopify.requests_to("graphql.json")) == 2


async def test_shopify_unavailable_retries_the_whole_event(
    rt: Runtime, shopify: FakeShopify
) -> None:
    cid = next_id()
    await give_token(rt, shopify)
    shopify.add_contract(contract_id=cid, customer_id=501)
    shopify.rate_limit(retry_after=120)  # longer than the client will wait inside a job
    inbox_id = await store(rt, Event(CREATE, contract(cid)))
    assert (await process(rt, inbox_id)).retry_in is not None  # left for a retry
    inbox = await inbox_row(rt, inbox_id)
    assert inbox is not None
    assert (inbox.status, inbox.attempts) == (InboxStatus.PENDING, 1)
    assert "429" in (inbox.last_error or "")
    # Nothing half-applied: the contract is not there without its details.
    assert await rows(rt, Contract, Contract.contract_id == cid) == []

    await process(rt, inbox_id)  # the retry
    assert (await contract_row(rt, cid)).recurring_amount == Decimal("25.00")
    inbox = await inbox_row(rt, inbox_id)
    assert inbox is not None
    assert (inbox.status, inbox.attempts, inbox.last_error) == (InboxStatus.HANDLED, 2, None)
