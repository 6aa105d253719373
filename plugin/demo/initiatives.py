"""Two value initiatives for the demo shop, measured against a holdout like real ones.

- "Founder's save call" started 70 days ago on the monthly subscribers active then; for the
  treatment group the simulated action works: half of those who cancelled in the following
  60 days were called and came back (their contract is reactivated through the real webhook
  pipeline a few days after the cancel). Treatment beats holdout on 60-day retention.
- "Recipe card in every box" started 75 days ago on the same kind of audience and changed
  nothing: the groups differ only by chance, and its interval includes zero.
The demo's history is simulated before the initiatives exist, so their members are fixed here
as of each start date, with the app's own seeded split (`uplift.split_members`): the stored
seed reproduces the groups from the members active on that day. Nothing else is made up: the
effect shown on the Initiatives page is computed by the app from the stored history.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import or_, select

from plugin.db.transaction import transaction
from plugin.demo.payloads import contract as contract_payload
from plugin.demo.simulation import API_VERSION
from plugin.inbox import Delivery, record_delivery
from plugin.inbox.batches import process_batch
from plugin.initiatives.catalogue import RUNNING
from plugin.initiatives.uplift import split_members
from plugin.models import (
    Contract,
    Initiative,
    InitiativeAudience,
    InitiativeMember,
    Shop,
    Subscriber,
)
from plugin.models.initiative_members import HOLDOUT, TREATMENT
from plugin.runtime import Runtime

AUDIENCE = {"cadence": "month:1"}
SAVE_SHARE = 0.5  # of the treatment group's cancellations the call turns around
SEED = 2026


def save_call_webhook_id(contract_pk: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"valuehealth-demo/save-call/{contract_pk}"))


async def _members_on(runtime: Runtime, shop_id: int, day: date) -> dict[int, str]:
    """Subscribers with a monthly contract active on `day`: subscriber id → currency."""
    at = datetime.combine(day, time(0), UTC)
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(Contract.subscriber_id, Contract.currency).where(
                Contract.shop_id == shop_id,
                Contract.billing_interval == "month",
                Contract.billing_interval_count == 1,
                Contract.started_at <= at,
                or_(Contract.ended_at.is_(None), Contract.ended_at > at),
            )
        )
        return {sid: currency for sid, currency in rows}


async def _start(
    runtime: Runtime,
    shop_id: int,
    *,
    title: str,
    hypothesis: str,
    driver: str,
    metric: str,
    starts_on: date,
    share: float,
    seed: int,
) -> tuple[int, list[int]]:
    """A running initiative with its members as of `starts_on`; (its id, treatment ids)."""
    members = await _members_on(runtime, shop_id, starts_on)
    treatment, holdout = split_members(sorted(members), share, seed)
    async with transaction(runtime.sessionmaker, None) as tx:
        initiative = Initiative(
            shop_id=shop_id,
            title=title,
            hypothesis=hypothesis,
            driver=driver,
            target_metric=metric,
            expected_direction="up",
            expected_change=0.05,
            owner="Demo value owner",
            status=RUNNING,
            starts_on=starts_on,
            ends_on=None,
            window_days=60,
        )
        tx.session.add(initiative)
        await tx.session.flush()
        tx.session.add(
            InitiativeAudience(
                initiative_id=initiative.id,
                shop_id=shop_id,
                filter=dict(AUDIENCE),
                holdout_share=share,
                seed=seed,
                drawn_at=datetime.combine(starts_on, time(0), UTC),
                members=len(members),
            )
        )
        tx.session.add_all(
            InitiativeMember(
                initiative_id=initiative.id,
                subscriber_id=sid,
                shop_id=shop_id,
                arm=arm,
                currency=members[sid],
            )
            for arm, ids in ((TREATMENT, treatment), (HOLDOUT, holdout))
            for sid in ids
        )
        return initiative.id, treatment


async def _save_calls(
    runtime: Runtime, shop: Shop, treatment: list[int], start: date, days: int
) -> int:
    """Reactivate, through the webhook pipeline, half of the treatment group's contracts
    cancelled within `days` of the start, two days after each cancel."""
    first = datetime.combine(start, time(0), UTC)
    async with runtime.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Contract, Subscriber.customer_id)
                .join(Subscriber, Subscriber.id == Contract.subscriber_id)
                .where(
                    Contract.shop_id == shop.id,
                    Contract.subscriber_id.in_(treatment),
                    Contract.status == "cancelled",
                    Contract.ended_at >= first,
                    Contract.ended_at < first + timedelta(days=days),
                )
                .order_by(Contract.id)
            )
        ).all()
    rng = np.random.default_rng(SEED)
    saved = 0
    for contract, customer_id in rows:
        if rng.random() >= SAVE_SHARE or contract.ended_at is None:
            continue
        at = contract.ended_at + timedelta(days=2)
        payload = contract_payload(
            contract_id=contract.contract_id,
            customer_id=customer_id,
            status="active",
            currency=contract.currency,
            interval=contract.billing_interval,
            interval_count=contract.billing_interval_count,
            max_cycles=contract.max_cycles,
            origin_order_id=contract.origin_order_id or 0,
            revision_id=(contract.revision_id or 0) + 1,
        )
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            stored = await record_delivery(
                tx.session,
                Delivery(
                    shop_domain=shop.domain,
                    topic="subscription_contracts/activate",
                    webhook_id=save_call_webhook_id(contract.id),
                    event_id=None,
                    api_version=API_VERSION,
                    triggered_at=at,
                    payload=payload,
                ),
            )
        if stored is None:
            continue
        # Applied as the shop's inbox job would apply it: a batch of this one row.
        await process_batch(runtime, stored.shop_id, limit=1, ids=[stored.inbox_id])
        saved += 1
    return saved


async def seed_demo_initiatives(runtime: Runtime, domain: str, today: date) -> dict[str, int]:
    """Add the two initiatives to the demo shop built for `today`; what was added."""
    async with runtime.sessionmaker() as session:
        shop = await session.scalar(select(Shop).where(Shop.domain == domain))
    if shop is None:
        raise LookupError(domain)
    worked_on = today - timedelta(days=70)
    worked, treatment = await _start(
        runtime,
        shop.id,
        title="Founder's save call",
        hypothesis="A call from the founder to monthly subscribers who cancel wins half of "
        "them back, so more are still subscribed 60 days on.",
        driver="service",
        metric="members.retention_60d",
        starts_on=worked_on,
        share=0.3,
        seed=SEED,
    )
    saved = await _save_calls(runtime, shop, treatment, worked_on, 60)
    flat, _ = await _start(
        runtime,
        shop.id,
        title="Recipe card in every box",
        hypothesis="A recipe card with each delivery makes monthly subscribers stay longer.",
        driver="product_fit",
        metric="members.retention_60d",
        starts_on=today - timedelta(days=75),
        share=0.3,
        seed=SEED + 1,
    )
    return {"worked": worked, "did_not_work": flat, "saved_by_calls": saved}
