"""New contracts applied a run at a time end as the same creates applied one at a time."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from plugin.domain import contract_creates
from plugin.inbox.batches import process_batch
from plugin.models import (
    Cancellation,
    Contract,
    ContractStatusEvent,
    InboxStatus,
    NpsInvitation,
    Order,
    Shop,
    Subscriber,
)
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import forget_shop, give_token, rows
from tests.support.fake_shopify import FakeShopify
from tests.support.payloads import (
    T0,
    Event,
    contract,
    deliver,
    fulfillment_event,
    inbox_row,
    next_id,
    order,
    store,
)

CREATE = "subscription_contracts/create"
UPDATE = "subscription_contracts/update"
CANCEL = "subscription_contracts/cancel"
DAY = timedelta(days=1)


def story() -> tuple[list[Event], list[Event]]:
    """What comes first (one at a time), then a backlog of creates of every kind."""
    known, new, twice, paused = next_id(), next_id(), next_id(), next_id()
    first, again, held, ended = next_id(), next_id(), next_id(), next_id()
    first_order, second_order, third_order = next_id(), next_id(), next_id()
    before = [
        # A customer whose invitation was cancelled when their only contract ended.
        Event(CREATE, contract(first, known, origin_order_id=first_order), at=T0),
        Event("orders/create", order(first_order, known), at=T0),
        Event("orders/fulfilled", order(first_order, known, fulfilled_at=T0 + DAY), at=T0 + DAY),
        Event(
            "fulfillment_events/create",
            fulfillment_event(next_id(), first_order, happened_at=T0 + 2 * DAY),
            at=T0 + 2 * DAY,
        ),
        Event(CANCEL, contract(first, known, status="cancelled"), at=T0 + 3 * DAY),
        # An order whose contract comes in the backlog, delivered already.
        Event("orders/create", order(second_order, new), at=T0 + 10 * DAY),
        Event(
            "fulfillment_events/create",
            fulfillment_event(next_id(), second_order, happened_at=T0 + 12 * DAY),
            at=T0 + 12 * DAY,
        ),
        Event(CREATE, contract(held, new, origin_order_id=next_id()), at=T0 + 9 * DAY),
    ]
    at = T0 + 20 * DAY
    twice_event = Event(CREATE, contract(twice, next_id(), origin_order_id=third_order), at=at)
    backlog = [
        # The known customer comes back: their invitation is decided again.
        Event(CREATE, contract(again, known, origin_order_id=next_id()), at=at),
        Event(CREATE, contract(new, new, origin_order_id=second_order), at=T0 + 10 * DAY),
        twice_event,
        twice_event,  # delivered twice
        Event(CREATE, contract(paused, next_id(), status="paused"), at=at + DAY),
        Event(CREATE, contract(ended, next_id(), status="cancelled"), at=at),
        Event(CREATE, contract(held, new, origin_order_id=next_id()), at=T0 + 8 * DAY),
        Event(UPDATE, contract(held, new, revision_id=2, interval="week"), at=at + DAY),
    ]
    return before, backlog


async def state(rt: Runtime) -> dict[str, Any]:
    contracts = {c.id: c.contract_id for c in await rows(rt, Contract)}
    customers = {s.id: s.customer_id for s in await rows(rt, Subscriber)}
    return {
        "contracts": sorted(
            (
                c.contract_id,
                customers[c.subscriber_id],
                c.status,
                c.status_at,
                c.revision_id,
                c.started_at,
                c.ended_at,
                c.currency,
                c.billing_interval,
                c.billing_interval_count,
                c.max_cycles,
                c.origin_order_id,
            )
            for c in await rows(rt, Contract)
        ),
        "history": sorted(
            (contracts[e.contract_pk], e.status, e.occurred_at, e.revision_id, e.topic)
            for e in await rows(rt, ContractStatusEvent)
        ),
        "subscribers": sorted((s.customer_id, s.first_seen_at) for s in await rows(rt, Subscriber)),
        "orders": sorted(
            (o.order_id, contracts.get(o.contract_pk or 0), o.delivered_at)
            for o in await rows(rt, Order)
        ),
        "invitations": sorted(
            (i.order_id, i.status, i.trigger, i.send_at) for i in await rows(rt, NpsInvitation)
        ),
        "cancellations": sorted(
            (contracts[x.contract_pk], x.cancelled_at, x.end_status, x.reason_source)
            for x in await rows(rt, Cancellation)
        ),
    }


async def in_one_batch(rt: Runtime, events: list[Event]) -> None:
    for event in events:
        await store(rt, event, webhook_id=None)
    async with rt.sessionmaker() as session:
        shop_id = (await session.execute(select(Shop.id))).scalar_one()
    result = await process_batch(rt, shop_id)
    assert set(result.outcomes) == {InboxStatus.HANDLED}


async def test_a_backlog_of_creates_ends_as_the_same_creates_one_at_a_time(rt: Runtime) -> None:
    before, backlog = story()
    await deliver(rt, *before)
    await deliver(rt, *sorted(backlog, key=lambda event: event.at or T0))
    expected = await state(rt)
    await forget_shop(rt)

    await deliver(rt, *before)
    await in_one_batch(rt, backlog)

    assert await state(rt) == expected
    # The story covers what it claims: the comeback rescheduled the cancelled invitation,
    # the known order was linked and invited, the ended create recorded its cancellation.
    assert {i[1] for i in expected["invitations"]} == {"scheduled"}
    assert len(expected["invitations"]) == 2
    assert len(expected["cancellations"]) == 2


async def test_a_contract_created_elsewhere_meanwhile_is_applied_as_one_we_had(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = contract_creates.insert_all_returning
    missed: list[int] = []

    async def misses_the_last(session: Any, model: Any, values: Any, key: Any) -> list[Any]:
        created = await real(session, model, values, key)
        if not created:
            return created
        # As if another transaction had inserted it first (it is there, not ours).
        missed.append(created[-1].customer_id if model is Subscriber else created[-1].contract_id)
        return created[:-1]

    monkeypatch.setattr(contract_creates, "insert_all_returning", misses_the_last)
    ids = [next_id() for _ in range(4)]
    customers = [next_id() for _ in ids]
    await in_one_batch(
        rt, [Event(CREATE, contract(c, u)) for c, u in zip(ids, customers, strict=True)]
    )

    assert len(missed) == 2  # one subscriber, one contract
    stored = await rows(rt, Contract)
    assert sorted(c.contract_id for c in stored) == sorted(ids)
    assert len(await rows(rt, ContractStatusEvent)) == len(ids)
    assert sorted(s.customer_id for s in await rows(rt, Subscriber)) == sorted(customers)


async def test_a_create_shopify_cannot_answer_for_waits_alone_while_the_run_goes_on(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    throttled, answered = next_id(), next_id()
    for contract_id in (throttled, answered):
        shopify.add_contract(contract_id=contract_id, customer_id=501)
    shopify.rate_limit(retry_after=120)  # the first details query: longer than a job waits
    first = await store(rt, Event(CREATE, contract(throttled), at=T0))
    await store(rt, Event(CREATE, contract(answered), at=T0 + DAY))
    async with rt.sessionmaker() as session:
        shop_id = (await session.execute(select(Shop.id))).scalar_one()

    result = await process_batch(rt, shop_id)

    assert result.outcomes == {InboxStatus.HANDLED: 1, InboxStatus.PENDING: 1}
    waiting = await inbox_row(rt, first)
    assert waiting is not None and "429" in (waiting.last_error or "")
    [stored] = await rows(rt, Contract)  # nothing of the throttled one written
    assert (stored.contract_id, stored.recurring_amount) == (answered, Decimal("25.00"))
