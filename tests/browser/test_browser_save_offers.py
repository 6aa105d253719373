"""The merchant's Save offers page in a real browser (the workspace shell, plain-HTML fallback):
the report's true save rate next to the acceptance rate, and an offer configured and saved.
Screenshot in test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from plugin.app import create_app
from plugin.db.transaction import transaction
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.saveoffers.offers import offer_settings
from tests.browser.test_browser_portal import ARTIFACTS, _serve, browser
from tests.support.self_service import add_flows
from tests.support.signing import SHOP

pytestmark = pytest.mark.browser
__all__ = ["browser"]


async def seed(runtime: Runtime) -> None:
    await add_flows(runtime, SHOP)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop_id = await tx.session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        assert shop_id is not None
        settings = await offer_settings(tx.session, shop_id)
        settings.offers = {"too_expensive": {"kind": "skip"}}


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
