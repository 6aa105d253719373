"""Any processing order of a contract's events ends in the same state as processing them in
the order they happened: contract, status history, billing attempts (published null-id shapes
included), orders with their fulfilment and delivery times, changes, cancellation, and the
survey invitations to be sent.

Events that need the contract wait for it as in production: the job fails with a transient
error, and the row is processed again later (the queue's retry or the sweeper). Profile data
that orders carry is out of scope: it is kept only for customers already known as
subscribers (data minimisation), so it depends on the order by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from plugin.inbox.batches import process_batch, process_rows
from plugin.models import (
    BillingAttempt,
    BillingCycleEvent,
    Cancellation,
    Contract,
    ContractChange,
    ContractStatusEvent,
    FulfillmentEvent,
    InboxStatus,
    InvitationStatus,
    NpsInvitation,
    Order,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import forget_shop, rows
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    billing_cycle,
    contract,
    fulfillment_event,
    next_id,
    order,
    process,
    store,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
CONTRACTS = "subscription_contracts/"
ATTEMPTS = "subscription_billing_attempts/"


@dataclass(frozen=True)
class Renewal:
    failed_first: bool  # a declined try two days before
    challenged: bool  # a 3-D Secure challenge before the success
    null_ids: bool  # the published shape: "id": null
    delivered: bool
    split_shipment: bool  # a second, later delivered scan of the same order


@dataclass(frozen=True)
class Story:
    renewals: tuple[Renewal, ...]
    paused_after: int | None  # paused (and resumed a week later) after this renewal
    skipped_cycle: int | None
    cancelled: bool


renewals = st.builds(
    Renewal, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)
stories = st.builds(
    Story,
    st.lists(renewals, min_size=1, max_size=4).map(tuple),
    st.none() | st.integers(0, 3),
    st.none() | st.integers(1, 4),
    st.booleans(),
)


def events_of(story: Story) -> list[Event]:
    """The contract's events in the order they happened."""
    cid, customer, origin = next_id(), next_id(), next_id()
    revision = iter(range(1, 100))
    events: list[Event] = []

    def add(topic: str, payload: dict[str, Any], at: datetime) -> None:
        events.append(Event(topic, payload, at=at))

    def contract_event(topic: str, status: str, at: datetime) -> None:
        add(
            CONTRACTS + topic,
            contract(
                cid, customer, status=status, revision_id=next(revision), origin_order_id=origin
            ),
            at,
        )

    def shipped(order_id: int, created: datetime, *, delivered: bool, split: bool) -> None:
        add("orders/create", order(order_id, customer, created_at=created), created)
        fulfilled = created + DAY
        body = order(order_id, customer, created_at=created, fulfilled_at=fulfilled)
        add("orders/fulfilled", body, fulfilled + 2 * HOUR)  # fired after the fulfilment
        scan = fulfillment_event(
            next_id(), order_id, status="in_transit", happened_at=created + 2 * DAY
        )
        add("fulfillment_events/create", scan, created + 2 * DAY)
        if delivered:
            at = created + 3 * DAY
            add(
                "fulfillment_events/create",
                fulfillment_event(next_id(), order_id, happened_at=at),
                at,
            )
        if split:
            at = created + 5 * DAY
            add(
                "fulfillment_events/create",
                fulfillment_event(next_id(), order_id, happened_at=at),
                at,
            )

    contract_event("create", "active", T0)
    shipped(origin, T0, delivered=True, split=False)
    for k, renewal in enumerate(story.renewals, start=1):
        due = T0 + 30 * k * DAY

        def attempt(attempt_id: int, null_ids: bool = renewal.null_ids, **fields: Any) -> dict:
            body = billing_attempt(attempt_id, cid, **fields)
            if null_ids:
                body |= {"id": None, "admin_graphql_api_id": None}
            return body

        if renewal.failed_first:
            declined = attempt(next_id(), error_code="PAYMENT_METHOD_DECLINED")
            add(ATTEMPTS + "failure", declined, due - 2 * DAY)
        order_id, attempt_id = next_id(), next_id()
        if renewal.challenged:
            add(ATTEMPTS + "challenged", attempt(attempt_id), due)
        add(ATTEMPTS + "success", attempt(attempt_id, order_id=order_id), due + HOUR)
        shipped(order_id, due + HOUR, delivered=renewal.delivered, split=renewal.split_shipment)
        if story.paused_after == k:
            contract_event("pause", "paused", due + 10 * DAY)
            contract_event("activate", "active", due + 17 * DAY)
    end = T0 + 30 * (len(story.renewals) + 1) * DAY
    if story.skipped_cycle is not None:
        add(
            "subscription_billing_cycles/skip",
            billing_cycle(
                cid, story.skipped_cycle, cycle_start=T0 + 30 * story.skipped_cycle * DAY
            ),
            T0 + 15 * DAY,
        )
    if story.cancelled:
        contract_event("cancel", "cancelled", end - 5 * DAY)
    return sorted(events, key=lambda e: e.at or T0)


async def run(rt: Runtime, events: list[Event]) -> None:
    """Process each event once in the given order; retry what waited for its contract."""
    waiting = []
    for event in events:
        inbox_id = await store(rt, event)
        if (await process(rt, inbox_id)).retry_in is not None:
            waiting.append(inbox_id)
    for inbox_id in waiting:
        await process(rt, inbox_id)


