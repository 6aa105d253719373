"""Orders, fulfillments, deliveries and customer profiles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin.models import Contract, FulfillmentEvent, InboxStatus, Order, Subscriber
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import HookCalls, one, rows
from tests.support.payloads import (
    T0,
    Event,
    contract,
    customer,
    deliver,
    fulfillment_event,
    inbox_row,
    next_id,
    order,
)

CREATE = "subscription_contracts/create"
DAY = timedelta(days=1)


@pytest.mark.parametrize("first", ["order", "contract"])
async def test_origin_order_is_linked_whichever_comes_first(rt: Runtime, first: str) -> None:
    cid, oid, customer_id = next_id(), next_id(), next_id()
    order_event = Event("orders/create", order(oid, customer_id), at=T0)
    contract_event = Event(CREATE, contract(cid, customer_id, origin_order_id=oid), at=T0)
    events = (order_event, contract_event) if first == "order" else (contract_event, order_event)
    await deliver(rt, *events)
    c = await one(rt, Contract, Contract.contract_id == cid)
    o = await one(rt, Order, Order.order_id == oid)
    assert (o.contract_pk, o.subscriber_id) == (c.id, c.subscriber_id)


async def test_two_contracts_from_one_checkout_link_the_order_to_the_lowest(rt: Runtime) -> None:
    low, high, oid = next_id(), next_id(), next_id()
    await deliver(
        rt,
        Event(CREATE, contract(high, 501, origin_order_id=oid)),
        Event("orders/create", order(oid, 501)),
        Event(CREATE, contract(low, 501, origin_order_id=oid)),
    )
    o = await one(rt, Order, Order.order_id == oid)
    assert o.contract_pk == (await one(rt, Contract, Contract.contract_id == low)).id


async def test_a_non_subscription_order_keeps_no_personal_data(rt: Runtime) -> None:
    oid, stranger = next_id(), next_id()
    await deliver(rt, Event("orders/create", order(oid, stranger)))
    o = await one(rt, Order, Order.order_id == oid)
    assert (o.contract_pk, o.subscriber_id) == (None, None)
    assert await rows(rt, Subscriber, Subscriber.customer_id == stranger) == []


async def test_origin_order_fills_the_subscriber_profile(rt: Runtime) -> None:
    cid, oid, customer_id = next_id(), next_id(), next_id()
    buyer = customer(customer_id, email="grace@example.com", first_name="Grace", locale="fr")
    await deliver(
        rt,
        Event(CREATE, contract(cid, customer_id, origin_order_id=oid)),
        Event("orders/create", order(oid, customer_id, buyer=buyer)),
    )
    s = await one(rt, Subscriber, Subscriber.customer_id == customer_id)
    assert (s.email, s.first_name, s.last_name, s.locale) == (
        "grace@example.com",
        "Grace",
        "Lovelace",
        "fr",
    )


async def test_fulfilled_subscription_order_tells_surveys(
    rt: Runtime, hook_calls: HookCalls
) -> None:
    cid, oid = next_id(), next_id()
    fulfilled = T0 + 2 * DAY
    body = order(oid, created_at=T0, fulfilled_at=fulfilled)
    await deliver(
        rt,
        Event(CREATE, contract(cid, origin_order_id=oid), at=T0),
        Event("orders/create", order(oid, created_at=T0), at=T0),
        Event("orders/fulfilled", body, at=fulfilled),
        Event("orders/fulfilled", body, at=fulfilled),  # a second delivery
    )
    o = await one(rt, Order, Order.order_id == oid)
    assert o.fulfilled_at == fulfilled
    assert hook_calls.of("on_order_fulfilled") == [(oid, fulfilled)]


async def test_fulfilled_one_off_order_is_not_a_survey_trigger(
    rt: Runtime, hook_calls: HookCalls
) -> None:
    oid = next_id()
    await deliver(rt, Event("orders/fulfilled", order(oid, fulfilled_at=T0), at=T0))
    assert (await one(rt, Order, Order.order_id == oid)).fulfilled_at == T0
    assert hook_calls.calls == []


@pytest.mark.parametrize("first", ["order", "delivery"])
async def test_delivery_dates_the_order_whichever_comes_first(
    rt: Runtime, hook_calls: HookCalls, first: str
) -> None:
    cid, oid, eid = next_id(), next_id(), next_id()
    # The carrier scanned it on day 4; Shopify fired the webhook a day later.
    delivered = T0 + 4 * DAY
    delivery = Event(
        "fulfillment_events/create",
        fulfillment_event(eid, oid, happened_at=delivered),
        at=delivered + DAY,
    )
    order_event = Event("orders/create", order(oid, created_at=T0), at=T0)
    await deliver(rt, Event(CREATE, contract(cid, origin_order_id=oid), at=T0))
    await deliver(rt, *((order_event, delivery) if first == "order" else (delivery, order_event)))
    o = await one(rt, Order, Order.order_id == oid)
    assert o.delivered_at == delivered
    assert hook_calls.of("on_order_delivered") == [(oid, delivered)]
    event = await one(rt, FulfillmentEvent, FulfillmentEvent.event_id == eid)
    assert (event.status, event.order_id, event.happened_at) == ("delivered", oid, delivered)


async def test_tracking_updates_are_kept_once_and_only_delivered_dates_the_order(
    rt: Runtime,
) -> None:
    oid, in_transit, delivered_a, delivered_b = next_id(), next_id(), next_id(), next_id()
    await deliver(rt, Event("orders/create", order(oid)))
    transit = Event(
        "fulfillment_events/create",
        fulfillment_event(in_transit, oid, status="in_transit", happened_at=T0 + DAY),
    )
    await deliver(
        rt,
        transit,
        transit,
        # Split shipment: the first delivery is when the subscriber got their box.
        Event(
            "fulfillment_events/create",
            fulfillment_event(delivered_b, oid, happened_at=T0 + 5 * DAY),
        ),
        Event(
            "fulfillment_events/create",
            fulfillment_event(delivered_a, oid, happened_at=T0 + 3 * DAY),
        ),
    )
    events = await rows(rt, FulfillmentEvent, FulfillmentEvent.order_id == oid)
    assert sorted(e.status for e in events) == ["delivered", "delivered", "in_transit"]
    assert (await one(rt, Order, Order.order_id == oid)).delivered_at == T0 + 3 * DAY


async def test_customer_update_refreshes_a_subscriber_only(rt: Runtime) -> None:
    customer_id, stranger = next_id(), next_id()
    await deliver(rt, Event(CREATE, contract(next_id(), customer_id)))
    newer = customer(customer_id, email="new@example.com", first_name="Ada", at=T0 + 2 * DAY)
    older = customer(customer_id, email="old@example.com", first_name="Old", at=T0 + DAY)
    ids = await deliver(
        rt,
        Event("customers/update", newer, at=T0 + 2 * DAY),
        Event("customers/update", older, at=T0 + DAY),  # late: must not win
        Event("customers/update", customer(stranger), at=T0),
    )
    s = await one(rt, Subscriber, Subscriber.customer_id == customer_id)
    assert (s.email, s.first_name, s.profile_updated_at) == ("new@example.com", "Ada", T0 + 2 * DAY)
    assert await rows(rt, Subscriber, Subscriber.customer_id == stranger) == []
    stranger_row = await inbox_row(rt, ids[-1])
    assert stranger_row is not None and stranger_row.status == InboxStatus.IGNORED


async def test_event_time_falls_back_to_the_payload(rt: Runtime) -> None:
    customer_id = next_id()
    await deliver(rt, Event(CREATE, contract(next_id(), customer_id)))
    # No X-Shopify-Triggered-At header: the payload's updated_at dates the change.
    body = customer(customer_id, email="a@example.com", at=T0 + 3 * DAY)
    await deliver(rt, Event("customers/update", body, at=None))
    s = await one(rt, Subscriber, Subscriber.customer_id == customer_id)
    assert s.profile_updated_at == T0 + 3 * DAY
