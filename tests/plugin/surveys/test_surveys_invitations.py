"""NPS invitations: delivered and fallback triggers, throttle, no survey to cancelled
subscribers, one per order, release and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import Contract, InvitationStatus, NpsInvitation, Order, Shop, Subscriber
from plugin.runtime import Runtime
from plugin.surveys import hooks
from plugin.surveys.invitations import (
    DELIVERED,
    FULFILLED_FALLBACK,
    expire_invitations,
    release_due_invitations,
)
from tests.plugin.surveys.survey_factories import (
    T0,
    World,
    add_contract,
    add_invitation,
    add_order,
    add_subscriber,
    all_rows,
    world,
)

DAY = timedelta(days=1)


async def deliver(
    runtime: Runtime, w: World, order_id: int, at: Any, *, fulfilled: bool = False
) -> None:
    """What the domain does for a delivered (or, with fulfilled=True, fulfilled) order."""
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        order = await tx.session.scalar(
            select(Order).where(Order.shop_id == w.shop_id, Order.order_id == order_id)
        )
        if order is None:
            contract = await tx.session.get(Contract, w.contract_pk)
            assert shop is not None and contract is not None
            order = await add_order(tx.session, shop, contract, order_id=order_id, at=at - DAY)
        assert shop is not None
        if fulfilled:
            order.fulfilled_at = at
        else:
            order.delivered_at = at
        progress = hooks.OrderProgress(order, fulfilled=fulfilled, delivered=not fulfilled)
        await tx.session.flush()
        await hooks.on_orders_progressed(tx.session, shop, [progress])


async def invitations(runtime: Runtime, w: World) -> list[NpsInvitation]:
    rows = await all_rows(runtime, NpsInvitation, NpsInvitation.shop_id == w.shop_id)
    return sorted(rows, key=lambda r: r.id)


async def release(runtime: Runtime, now: Any) -> int:
    async with transaction(runtime.sessionmaker, None) as tx:
        return await release_due_invitations(tx.session, now=now)


async def test_delivery_schedules_one_invitation_after_the_delay(runtime: Runtime) -> None:
    w = await world(runtime)
    await deliver(runtime, w, w.order_id, T0)
    await deliver(runtime, w, w.order_id, T0)  # the hook runs again: nothing new
    [inv] = await invitations(runtime, w)
    assert (inv.trigger, inv.status, inv.send_at) == (DELIVERED, "scheduled", T0 + 2 * DAY)
    assert inv.expires_at == T0 + 16 * DAY and inv.sent_at is None
    assert inv.subscriber_id == w.subscriber_id and inv.contract_pk == w.contract_pk


async def test_fallback_on_fulfilment_gives_way_to_a_later_delivery(runtime: Runtime) -> None:
    w = await world(runtime, settings={"nps_fallback_days": 8, "nps_delay_days": 1})
    await deliver(runtime, w, w.order_id, T0, fulfilled=True)
    [inv] = await invitations(runtime, w)
    assert (inv.trigger, inv.send_at) == (FULFILLED_FALLBACK, T0 + 8 * DAY)
    await deliver(runtime, w, w.order_id, T0 + 3 * DAY)
    [inv] = await invitations(runtime, w)
    assert (inv.trigger, inv.send_at) == (DELIVERED, T0 + 4 * DAY)
    # A fulfilment reported after the delivery changes nothing.
    await deliver(runtime, w, w.order_id, T0 + 5 * DAY, fulfilled=True)
    [inv] = await invitations(runtime, w)
    assert (inv.trigger, inv.send_at) == (DELIVERED, T0 + 4 * DAY)


async def test_fallback_fires_when_no_delivery_ever_comes(runtime: Runtime) -> None:
    w = await world(runtime)
    await deliver(runtime, w, w.order_id, T0, fulfilled=True)
    assert await release(runtime, T0 + 7 * DAY - timedelta(seconds=1)) == 0
    assert await release(runtime, T0 + 7 * DAY) == 1
    [inv] = await invitations(runtime, w)
    assert (inv.status, inv.sent_at, inv.expires_at) == ("pending", T0 + 7 * DAY, T0 + 21 * DAY)


async def test_at_most_one_invitation_per_subscriber_per_throttle_window(runtime: Runtime) -> None:
    w = await world(runtime)
    await deliver(runtime, w, w.order_id, T0)
    await release(runtime, T0 + 2 * DAY)
    await deliver(runtime, w, 5551, T0 + 30 * DAY)  # next month's box: throttled
    await deliver(runtime, w, 5552, T0 + 89 * DAY)  # sent 87 days after the last one: throttled
    await deliver(runtime, w, 5553, T0 + 95 * DAY)  # 93 days: invited again
    assert [(i.order_id, i.status) for i in await invitations(runtime, w)] == [
        (w.order_id, "pending"),
        (5551, "throttled"),
        (5552, "throttled"),
        (5553, "scheduled"),
    ]


async def test_which_invitations_the_throttle_keeps_does_not_depend_on_arrival_order(
    runtime: Runtime,
) -> None:
    """Deliveries on days 60, 0 and 100 processed in that order: day 0 goes out, day 60 is
    within its window, day 100 is not (as if they had come in time order)."""
    w = await world(runtime)
    await deliver(runtime, w, 5561, T0 + 60 * DAY)
    await deliver(runtime, w, w.order_id, T0)
    await deliver(runtime, w, 5562, T0 + 100 * DAY)
    assert sorted((i.order_id, i.status) for i in await invitations(runtime, w)) == sorted(
        [(w.order_id, "scheduled"), (5561, "throttled"), (5562, "scheduled")]
    )


async def test_no_invitation_is_sent_to_a_subscriber_without_a_live_contract(
    runtime: Runtime,
) -> None:
    """The invitation is kept as cancelled (it counts nowhere): had the cancellation arrived
    after the delivery, the same row would have been cancelled, so the state does not depend
    on which was processed first."""
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        contract = await tx.session.get(Contract, w.contract_pk)
        assert contract is not None
        contract.status = "cancelled"
    await deliver(runtime, w, w.order_id, T0)
    assert [i.status for i in await invitations(runtime, w)] == ["cancelled"]
    assert await release(runtime, T0 + 3 * DAY) == 0


async def test_ending_the_last_contract_cancels_scheduled_invitations(runtime: Runtime) -> None:
    w = await world(runtime)
    await deliver(runtime, w, w.order_id, T0)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        contract = await tx.session.get(Contract, w.contract_pk)
        assert shop is not None and contract is not None
        contract.status = "cancelled"
        await hooks.on_contract_ended(tx.session, shop, contract, "cancelled", T0 + DAY)
    assert await release(runtime, T0 + 3 * DAY) == 0
    assert [i.status for i in await invitations(runtime, w)] == ["cancelled"]


async def test_a_subscriber_with_another_live_contract_keeps_the_invitation(
    runtime: Runtime,
) -> None:
    w = await world(runtime)
    await deliver(runtime, w, w.order_id, T0)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        contract = await tx.session.get(Contract, w.contract_pk)
        assert shop is not None and contract is not None
        subscriber = await tx.session.get(Subscriber, w.subscriber_id)
        assert subscriber is not None
        await add_contract(tx.session, shop, subscriber)
        contract.status = "cancelled"
        await hooks.on_contract_ended(tx.session, shop, contract, "cancelled", T0 + DAY)
    assert await release(runtime, T0 + 3 * DAY) == 1


async def test_release_rechecks_the_subscriber_and_the_throttle(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        # Two orders' invitations scheduled close together (e.g. two workers at once).
        for order_id, send_at in ((7001, T0), (7002, T0 + DAY)):
            await add_invitation(
                tx.session,
                w.shop_id,
                w.subscriber_id,
                order_id=order_id,
                status="scheduled",
                send_at=send_at,
                expires_at=send_at + 14 * DAY,
            )
        # A subscriber who cancelled after scheduling.
        gone = await add_subscriber(tx.session, shop)
        await add_contract(tx.session, shop, gone, status="cancelled")
        await add_invitation(
            tx.session,
            w.shop_id,
            gone.id,
            order_id=7003,
            status="scheduled",
            send_at=T0,
            expires_at=T0 + 14 * DAY,
        )
        # One whose due time passed so long ago that its answer window closed: never sent.
        stale = await add_subscriber(tx.session, shop)
        await add_contract(tx.session, shop, stale)
        await add_invitation(
            tx.session,
            w.shop_id,
            stale.id,
            order_id=7004,
            status="scheduled",
            send_at=T0 - 20 * DAY,
            expires_at=T0 - 6 * DAY,
        )
    assert await release(runtime, T0 + 2 * DAY) == 1
    assert await release(runtime, T0 + 2 * DAY) == 0
    statuses = {i.order_id: i.status for i in await invitations(runtime, w)}
    assert statuses == {7001: "pending", 7002: "cancelled", 7003: "cancelled", 7004: "cancelled"}


async def test_expiry_closes_pending_invitations_only(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, order_id=1, expires_at=T0 + DAY
        )
        await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, order_id=2, expires_at=T0 + 3 * DAY
        )
        await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            order_id=3,
            status=InvitationStatus.ANSWERED,
            expires_at=T0 + DAY,
        )
    async with transaction(runtime.sessionmaker, None) as tx:
        assert await expire_invitations(tx.session, now=T0 + DAY) == 1
    async with transaction(runtime.sessionmaker, None) as tx:
        assert await expire_invitations(tx.session, now=T0 + DAY) == 0
    statuses = {i.order_id: i.status for i in await invitations(runtime, w)}
    assert statuses == {1: "expired", 2: "pending", 3: "answered"}
