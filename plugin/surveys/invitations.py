"""Post-delivery NPS invitations: scheduling, release, expiry.

Life of an invitation (one per order at most: unique (shop, order_id)):

    scheduled ──release (send_at reached)──> pending ──answer──> answered
        │                                       └──expires_at passed──> expired
        └──subscriber gone / throttled / too stale at release──> cancelled

- Trigger: the order's first delivered event + `nps_delay` (default 2 days); when no delivered
  event comes, its first fulfilment + `nps_fallback_delay` (default 7 days). A delivered event
  always wins over the fallback, whichever arrives first.
- Throttle: at most one invitation sent per subscriber per `nps_throttle` (default 90 days),
  checked when scheduling and again at release (against sent ones), so two orders delivered
  close together never yield two surveys. At scheduling, the subscriber's unsent invitations
  are chosen over all of them at once (the earliest, then each next one a window after the
  last kept one; `throttled` marks the others).
- None to cancelled subscribers: while the subscriber holds no active or paused contract
  (each contract's latest status by event time), their unsent invitations are cancelled; a
  comeback (a later active status) brings them back to the throttle's choice.
- Until an invitation is sent, all of the above is decided again from the events known
  (`settle_invitations`) whenever one of them arrives: the final state is a function of the
  events, not of the order in which deliveries were processed (issue 11).
- Released invitations are "invited" for the response rate (sent_at set); cancelled ones were
  never sent and count nowhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    SQLColumnExpression,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from plugin.domain.rows import insert_all_if_absent, write_changed
from plugin.models import (
    Contract,
    ContractStatus,
    InvitationStatus,
    NpsInvitation,
    Order,
    Shop,
)
from plugin.surveys.settings import SurveySettings, survey_settings

DELIVERED = "delivered"
FULFILLED_FALLBACK = "fulfilled_fallback"
LIVE_STATUSES = (ContractStatus.ACTIVE, ContractStatus.PAUSED)
# Invitations that use up the subscriber's throttle allowance (everything but cancelled).
_COUNTING = (
    InvitationStatus.SCHEDULED,
    InvitationStatus.PENDING,
    InvitationStatus.ANSWERED,
    InvitationStatus.EXPIRED,
)
RELEASE_BATCH = 500


_UNSENT = (InvitationStatus.SCHEDULED, InvitationStatus.THROTTLED)
# What `settle_invitations_of` writes.
_DECIDED_COLUMNS = ("status", "trigger", "send_at", "expires_at")
# What `settle_invitations` decides again (never sent yet, whatever it said before).
_DECIDED_BY_EVENTS = (*_UNSENT, InvitationStatus.CANCELLED)


def _holds_live_contract(
    shop_id: SQLColumnExpression[int], subscriber_id: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """Whether the subscriber holds an active or paused contract, as the contracts' status
    histories settle it (their latest status by event time, whatever the arrival order)."""
    return exists().where(
        Contract.shop_id == shop_id,
        Contract.subscriber_id == subscriber_id,
        Contract.status.in_(LIVE_STATUSES),
    )


def has_unsent_invitation(
    shop_id: SQLColumnExpression[int], subscriber_id: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """Whether the subscriber has an invitation `settle_invitations` decides again: without
    one, settling changes nothing (a caller that reads this with its other rows may skip it)."""
    return exists().where(
        NpsInvitation.shop_id == shop_id,
        NpsInvitation.subscriber_id == subscriber_id,
        NpsInvitation.status.in_(_DECIDED_BY_EVENTS),
        NpsInvitation.sent_at.is_(None),
    )


def _trigger_of(
    fulfilled_at: datetime | None, delivered_at: datetime | None, settings: SurveySettings
) -> tuple[str, datetime] | None:
    """(trigger, send time) from the order's first delivery, else its first fulfilment (both
    kept as the earliest by the domain, whatever the arrival order)."""
    if delivered_at is not None:
        return DELIVERED, delivered_at + settings.nps_delay
    if fulfilled_at is not None:
        return FULFILLED_FALLBACK, fulfilled_at + settings.nps_fallback_delay
    return None


def _of_its_order(column: InstrumentedAttribute[datetime | None]) -> ScalarSelect[datetime | None]:
    """The invitation's order's `column`. A correlated look-up by the order's key, not a join:
    a join planned on the statistics of a shop's first hours (tables grown fast since the last
    analyze) scanned all of the shop's orders once per invitation."""
    return (
        select(column)
        .where(Order.shop_id == NpsInvitation.shop_id, Order.order_id == NpsInvitation.order_id)
        .scalar_subquery()
    )


