"""The demo history replayed through the real pipeline ends in exactly the simulated state,
on SQLite and PostgreSQL, and rebuilding it touches no other shop."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import func, select

from plugin.db.transaction import transaction
from plugin.demo.replay import build_demo
from plugin.demo.simulation import DemoConfig, simulate
from plugin.inbox import ensure_shop
from plugin.models import (
    BillingAttempt,
    Cancellation,
    Contract,
    NpsResponse,
    Order,
    ReasonSource,
    Shop,
    Subscriber,
)
from plugin.runtime import Runtime

END = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = DemoConfig(subscribers=40, months=3, seed=5, end=END)  # every status but expired


async def test_the_pipeline_reproduces_the_simulated_shop(runtime: Runtime) -> None:
    history = simulate(CONFIG)
    summary = await build_demo(runtime, CONFIG)

    assert summary.failed_events == 0
    assert summary.events == len(history.events)
    async with runtime.sessionmaker() as session:
        shop_id = summary.shop_id
        stored = dict(
            (
                await session.execute(
                    select(Contract.contract_id, Contract.status).where(Contract.shop_id == shop_id)
                )
            ).all()
        )
        # Every contract ends in the status the simulation gave it.
        assert stored == {c.contract_id: c.status for c in history.contracts}
        assert {"active", "paused", "cancelled", "failed"} <= set(stored.values())
        details = (
            await session.execute(
                select(Contract.contract_id, Contract.recurring_amount, Contract.plan_name).where(
                    Contract.shop_id == shop_id
                )
            )
        ).all()
        expected = {
            int(d.contract_gid.rsplit("/", 1)[1]): (d.recurring_amount, d.plan_name)
            for d in history.contract_details
        }
        assert {row[0]: (row[1], row[2]) for row in details} == expected

        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.shop_id == shop_id)
        )
        assert orders == Counter(e.topic for e in history.events)["orders/create"]
        renewals = await session.scalar(
            select(func.count())
            .select_from(BillingAttempt)
            .where(BillingAttempt.shop_id == shop_id, BillingAttempt.order_id.is_not(None))
        )
        assert renewals == sum(c.orders - 1 for c in history.contracts)

        reasons = (
            await session.execute(
                select(Contract.contract_id, Cancellation.reason_code)
                .join(Contract, Contract.id == Cancellation.contract_pk)
                .where(
                    Cancellation.shop_id == shop_id,
                    Cancellation.reason_source == ReasonSource.CUSTOMER,
                )
            )
        ).all()
        assert dict(reasons) == {a.contract_id: a.answer.reason for a in history.cancel_answers}
        assert reasons and summary.billing_failures > 0
        nps = await session.scalar(
            select(func.count()).select_from(NpsResponse).where(NpsResponse.shop_id == shop_id)
        )
        assert 0 < nps == summary.nps_responses <= summary.nps_invitations


async def test_rebuilding_replaces_the_demo_shop_only(runtime: Runtime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        other_id = await ensure_shop(tx.session, "other-store.myshopify.com")
    small = DemoConfig(subscribers=10, months=2, seed=2, end=END)
    first = await build_demo(runtime, small)
    second = await build_demo(runtime, small)

    # Same seed, same shop: every count is the same, nothing was added to the first build.
    timings = {"shop_id": 0, "seconds": 0, "replay_seconds": 0, "snapshot_seconds": 0}
    assert replace(second, **timings) == replace(first, **timings)
    async with runtime.sessionmaker() as session:
        shops = set((await session.execute(select(Shop.id, Shop.domain))).all())
        assert shops == {
            (other_id, "other-store.myshopify.com"),
            (second.shop_id, small.shop_domain),
        }
        subscribers = await session.scalar(
            select(func.count()).select_from(Subscriber).where(Subscriber.shop_id == second.shop_id)
        )
        assert subscribers == first.subscribers  # replaced, not added to
