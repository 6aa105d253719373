"""The demo history replayed through the real pipeline ends in exactly the simulated state,
on SQLite and PostgreSQL, its subscriptions ours (our selling plans, renewed by our billing
job against the fake Admin API), and rebuilding it touches no other shop."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import func, select

from plugin.billing.charges import idempotency_key
from plugin.db.transaction import transaction
from plugin.demo.admin_api import wired
from plugin.demo.plans import PLANS_BY_KEY
from plugin.demo.replay import build_demo
from plugin.demo.simulation import DemoConfig, simulate
from plugin.inbox import ensure_shop
from plugin.models import (
    BillingAttempt,
    BillingCharge,
    Cancellation,
    Contract,
    DunningCase,
    NpsResponse,
    Order,
    Plan,
    PlanVersion,
    ReasonSource,
    Shop,
    Subscriber,
)
from plugin.models.billing import DunningStatus
from plugin.runtime import Runtime
from plugin.shopify.fake import FakeShopify

END = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = DemoConfig(subscribers=40, months=3, seed=5, end=END)  # every status but expired
# Enough renewals for failed payments, dunning retries and a contract lost to dunning.
BILLING = DemoConfig(subscribers=80, months=5, seed=3, end=END)


async def test_the_pipeline_reproduces_the_simulated_shop(runtime: Runtime) -> None:
    history = simulate(CONFIG)
    summary = await build_demo(runtime, CONFIG)

    assert summary.failed_events == 0
    # The simulation's events and the Admin API's: each attempt's outcome (a challenged one
    # also sends its challenge first) and each contract the billing job cancelled.
    assert summary.events == history.deliveries()
    assert summary.unplanned_attempts == summary.planned_not_made == 0
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
        assert {"active", "paused", "cancelled"} <= set(stored.values())
        # Details as the worker fetched them from the Admin API: bought through our plans, and
        # so named after the plan (Shopify's line names only the selling plan's frequency).
        details = (
            await session.execute(
                select(Contract.contract_id, Contract.recurring_amount, Contract.plan_name).where(
                    Contract.shop_id == shop_id
                )
            )
        ).all()
        expected = {
            c.contract_id: (PLANS_BY_KEY[c.plan].price(c.currency), PLANS_BY_KEY[c.plan].name)
            for c in history.contracts
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


async def test_the_demo_subscriptions_are_ours_and_renewed_by_our_billing_job(
    runtime: Runtime,
) -> None:
    history = simulate(BILLING)
    shopify = FakeShopify()
    async with wired(runtime, shopify) as runtime_wired:
        summary = await build_demo(runtime_wired, BILLING, shopify=shopify, daily_snapshots=1)
    assert summary.failed_events == 0
    assert summary.unplanned_attempts == summary.planned_not_made == 0
    shop = BILLING.shop_domain

    # Our plans are selling plan groups in Shopify, and every contract is on one of them.
    groups = shopify.groups[shop]
    selling_plans = {gid.rsplit("/", 1)[1] for g in groups.values() for gid in g.plans}
    contracts = shopify.contracts[shop].values()
    assert len(contracts) == len(history.contracts)
    assert {str(c.lines[0].selling_plan_id) for c in contracts} <= selling_plans
    async with runtime.sessionmaker() as session:
        plans = (await session.scalars(select(Plan).where(Plan.shop_id == summary.shop_id))).all()
        assert {p.group_gid for p in plans} == set(groups)
        versions = (await session.scalars(select(PlanVersion))).all()
        assert {gid.rsplit("/", 1)[1] for v in versions for gid in v.selling_plans.values()} == (
            selling_plans
        )

        # Every attempt Shopify made was asked for by our billing job, with its key.
        charges = (
            await session.scalars(
                select(BillingCharge).where(BillingCharge.shop_id == summary.shop_id)
            )
        ).all()
        keys = {c.idempotency_key for c in charges}
        assert {a.idempotency_key for a in shopify.attempts} == keys
        assert len(shopify.attempts) == len(history.attempts) == len(charges)
        contract_ids = {c.id: c.contract_id for c in (await session.scalars(select(Contract)))}
        assert keys == {
            idempotency_key(contract_ids[c.contract_pk], c.cycle_index, c.try_number)
            for c in charges
        }
        # Renewal orders came from those attempts' success webhooks.
        renewals = (
            await session.scalars(
                select(BillingAttempt).where(BillingAttempt.order_id.is_not(None))
            )
        ).all()
        assert len(renewals) == sum(c.orders - 1 for c in history.contracts)
        assert {a.order_id for a in renewals} == {
            a.order_id for a in history.attempts if a.order_id
        }

        # A failed charge led to a dunning retry (the same cycle, try 1) the next run made...
        retried = [c for c in charges if c.try_number >= 1]
        assert retried and summary.retries == len(retried)
        first_tries = {(c.contract_pk, c.cycle_index): c for c in charges if c.try_number == 0}
        for retry in retried:
            failed = first_tries[(retry.contract_pk, retry.cycle_index)]
            assert failed.status == "failure"
            assert retry.billed_on > failed.billed_on
        cases = (await session.scalars(select(DunningCase))).all()
        assert {DunningStatus.RECOVERED, DunningStatus.EXHAUSTED} <= {c.status for c in cases}
        # ...and a contract whose last retry failed was cancelled by the billing job, which
        # the app counts as a payment failure (involuntary churn).
        lost = [c.contract_id for c in history.contracts if c.end_source == "payment"]
        assert lost and summary.dunning_cancellations == len(lost)
        reasons = dict(
            (
                await session.execute(
                    select(Contract.contract_id, Cancellation.reason_code)
                    .join(Contract, Contract.id == Cancellation.contract_pk)
                    .where(Contract.contract_id.in_(lost))
                )
            ).all()
        )
        assert reasons == dict.fromkeys(lost, "payment_failed")
