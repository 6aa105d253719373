"""The merchant's Save offers page in a real browser (the workspace shell, plain-HTML fallback):
the report's true save rate next to the acceptance rate, and an offer configured and saved.
Screenshot in test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.app import create_app
from plugin.db.transaction import transaction
from plugin.models import Contract, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.models.self_service import CancelFlow
from plugin.runtime import Runtime
from plugin.saveoffers.offers import offer_settings
from tests.browser.test_browser_portal import ARTIFACTS, _serve, browser
from tests.support.signing import SHOP

pytestmark = pytest.mark.browser
__all__ = ["browser"]

# (holdout, outcome, ended after days): offered 4, 3 accepted, one acceptor gone by day 10;
# holdout 2, one gone by day 20. At 30 days: kept 3/4 offered vs 1/2 held out.
PLAN = [
    (False, "accepted", 10),
    (False, "accepted", None),
    (False, "accepted", None),
    (False, "cancelled", None),
    (True, "cancelled", 20),
    (True, "cancelled", None),
]


async def seed(runtime: Runtime) -> None:
    now = utcnow()
    started = now - timedelta(days=100)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = Shop(domain=SHOP)
        tx.session.add(shop)
        await tx.session.flush()
        settings = await offer_settings(tx.session, shop.id)
        settings.offers = {"too_expensive": {"kind": "skip"}}
        for n, (holdout, outcome, ended_day) in enumerate(PLAN):
            sub = Subscriber(shop_id=shop.id, customer_id=3000 + n, first_seen_at=started)
            tx.session.add(sub)
            await tx.session.flush()
            ended = started + timedelta(days=ended_day) if ended_day else None
            contract = Contract(
                shop_id=shop.id,
                contract_id=4000 + n,
                subscriber_id=sub.id,
                status="cancelled" if ended else "active",
                status_at=ended or started,
                started_at=started - timedelta(days=200),
                ended_at=ended,
            )
            tx.session.add(contract)
            await tx.session.flush()
            tx.session.add(
                CancelFlow(
                    shop_id=shop.id,
                    contract_pk=contract.id,
                    subscriber_id=sub.id,
                    reason_code="too_expensive",
                    channel="proxy",
                    holdout=holdout,
                    offer={"kind": "skip"},
                    offer_shown=not holdout,
                    outcome=outcome,
                    started_at=started,
                )
            )


@pytest.fixture
async def app_url(lite_runtime: Runtime) -> AsyncIterator[str]:
    server, task, url = await _serve(create_app(runtime=lite_runtime, demo_shop=SHOP))
    try:
        yield url
    finally:
        server.should_exit = True
        await task


async def test_the_merchant_reads_the_true_save_rate_and_configures_an_offer(
    browser: Any, app_url: str, lite_runtime: Runtime
) -> None:
    await seed(lite_runtime)
    page = await browser.new_page(locale="en-GB", viewport={"width": 1400, "height": 1000})
    await page.goto(f"{app_url}/demo/save-offers")
    report = page.locator("#vh-save-report")
    await report.wait_for()
    text = await report.inner_text()
    assert "3 (75.0%)" in text  # accepted, and the acceptance rate
    assert "+25.0 pts" in text  # true save rate at 30 days: 3/4 − 1/2
    assert "kept 75.0% of 4 offered, 50.0% of 2 held out" in text

    await page.get_by_label("Offer for “I need to cut my budget”").select_option("discount")
    await page.get_by_label("Percent off").fill("25")
    await page.get_by_label("Orders").fill("2")
    await page.screenshot(path=ARTIFACTS / "admin-save-offers.png", full_page=True)
    await page.get_by_role("button", name="Save offers").click()
    await page.get_by_text("25% off your next 2 orders if you stay").wait_for()
    await page.screenshot(path=ARTIFACTS / "admin-save-offers-saved.png", full_page=True)
    async with lite_runtime.sessionmaker() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        assert shop_id is not None
        settings = await offer_settings(session, shop_id)
        assert settings.offers == {
            "too_expensive": {"kind": "skip"},
            "budget": {"kind": "discount", "percentage": 25, "orders": 2},
        }