# The subscribers' invitations (locked, in one order for every caller) with their order's
# times and whether their subscriber is live, in one statement built once.
_TO_SETTLE = (
    select(
        NpsInvitation,
        _of_its_order(Order.fulfilled_at),
        _of_its_order(Order.delivered_at),
        _holds_live_contract(NpsInvitation.shop_id, NpsInvitation.subscriber_id),
    )
    .where(
        NpsInvitation.shop_id == bindparam("shop_id"),
        NpsInvitation.subscriber_id.in_(bindparam("subscriber_ids", expanding=True)),
        NpsInvitation.status.in_((*_COUNTING, *_DECIDED_BY_EVENTS)),
    )
    .order_by(NpsInvitation.id)
    .with_for_update(of=NpsInvitation)
    .execution_options(populate_existing=True)
)


async def settle_invitations(session: AsyncSession, shop: Shop, subscriber_id: int) -> None:
    """`settle_invitations_of` for one subscriber."""
    await settle_invitations_of(session, shop, (subscriber_id,))


async def settle_invitations_of(
    session: AsyncSession, shop: Shop, subscriber_ids: Collection[int]
) -> None:
    """Decide each of these subscribers' not-yet-sent invitations from the events known, so
    that the result is the same in whatever order the events arrived (one statement for any
    number of subscribers):

    - trigger and send time from its order (first delivery, else first fulfilment);
    - cancelled while the subscriber holds no live contract: their contracts' latest statuses
      by event time (so a cancellation that arrives late, or a comeback after it, counts by
      when it happened, never by when it was processed);
    - of the others, in order of send time, each one at least a throttle window away from every
      sent one and from the last one kept before it is scheduled, the rest throttled.
    """
    if not subscriber_ids:
        return
    settings = survey_settings(shop)
    await session.flush()  # what the caller changed, before the rows are read again
    rows = (
        await session.execute(
            _TO_SETTLE, {"shop_id": shop.id, "subscriber_ids": sorted(set(subscriber_ids))}
        )
    ).all()
    kept: dict[int, list[datetime]] = {}
    unsent: dict[int, list[NpsInvitation]] = {}
    for invitation, fulfilled_at, delivered_at, live in rows:
        subscriber = invitation.subscriber_id
        if invitation.sent_at is not None or invitation.status not in _DECIDED_BY_EVENTS:
            kept.setdefault(subscriber, []).append(invitation.sent_at or invitation.send_at)
            continue
        trigger = _trigger_of(fulfilled_at, delivered_at, settings)
        if trigger is None:  # no order known for it: only the throttle decides
            if invitation.status != InvitationStatus.CANCELLED:
                unsent.setdefault(subscriber, []).append(invitation)
            continue
        invitation.trigger, invitation.send_at = trigger
        invitation.expires_at = invitation.send_at + settings.nps_expiry
        if not live:
            invitation.status = InvitationStatus.CANCELLED
        else:
            unsent.setdefault(subscriber, []).append(invitation)
    for subscriber, waiting in unsent.items():
        chosen = kept.setdefault(subscriber, [])
        for invitation in sorted(waiting, key=lambda i: (i.send_at, i.order_id)):
            if any(abs(invitation.send_at - at) < settings.nps_throttle for at in chosen):
                invitation.status = InvitationStatus.THROTTLED
            else:
                invitation.status = InvitationStatus.SCHEDULED
                chosen.append(invitation.send_at)
    # What changed in one statement (the flush sends one per distinct set of changed columns).
    await write_changed(session, [row[0] for row in rows], _DECIDED_COLUMNS)


@dataclass(frozen=True)
class OrderProgress:
    """News about an order of a subscription: its first fulfilment or first delivery became
    known, or it became linked to its contract after either (`fulfilled`/`delivered` then both
    say whether the order has one)."""

    order: Order
    fulfilled: bool
    delivered: bool


async def schedule_invitations(
    session: AsyncSession, shop: Shop, progress: Sequence[OrderProgress]
) -> None:
    """The invitation of each order delivered (or, with no delivery known, fulfilled), created
    if new, then every unsent invitation of their subscribers decided again: one INSERT and the
    one statement of `settle_invitations_of` for any number of orders."""
    settings = survey_settings(shop)
    values: list[dict[str, object]] = []
    subscribers: set[int] = set()
    for item in progress:
        order = item.order
        if order.subscriber_id is None or order.contract_pk is None:
            continue
        if item.delivered and order.delivered_at is not None:
            trigger, send_at = DELIVERED, order.delivered_at + settings.nps_delay
        elif item.fulfilled and order.fulfilled_at is not None and order.delivered_at is None:
            trigger, send_at = FULFILLED_FALLBACK, order.fulfilled_at + settings.nps_fallback_delay
        else:
            continue
        values.append(
            {
                "shop_id": shop.id,
                "subscriber_id": order.subscriber_id,
                "contract_pk": order.contract_pk,
                "order_id": order.order_id,
                "trigger": trigger,
                "status": InvitationStatus.SCHEDULED,
                "send_at": send_at,
                "expires_at": send_at + settings.nps_expiry,
            }
        )
        subscribers.add(order.subscriber_id)
    if not values:
        return
    await insert_all_if_absent(session, NpsInvitation, values, ("shop_id", "order_id"))
    await settle_invitations_of(session, shop, subscribers)


