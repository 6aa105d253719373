"""Post-delivery NPS invitations: scheduling, release, expiry.

Life of an invitation (one per order at most: unique (shop, order_id)):

    scheduled ──release (send_at reached)──> pending ──answer──> answered
        │                                       └──expires_at passed──> expired
        └──subscriber gone / throttled / too stale at release──> cancelled

- Trigger: the order's delivered event + `nps_delay` (default 2 days); when no delivered event
  comes, its fulfilment + `nps_fallback_delay` (default 7 days). A delivered event arriving
  while the fallback is still scheduled moves it to the delivered timing.
- Throttle: at most one invitation sent per subscriber per `nps_throttle` (default 90 days),
  checked when scheduling and again at release (against sent ones), so two orders delivered
  close together never yield two surveys. At scheduling, the subscriber's unsent invitations
  are chosen over all of them at once (the earliest, then each next one a window after the
  last kept one; `throttled` marks the others), so which ones go out does not depend on the
  order in which deliveries were processed.
- None to cancelled subscribers: a subscriber without an active or paused contract is not
  invited, and their scheduled invitations are cancelled when their last contract ends.
- Released invitations are "invited" for the response rate (sent_at set); cancelled ones were
  never sent and count nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent, locked
from plugin.models import Contract, ContractStatus, InvitationStatus, NpsInvitation, Order, Shop
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


async def has_live_contract(session: AsyncSession, shop_id: int, subscriber_id: int) -> bool:
    found = await session.scalar(
        select(Contract.id)
        .where(
            Contract.shop_id == shop_id,
            Contract.subscriber_id == subscriber_id,
            Contract.status.in_(LIVE_STATUSES),
        )
        .limit(1)
    )
    return found is not None


_UNSENT = (InvitationStatus.SCHEDULED, InvitationStatus.THROTTLED)


async def _choose_unsent(
    session: AsyncSession, shop_id: int, subscriber_id: int, settings: SurveySettings
) -> None:
    """Decide which of the subscriber's unsent invitations go out: in order of send time, each
    one that is at least a throttle window away from every sent one and from the last one kept
    before it. A function of the set of invitations, not of the order they were scheduled in."""
    await session.flush()  # what the caller changed, before the rows are read again
    candidates = list(
        await session.scalars(
            select(NpsInvitation)
            .where(
                NpsInvitation.shop_id == shop_id,
                NpsInvitation.subscriber_id == subscriber_id,
                NpsInvitation.status.in_((*_COUNTING, InvitationStatus.THROTTLED)),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    kept = [
        invitation.sent_at or invitation.send_at
        for invitation in candidates
        if invitation.status not in _UNSENT
    ]
    unsent = [invitation for invitation in candidates if invitation.status in _UNSENT]
    for invitation in sorted(unsent, key=lambda i: (i.send_at, i.order_id)):
        if any(abs(invitation.send_at - at) < settings.nps_throttle for at in kept):
            invitation.status = InvitationStatus.THROTTLED
        else:
            invitation.status = InvitationStatus.SCHEDULED
            kept.append(invitation.send_at)
    await session.flush()


async def _invitation_of(
    session: AsyncSession, shop_id: int, order_id: int
) -> NpsInvitation | None:
    return await locked(
        session,
        select(NpsInvitation).where(
            NpsInvitation.shop_id == shop_id, NpsInvitation.order_id == order_id
        ),
    )


async def _schedule(
    session: AsyncSession, shop: Shop, order: Order, trigger: str, send_at: datetime
) -> NpsInvitation | None:
    settings = survey_settings(shop)
    assert order.subscriber_id is not None
    if not await has_live_contract(session, shop.id, order.subscriber_id):
        return None
    await insert_if_absent(
        session,
        NpsInvitation,
        {
            "shop_id": shop.id,
            "subscriber_id": order.subscriber_id,
            "contract_pk": order.contract_pk,
            "order_id": order.order_id,
            "trigger": trigger,
            "status": InvitationStatus.SCHEDULED,
            "send_at": send_at,
            "expires_at": send_at + settings.nps_expiry,
        },
        ("shop_id", "order_id"),
    )
    await _choose_unsent(session, shop.id, order.subscriber_id, settings)
    return await _invitation_of(session, shop.id, order.order_id)


async def schedule_after_delivery(
    session: AsyncSession, shop: Shop, order: Order, delivered_at: datetime
) -> NpsInvitation | None:
    """Schedule (or move to delivered timing) the invitation for a delivered order."""
    if order.subscriber_id is None or order.contract_pk is None:
        return None
    settings = survey_settings(shop)
    send_at = delivered_at + settings.nps_delay
    existing = await _invitation_of(session, shop.id, order.order_id)
    if existing is not None:
        if existing.status in _UNSENT:
            # The fallback gives way to the real delivery; an earlier delivery of a split
            # shipment moves the date forward. The new date may change what is throttled.
            existing.trigger = DELIVERED
            existing.send_at = send_at
            existing.expires_at = send_at + settings.nps_expiry
            await _choose_unsent(session, shop.id, order.subscriber_id, settings)
        return existing
    return await _schedule(session, shop, order, DELIVERED, send_at)


async def schedule_fallback(
    session: AsyncSession, shop: Shop, order: Order, fulfilled_at: datetime
) -> NpsInvitation | None:
    """Schedule the fallback invitation for a fulfilled order not (yet) known as delivered."""
    if order.subscriber_id is None or order.contract_pk is None or order.delivered_at is not None:
        return None
    existing = await _invitation_of(session, shop.id, order.order_id)
    if existing is not None:
        return existing
    send_at = fulfilled_at + survey_settings(shop).nps_fallback_delay
    return await _schedule(session, shop, order, FULFILLED_FALLBACK, send_at)


async def cancel_scheduled(session: AsyncSession, shop_id: int, subscriber_id: int) -> int:
    """Cancel the subscriber's not-yet-sent invitations (they have no live contract left).
    Pending ones were sent already: they stay open, a leaving subscriber's answer counts."""
    result = await session.execute(
        update(NpsInvitation)
        .where(
            NpsInvitation.shop_id == shop_id,
            NpsInvitation.subscriber_id == subscriber_id,
            NpsInvitation.status.in_(_UNSENT),
        )
        .values(status=InvitationStatus.CANCELLED)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
