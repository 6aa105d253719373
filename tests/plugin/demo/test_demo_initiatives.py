"""The demo shop's two initiatives: members fixed as of each start with the app's seeded split,
save calls replayed through the webhook pipeline for the treatment group only, effects
measured by the app."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from plugin.demo.initiatives import save_call_webhook_id, seed_demo_initiatives
from plugin.demo.replay import build_demo
from plugin.demo.simulation import DemoConfig
from plugin.initiatives.holdout import get_audience, holdout_effect, member_arms
from plugin.initiatives.uplift import split_members
from plugin.models import Contract, Initiative, WebhookInbox
from plugin.runtime import Runtime

END = datetime(2026, 6, 1, tzinfo=UTC)
CONFIG = DemoConfig(subscribers=250, months=8, seed=3, end=END)


async def test_the_demo_ships_a_saved_and_a_flat_initiative(runtime: Runtime) -> None:
    await build_demo(runtime, CONFIG, daily_snapshots=2)
    added = await seed_demo_initiatives(runtime, CONFIG.shop_domain, END.date())
    async with runtime.sessionmaker() as session:
        worked = await session.get_one(Initiative, added["worked"])
        flat = await session.get_one(Initiative, added["did_not_work"])
        assert (worked.status, flat.status) == ("running", "running")
        for initiative in (worked, flat):
            audience = await get_audience(session, initiative.shop_id, initiative.id)
            assert audience is not None and audience.seed is not None
            arms = await member_arms(session, initiative.shop_id, initiative.id)
            treatment, holdout = split_members(sorted(arms), audience.holdout_share, audience.seed)
            assert sorted(s for s, a in arms.items() if a == "holdout") == holdout
            assert len(treatment) + len(holdout) == audience.members > 20
            effect = await holdout_effect(session, initiative, audience, END.date())
            assert effect.uplift is not None and effect.uplift.treatment.n == len(treatment)
            assert effect.judgement.verdict != "measuring"  # 60 days have passed

        # Every save call reactivated a treatment member's contract, through the inbox.
        ids = {save_call_webhook_id(pk) for pk in await session.scalars(select(Contract.id))}
        calls = list(
            await session.scalars(select(WebhookInbox).where(WebhookInbox.webhook_id.in_(ids)))
        )
        arms = await member_arms(session, worked.shop_id, worked.id)
    assert len(calls) == added["saved_by_calls"]
    assert all(c.status == "handled" for c in calls)
    async with runtime.sessionmaker() as session:
        for call in calls:
            contract = await session.scalar(
                select(Contract).where(Contract.contract_id == call.payload["id"])
            )
            assert contract is not None and contract.status == "active"
            assert arms[contract.subscriber_id] == "treatment"
