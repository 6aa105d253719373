"""A targeted initiative on both databases: its members are fixed and split at the start, the
audience cannot change afterwards, and its effect is treatment against holdout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.initiatives.holdout import get_audience, holdout_effect, member_arms
from plugin.initiatives.service import create_initiative, get_initiative, update_initiative
from plugin.initiatives.uplift import share_uplift, split_members
from plugin.initiatives.validation import InitiativeInvalid
from plugin.models import Contract, Shop, Subscriber, SubscriberScore
from plugin.runtime import Runtime

START = date(2026, 3, 2)
TARGETED: dict[str, Any] = {
    "title": "Win-back call for at-risk regulars",
    "hypothesis": "A personal call keeps at-risk, high-value subscribers for another month.",
    "driver": "service",
    "target_metric": "members.retention_30d",
    "expected_direction": "up",
    "expected_change": 0.05,
    "owner": "Dana",
    "audience": {"segment": "at_risk_high_value", "plan": "Coffee"},
    "holdout_share": 0.2,
}


async def seed_shop(
    runtime: Runtime, domain: str, at_risk: int, loyal: int, *, existing: bool = False
) -> tuple[int, list[int]]:
    """A shop (new, or the `existing` one of that domain) with `at_risk` at-risk subscribers
    on the Coffee plan and `loyal` others."""
    async with transaction(runtime.sessionmaker, None) as tx:
        if existing:
            shop = await tx.session.scalar(select(Shop).where(Shop.domain == domain))
            assert shop is not None
        else:
            shop = Shop(domain=domain)
            tx.session.add(shop)
            await tx.session.flush()
        subs = [Subscriber(shop_id=shop.id, customer_id=5000 + i) for i in range(at_risk + loyal)]
        tx.session.add_all(subs)
        await tx.session.flush()
        began = datetime(2025, 6, 1, tzinfo=UTC)
        for i, sub in enumerate(subs):
            tx.session.add(
                Contract(
                    shop_id=shop.id,
                    contract_id=90_000 + sub.id,
                    subscriber_id=sub.id,
                    status="active",
                    status_at=began,
                    started_at=began,
                    plan_name="Coffee",
                    recurring_amount=Decimal("30.00"),
                )
            )
            tx.session.add(
                SubscriberScore(
                    shop_id=shop.id,
                    subscriber_id=sub.id,
                    segment="at_risk_high_value" if i < at_risk else "loyal",
                    currency="USD",
                    mrr=Decimal("30.00"),
                )
            )
        return shop.id, [s.id for s in subs[:at_risk]]


async def create(runtime: Runtime, shop_id: int, **fields: Any) -> int:
    async with transaction(runtime.sessionmaker, None) as tx:
        return (await create_initiative(tx.session, shop_id, {**TARGETED, **fields}, START)).id


async def update(runtime: Runtime, shop_id: int, initiative_id: int, **fields: Any) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        await update_initiative(tx.session, shop_id, initiative_id, fields, START)


async def churn(runtime: Runtime, subscriber_ids: list[int], when: datetime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        rows = await tx.session.scalars(
            select(Contract).where(Contract.subscriber_id.in_(subscriber_ids))
        )
        for contract in rows:
            contract.status, contract.status_at, contract.ended_at = "cancelled", when, when


async def test_starting_fixes_the_members_and_splits_them_reproducibly(runtime: Runtime) -> None:
    shop_id, at_risk = await seed_shop(runtime, "holdout-a.myshopify.com", 60, 20)
    other_id, _ = await seed_shop(runtime, "holdout-b.myshopify.com", 30, 0)
    initiative_id = await create(runtime, shop_id)
    async with runtime.sessionmaker() as session:
        audience = await get_audience(session, shop_id, initiative_id)
        assert audience is not None and audience.drawn_at is None and audience.members == 0

    await update(runtime, shop_id, initiative_id, status="running")
    async with runtime.sessionmaker() as session:
        audience = await get_audience(session, shop_id, initiative_id)
        arms = await member_arms(session, shop_id, initiative_id)
    assert audience is not None and audience.seed is not None and audience.members == 60
    assert sorted(arms) == sorted(at_risk)  # only this shop's at-risk Coffee subscribers
    treatment, holdout = split_members(sorted(arms), 0.2, audience.seed)
    assert sorted(s for s, a in arms.items() if a == "holdout") == holdout
    assert sorted(s for s, a in arms.items() if a == "treatment") == treatment
    assert len(holdout) == 12
    async with runtime.sessionmaker() as session:
        assert await member_arms(session, other_id, initiative_id) == {}


async def test_the_audience_is_fixed_once_started(runtime: Runtime) -> None:
    shop_id, _ = await seed_shop(runtime, "holdout-c.myshopify.com", 20, 0)
    initiative_id = await create(runtime, shop_id)
    await update(runtime, shop_id, initiative_id, audience={"segment": "at_risk_high_value"})
    await update(runtime, shop_id, initiative_id, status="running")
    with pytest.raises(InitiativeInvalid) as refused:
        await update(runtime, shop_id, initiative_id, audience={"segment": "loyal"})
    assert refused.value.field == "audience" and "fixed" in refused.value.message
    with pytest.raises(InitiativeInvalid) as refused:
        await update(runtime, shop_id, initiative_id, holdout_share=0.3)
    assert refused.value.field == "holdout_share"


async def test_an_audience_nobody_matches_cannot_start_and_changes_nothing(
    runtime: Runtime,
) -> None:
    shop_id, _ = await seed_shop(runtime, "holdout-d.myshopify.com", 20, 0)
    initiative_id = await create(runtime, shop_id, audience={"segment": "champions"})
    with pytest.raises(InitiativeInvalid) as refused:
        await update(runtime, shop_id, initiative_id, status="running")
    assert refused.value.field == "audience" and "matches 0" in refused.value.message
    async with runtime.sessionmaker() as session:
        initiative = await get_initiative(session, shop_id, initiative_id)
        assert initiative.status == "idea" and initiative.starts_on is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target_metric": "billing_success_rate"}, "target_metric"),
        ({"audience": None}, "holdout_share"),
        ({"audience": {"segment": "nobody"}}, "audience.segment"),
        ({"audience": {"cadence": "monthly"}}, "audience.cadence"),
        ({"audience": {"cohort": "2026-13"}}, "audience.cohort"),
        ({"audience": {"colour": "red"}}, "audience.colour"),
        ({"audience": {}}, "audience"),
        ({"holdout_share": 0.9}, "holdout_share"),
        ({"holdout_share": True}, "holdout_share"),
    ],
)
async def test_bad_targeting_is_refused_naming_the_field(
    runtime: Runtime, fields: dict[str, Any], field: str
) -> None:
    shop_id, _ = await seed_shop(runtime, "holdout-e.myshopify.com", 5, 0)
    with pytest.raises(InitiativeInvalid) as refused:
        await create(runtime, shop_id, **fields)
    assert refused.value.field == field


async def test_a_member_metric_needs_an_audience(runtime: Runtime) -> None:
    shop_id, _ = await seed_shop(runtime, "holdout-g.myshopify.com", 5, 0)
    shop_wide = {k: v for k, v in TARGETED.items() if k not in ("audience", "holdout_share")}
    async with transaction(runtime.sessionmaker, None) as tx:
        with pytest.raises(InitiativeInvalid) as refused:
            await create_initiative(tx.session, shop_id, shop_wide, START)
    assert refused.value.field == "target_metric" and "audience" in refused.value.message


async def test_the_effect_is_treatment_against_holdout(runtime: Runtime) -> None:
    shop_id, _ = await seed_shop(runtime, "holdout-f.myshopify.com", 60, 0)
    initiative_id = await create(runtime, shop_id)
    await update(runtime, shop_id, initiative_id, status="running")
    async with runtime.sessionmaker() as session:
        arms = await member_arms(session, shop_id, initiative_id)
    treatment = sorted(s for s, a in arms.items() if a == "treatment")
    holdout = sorted(s for s, a in arms.items() if a == "holdout")
    day_10 = datetime(2026, 3, 12, 9, tzinfo=UTC)
    await churn(runtime, treatment[:5] + holdout[:6], day_10)  # 43/48 against 6/12 stay
    await churn(runtime, holdout[6:7], datetime(2026, 4, 20, tzinfo=UTC))  # after day 30

    async with runtime.sessionmaker() as session:
        initiative = await get_initiative(session, shop_id, initiative_id)
        audience = await get_audience(session, shop_id, initiative_id)
        assert audience is not None
        interim = await holdout_effect(session, initiative, audience, START + timedelta(days=12))
        final = await holdout_effect(session, initiative, audience, START + timedelta(days=31))
    expected = share_uplift(43, 48, 6, 12)
    assert interim.judgement.verdict == "measuring"
    assert final.uplift == expected
    assert final.period == (START, START + timedelta(days=30))
    assert final.judgement.verdict == "real_change" and final.judgement.as_expected is True