async def _live_subscribers(
    session: AsyncSession, shop_ids: Iterable[int], subscriber_ids: Iterable[int]
) -> set[int]:
    rows = await session.scalars(
        select(Contract.subscriber_id)
        .where(
            Contract.shop_id.in_(set(shop_ids)),
            Contract.subscriber_id.in_(set(subscriber_ids)),
            Contract.status.in_(LIVE_STATUSES),
        )
        .distinct()
    )
    return set(rows)


async def _last_sent(
    session: AsyncSession, shop_ids: Iterable[int], subscriber_ids: Iterable[int]
) -> dict[int, datetime]:
    rows = await session.execute(
        select(NpsInvitation.subscriber_id, func.max(NpsInvitation.sent_at))
        .where(
            NpsInvitation.shop_id.in_(set(shop_ids)),
            NpsInvitation.subscriber_id.in_(set(subscriber_ids)),
            NpsInvitation.sent_at.is_not(None),
        )
        .group_by(NpsInvitation.subscriber_id)
    )
    return {sub: sent_at for sub, sent_at in rows.all() if sent_at is not None}


async def release_due(
    session: AsyncSession, *, now: datetime, shop_id: int | None = None
) -> list[NpsInvitation]:
    """Send every scheduled invitation whose time has come (all shops, or one); returns the
    released ones. Each is re-checked first: subscriber still live, not throttled by one sent
    in the meantime, and not so late that its answer window would already have closed."""
    released: list[NpsInvitation] = []
    settings_of: dict[int, SurveySettings] = {}
    while True:
        query = (
            select(NpsInvitation)
            .where(
                NpsInvitation.status == InvitationStatus.SCHEDULED,
                NpsInvitation.send_at <= now,
            )
            .order_by(NpsInvitation.send_at, NpsInvitation.id)
            .limit(RELEASE_BATCH)
            # Two workers releasing at once take disjoint rows instead of waiting on each other.
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if shop_id is not None:
            query = query.where(NpsInvitation.shop_id == shop_id)
        batch = list(await session.scalars(query))
        if not batch:
            return released
        shops = {i.shop_id for i in batch}
        for missing in shops - settings_of.keys():
            shop = await session.get(Shop, missing)
            assert shop is not None
            settings_of[missing] = survey_settings(shop)
        subscribers = [i.subscriber_id for i in batch]
        live = await _live_subscribers(session, shops, subscribers)
        last_sent = await _last_sent(session, shops, subscribers)
        for invitation in batch:
            settings = settings_of[invitation.shop_id]
            previous = last_sent.get(invitation.subscriber_id)
            if (
                invitation.subscriber_id not in live
                or now >= invitation.expires_at
                or (previous is not None and previous > now - settings.nps_throttle)
            ):
                invitation.status = InvitationStatus.CANCELLED
                continue
            invitation.status = InvitationStatus.PENDING
            invitation.sent_at = now
            invitation.expires_at = now + settings.nps_expiry
            last_sent[invitation.subscriber_id] = now
            released.append(invitation)
        await session.flush()


async def release_due_invitations(
    session: AsyncSession, *, now: datetime, shop_id: int | None = None
) -> int:
    """Release due invitations (see `release_due`); returns how many were sent."""
    return len(await release_due(session, now=now, shop_id=shop_id))


async def expire_invitations(session: AsyncSession, *, now: datetime) -> int:
    """Close every pending invitation whose answer window has passed; returns how many."""
    result = await session.execute(
        update(NpsInvitation)
        .where(
            NpsInvitation.status == InvitationStatus.PENDING,
            NpsInvitation.expires_at <= now,
        )
        .values(status=InvitationStatus.EXPIRED)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_invitations(
    session: AsyncSession, shop_id: int, subscriber_id: int, now: datetime
) -> list[NpsInvitation]:
    """The subscriber's open invitations, oldest first (the one an answer goes to)."""
    rows = await session.scalars(
        select(NpsInvitation)
        .where(
            NpsInvitation.shop_id == shop_id,
            NpsInvitation.subscriber_id == subscriber_id,
            NpsInvitation.status == InvitationStatus.PENDING,
            NpsInvitation.expires_at > now,
        )
        .order_by(NpsInvitation.sent_at, NpsInvitation.id)
    )
    return list(rows)
