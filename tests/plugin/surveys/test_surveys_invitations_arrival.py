"""NPS invitations are a function of the events, not of their arrival: a contract's deliveries
in any order, processed in batches of any size (each batch one transaction, so an event can
move across batches), end in exactly the invitations of processing them one at a time in the
order they happened: trigger, status (cancelled and throttled included), send and expiry times.

The stories put the contract's cancellation (and a comeback after it) anywhere among the
orders' fulfilments and deliveries, which is where arrival order used to leak in: a fallback
cancelled before its delivery arrived kept the fallback's timing, and a delivery processed
after the cancellation made no invitation at all.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from plugin.inbox.batches import process_rows
from plugin.models import InboxStatus, NpsInvitation, Shop, WebhookInbox
from plugin.runtime import Runtime
from tests.plugin.domain import conftest as domain_fixtures
from tests.plugin.domain.domain_helpers import rows
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    contract,
    fulfillment_event,
    next_id,
    order,
    store,
)

rt = domain_fixtures.rt
shopify = domain_fixtures.shopify

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Shipment:
    delivered_after: int | None  # days after the fulfilment; None: never reported delivered
    split: bool  # a second, later delivered scan


@dataclass(frozen=True)
class Story:
    shipments: tuple[Shipment, ...]  # the origin order, then one renewal a month
    cancelled_on: int | None  # day of the cancellation
    back_after: int | None  # days after it the contract comes back (activate)


shipments = st.builds(Shipment, st.none() | st.integers(1, 12), st.booleans())
stories = st.builds(
    Story,
    st.lists(shipments, min_size=1, max_size=4).map(tuple),
    st.none() | st.integers(0, 130),
    st.none() | st.integers(1, 40),
)


def events_of(story: Story) -> list[Event]:
    """The contract's events in the order they happened."""
    cid, customer, origin = next_id(), next_id(), next_id()
    revision = iter(range(1, 100))
    events: list[Event] = []

    def add(topic: str, payload: dict[str, Any], at: datetime) -> None:
        events.append(Event(topic, payload, at=at))

    def status(topic: str, value: str, at: datetime) -> None:
        body = contract(
            cid, customer, status=value, revision_id=next(revision), origin_order_id=origin
        )
        add(f"subscription_contracts/{topic}", body, at)

    status("create", "active", T0)
    for k, shipment in enumerate(story.shipments):
        created = T0 + 30 * k * DAY + HOUR
        order_id = origin if k == 0 else next_id()
        if k:
            attempt = billing_attempt(next_id(), cid, order_id=order_id)
            add("subscription_billing_attempts/success", attempt, created)
        add("orders/create", order(order_id, customer, created_at=created), created)
        fulfilled = created + DAY
        body = order(order_id, customer, created_at=created, fulfilled_at=fulfilled)
        add("orders/fulfilled", body, fulfilled + HOUR)
        if shipment.delivered_after is not None:
            at = fulfilled + shipment.delivered_after * DAY
            add(
                "fulfillment_events/create",
                fulfillment_event(next_id(), order_id, happened_at=at),
                at,
            )
            if shipment.split:
                later = at + 2 * DAY
                scan = fulfillment_event(next_id(), order_id, happened_at=later)
                add("fulfillment_events/create", scan, later)
    if story.cancelled_on is not None:
        cancelled = T0 + story.cancelled_on * DAY + 2 * HOUR
        status("cancel", "cancelled", cancelled)
        if story.back_after is not None:
            status("activate", "active", cancelled + story.back_after * DAY)
    return sorted(events, key=lambda e: e.at or T0)


async def run(rt: Runtime, batches: list[list[Event]]) -> None:
    """Each batch stored, then processed in one transaction; rows that waited for their
    contract are processed again at the end, as the queue's retry would."""
    ids: list[int] = []
    for batch in batches:
        stored = [await store(rt, event) for event in batch]
        ids += stored
        await process_rows(rt, stored)
    for _ in range(3):
        async with rt.sessionmaker() as session:
            waiting = list(
                await session.scalars(
                    select(WebhookInbox.id)
                    .where(WebhookInbox.id.in_(ids), WebhookInbox.status == InboxStatus.PENDING)
                    .order_by(WebhookInbox.id)
                )
            )
        if not waiting:
            return
        for inbox_id in waiting:
            await process_rows(rt, [inbox_id])


async def invitations(rt: Runtime) -> list[tuple[Any, ...]]:
    return sorted(
        (i.order_id, i.trigger, i.status, i.send_at, i.expires_at, i.sent_at)
        for i in await rows(rt, NpsInvitation)
    )


async def forget_shop(rt: Runtime) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(delete(Shop))


def in_batches(events: list[Event], cuts: list[int]) -> list[list[Event]]:
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(events))), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=stories, data=st.data())
async def test_invitations_do_not_depend_on_the_arrival_order_or_the_batches(
    rt: Runtime, story: Story, data: st.DataObject
) -> None:
    events = events_of(story)
    shuffled = data.draw(st.permutations(events), label="arrival order")
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=6), label="batch cuts")
    try:
        await run(rt, [[event] for event in events])
        expected = await invitations(rt)
        await forget_shop(rt)
        await run(rt, in_batches(shuffled, cuts))
        assert await invitations(rt) == expected
    finally:
        await forget_shop(rt)


async def test_a_delivery_arriving_after_the_cancellation_still_wins_over_the_fallback(
    rt: Runtime,
) -> None:
    """In order: fulfilled (day 1), delivered (day 6), cancelled (day 8). Arriving as
    fulfilled, cancelled, delivered, the invitation is the same: delivered timing, cancelled."""
    story = Story((Shipment(5, False),), cancelled_on=8, back_after=None)
    events = events_of(story)
    try:
        await run(rt, [[event] for event in events])
        expected = await invitations(rt)
        [(_, trigger, status, *_)] = expected
        assert (trigger, status) == ("delivered", "cancelled")
        await forget_shop(rt)
        fulfilled, delivered, cancelled = events[-3:]
        await run(rt, [[e] for e in events[:-3]] + [[fulfilled], [cancelled], [delivered]])
        assert await invitations(rt) == expected
    finally:
        await forget_shop(rt)


async def test_a_subscriber_who_came_back_is_invited_for_what_was_delivered_after(
    rt: Runtime,
) -> None:
    """Cancelled on day 2 and back on day 4: the origin order delivered on day 12 is invited;
    had the comeback arrived last, the same."""
    story = Story((Shipment(10, False),), cancelled_on=2, back_after=2)
    events = events_of(story)
    try:
        await run(rt, [[event] for event in events])
        expected = await invitations(rt)
        assert [(i[1], i[2]) for i in expected] == [("delivered", "scheduled")]
        await forget_shop(rt)
        comeback = next(e for e in events if e.topic.endswith("/activate"))
        rest = [e for e in events if e is not comeback]
        await run(rt, [[e] for e in rest] + [[comeback]])
        assert await invitations(rt) == expected
    finally:
        await forget_shop(rt)
