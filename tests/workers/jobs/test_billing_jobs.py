"""The daily billing job: queued for each shop at its own billing hour, it bills that day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugin.db.transaction import transaction
from plugin.models import Shop
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from tests.plugin.billing import conftest as billing_fixtures
from tests.plugin.billing.billing_helpers import D, keys, subscribe
from tests.support.fake_shopify import FakeShopify
from workers.jobs import billing as billing_jobs

rt = billing_fixtures.rt
shopify = billing_fixtures.shopify
shop = billing_fixtures.shop


def at(hour: int) -> datetime:
    return datetime(D.year, D.month, D.day, hour, 10, tzinfo=UTC)


async def test_each_shop_is_billed_at_its_billing_hour_once(
    rt: Runtime, shop: Shop, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with transaction(rt.sessionmaker, None) as tx:
        row = await tx.session.get(Shop, shop.id)
        assert row is not None
        row.settings = {"billing": {"billing_hour": 7}}
    cid = await subscribe(rt, shopify)
    assert isinstance(rt.queue, InProcessQueue)

    monkeypatch.setattr(billing_jobs, "utcnow", lambda: at(6))
    assert await billing_jobs.schedule_billing({"runtime": rt}) == 0
    monkeypatch.setattr(billing_jobs, "utcnow", lambda: at(7))
    assert await billing_jobs.schedule_billing({"runtime": rt}) == 1
    assert await billing_jobs.schedule_billing({"runtime": rt}) == 0  # already queued today
    await rt.queue.drain()

    assert keys(shopify) == [f"valuehealth-{cid}-1-0"]
    await billing_jobs.bill_shop_job({"runtime": rt}, shop.id, D.isoformat())  # a duplicate job
    assert len(shopify.attempts) == 1
