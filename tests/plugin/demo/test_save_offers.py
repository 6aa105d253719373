"""The demo shop ships with save-offer history laid over its replayed history: flows in the arm
the shop's holdout hash gives, offers only where configured, and a report with figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from plugin.app import build_app_runtime
from plugin.demo.replay import build_demo
from plugin.demo.save_offers import DEMO_OFFERS
from plugin.demo.simulation import DemoConfig
from plugin.models import Contract, Subscriber
from plugin.models.self_service import CancelFlow, CancelFlowStep
from plugin.runtime import Runtime
from plugin.saveoffers.offers import in_holdout, offer_settings
from plugin.saveoffers.report import shop_report
from tests.conftest import empty_tables, make_settings

END = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def lite(sqlite_url: str) -> AsyncIterator[Runtime]:
    """SQLite only: the build is slow, and the flows' SQL is covered on both databases by the
    report and portal tests."""
    runtime = await build_app_runtime(make_settings(sqlite_url))
    try:
        yield runtime
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def test_the_demo_has_save_offer_flows_consistent_with_its_history(lite: Runtime) -> None:
    summary = await build_demo(lite, DemoConfig(subscribers=200, months=10, seed=4, end=END))
    async with lite.sessionmaker() as session:
        settings = await offer_settings(session, summary.shop_id)
        assert settings.offers == DEMO_OFFERS
        rows = (
            await session.execute(
                select(CancelFlow, Contract, Subscriber.customer_id)
                .join(Contract, Contract.id == CancelFlow.contract_pk)
                .join(Subscriber, Subscriber.id == CancelFlow.subscriber_id)
                .where(CancelFlow.shop_id == summary.shop_id)
            )
        ).all()
        assert rows
        for flow, contract, customer_id in rows:
            assert flow.holdout == in_holdout(settings, customer_id)
            assert flow.offer == DEMO_OFFERS.get(flow.reason_code)
            assert flow.offer_shown == (flow.offer is not None and not flow.holdout)
            if flow.outcome == "accepted":
                assert flow.offer_shown
            if flow.outcome == "cancelled":
                assert contract.ended_at is not None
            else:  # stayed through the flow: live a day later
                assert contract.ended_at is None or contract.ended_at > flow.started_at
        steps = await session.scalar(
            select(CancelFlowStep.id).where(CancelFlowStep.shop_id == summary.shop_id).limit(1)
        )
        assert steps is not None
        report = await shop_report(session, summary.shop_id, END)
    assert any(r["accepted"] > 0 for r in report["rows"])
    assert any(h["save_rate"] is not None for r in report["rows"] for h in r["horizons"])