async def run_in_batches(rt: Runtime, events: list[Event], batch_size: int) -> None:
    """Store every event first (a backlog), then drain it as the worker does: batches of the
    shop's due rows, the rows that waited for their contract taken again until none is left."""
    ids = [await store(rt, event) for event in events]
    async with rt.sessionmaker() as session:
        shop_id = (await session.execute(select(Shop.id))).scalar_one()
    for _ in range(len(ids)):
        while (await process_batch(rt, shop_id, limit=batch_size)).claimed:
            pass
        async with rt.sessionmaker() as session:
            pending = (
                await session.scalars(
                    select(WebhookInbox.id).where(
                        WebhookInbox.id.in_(ids), WebhookInbox.status == InboxStatus.PENDING
                    )
                )
            ).all()
        if not pending:
            return
        await process_rows(rt, pending)  # their retry time, brought forward
    raise AssertionError("rows still pending after as many rounds as rows")


async def final_state(rt: Runtime) -> dict[str, Any]:
    """Everything the events wrote, by business keys (no surrogate ids)."""
    contracts = {c.id: c.contract_id for c in await rows(rt, Contract)}
    [c] = await rows(rt, Contract)
    return {
        "contract": (
            c.status,
            c.status_at,
            c.revision_id,
            c.started_at,
            c.ended_at,
            c.billing_interval,
            c.billing_interval_count,
            c.currency,
            c.origin_order_id,
        ),
        "history": sorted(
            (e.status, e.occurred_at, e.revision_id) for e in await rows(rt, ContractStatusEvent)
        ),
        "attempts": sorted(
            (a.attempt_key, a.attempt_id, a.status, a.error_code, a.order_id, a.occurred_at)
            for a in await rows(rt, BillingAttempt)
        ),
        "orders": sorted(
            (
                o.order_id,
                contracts.get(o.contract_pk or 0),
                o.subscriber_id is not None,
                o.created_at_shop,
                o.total,
                o.currency,
                o.fulfilled_at,
                o.delivered_at,
            )
            for o in await rows(rt, Order)
        ),
        "scans": sorted(
            (f.event_id, f.order_id, f.status, f.happened_at)
            for f in await rows(rt, FulfillmentEvent)
        ),
        "changes": sorted(
            (ch.kind, ch.source, ch.occurred_at) for ch in await rows(rt, ContractChange)
        ),
        "cycles": sorted(
            (e.cycle_index, e.kind, e.occurred_at, e.skipped)
            for e in await rows(rt, BillingCycleEvent)
        ),
        "cancellation": sorted(
            (x.cancelled_at, x.end_status, x.reason_code, x.reason_source)
            for x in await rows(rt, Cancellation)
        ),
        "subscribers": sorted((s.customer_id, s.first_seen_at) for s in await rows(rt, Subscriber)),
        # The invitations that will go out (cancelled and throttled ones never do).
        "invitations": sorted(
            (i.order_id, i.trigger, i.send_at, i.expires_at)
            for i in await rows(rt, NpsInvitation)
            if i.status == InvitationStatus.SCHEDULED
        ),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=stories, data=st.data())
async def test_any_arrival_and_processing_order_ends_in_the_state_of_the_order_of_events(
    rt: Runtime, story: Story, data: st.DataObject
) -> None:
    """Each row processed as it arrives, or a shuffled backlog drained in batches of any size
    (which group run handlers' rows and merge a run's deliveries of one attempt or order in
    memory): the end state is the in-order one."""
    events = events_of(story)
    shuffled = data.draw(st.permutations(events), label="arrival order")
    batch_size = data.draw(
        st.none() | st.integers(min_value=1, max_value=len(events)),
        label="batch size (None: one row at a time, as it arrives)",
    )
    try:
        await run(rt, events)
        expected = await final_state(rt)
        await forget_shop(rt)
        if batch_size is None:
            await run(rt, shuffled)
        else:
            await run_in_batches(rt, shuffled, batch_size)
        assert await final_state(rt) == expected
    finally:
        await forget_shop(rt)


async def test_the_stories_exercise_what_they_claim(rt: Runtime) -> None:
    """The in-order run of a full story schedules surveys, links renewals and keeps null-id
    attempts: the property above compares something, not two empty states."""
    plain_null_ids = Renewal(False, False, null_ids=True, delivered=True, split_shipment=False)
    story = Story(
        renewals=(
            Renewal(*[True] * 5),
            Renewal(*[False] * 5),
            plain_null_ids,
            plain_null_ids,
        ),
        paused_after=1,
        skipped_cycle=2,
        cancelled=False,
    )
    await run(rt, events_of(story))
    state = await final_state(rt)
    assert state["contract"][0] == "active"
    assert len(state["attempts"]) == 5
    assert sum(1 for a in state["attempts"] if a[1] is None) == 4
    assert {a[3] for a in state["attempts"]} == {None, "payment_method_declined"}
    assert len(state["orders"]) == 5 and all(o[1] is not None for o in state["orders"])
    # Surveys (2 days after delivery, at most one per 90 days): the origin order's (delivered
    # day 3) goes out; renewal 1's (delivered day 33) and renewal 2's fallback (fulfilled day
    # 61, never delivered) are within its window; renewal 3's (day 93) is 90 days after it;
    # renewal 4's (day 123) is within renewal 3's window.
    by_creation = [o[0] for o in sorted(state["orders"], key=lambda o: o[3])]
    assert [(i[0], i[1], i[2]) for i in state["invitations"]] == [
        (by_creation[0], "delivered", T0 + 5 * DAY),
        (by_creation[3], "delivered", T0 + 95 * DAY + HOUR),
    ]
    assert state["changes"] and state["cycles"]
