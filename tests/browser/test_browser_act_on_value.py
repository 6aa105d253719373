"""The Initiatives and Monthly review pages in a real browser (Debian's Chromium through
Playwright) on the local demo page: add a targeted initiative and start it, read its holdout
effect; mark the month's review reviewed and see the history. Screenshots at 1280×800 and
390×844 go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugin.app import create_app
from plugin.db.transaction import transaction
from plugin.initiatives.service import create_initiative
from plugin.review.digest import store_digest
from plugin.runtime import Runtime
from tests.browser.test_browser_portal import ARTIFACTS, _serve, browser
from tests.plugin.initiatives.test_holdout import TARGETED, seed_shop
from tests.plugin.review.test_digest import NOW, scored_shop

__all__ = ["browser"]
pytestmark = pytest.mark.browser

SHOP = "act-on-value.myshopify.com"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
async def demo_url(lite_runtime: Runtime) -> AsyncIterator[str]:
    shop_id = await scored_shop(lite_runtime, SHOP)
    await seed_shop(lite_runtime, SHOP, 40, 10, existing=True)
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        await store_digest(tx.session, shop_id, "2026-03", NOW)
        await create_initiative(
            tx.session,
            shop_id,
            {
                "title": "Skip button in the portal",
                "hypothesis": "Subscribers who can skip stay instead of cancelling.",
                "driver": "cadence",
                "target_metric": "churn.monthly_rate",
                "expected_direction": "down",
                "expected_change": 0.01,
                "owner": "Sam",
            },
            NOW.date(),
        )
    server, task, url = await _serve(create_app(runtime=lite_runtime, demo_shop=SHOP))
    try:
        yield f"{url}/demo"
    finally:
        server.should_exit = True
        await task


async def shoot(page: Any, name: str) -> None:
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)


async def test_a_targeted_initiative_is_added_started_and_measured(
    browser: Any, demo_url: str
) -> None:
    page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{demo_url}/initiatives")
    banner = page.locator('[data-customer-data="missing"]')
    await banner.wait_for()
    assert "write_customers" in await banner.inner_text()
    card = page.locator("[data-initiative]").first
    assert await card.get_attribute("heading") == "Skip button in the portal"
    assert "season" in await page.locator('[data-caveat="season"]').inner_text()

    await page.locator("summary", has_text="Add an initiative").click()
    form = page.locator('[data-form="initiative"]')
    await form.get_by_label("Title", exact=True).fill(TARGETED["title"])
    await form.get_by_label("Owner", exact=True).fill("Dana")
    await form.get_by_label("Hypothesis", exact=True).fill(TARGETED["hypothesis"])
    await form.get_by_label("Segment", exact=True).select_option("at_risk_high_value")
    await form.get_by_label("Holdout share").fill("0.2")
    await form.get_by_label("Target metric", exact=True).select_option("members.retention_30d")
    await form.get_by_role("button", name="Add initiative").click()
    added = page.locator(f'[data-initiative][heading="{TARGETED["title"]}"]')
    await added.wait_for()
    assert "Members are fixed and split when it starts" in await added.inner_text()

    await added.get_by_role("button", name="Mark running").click()
    await page.locator("[data-initiative]", has_text="40 members fixed").wait_for()
    started = page.locator(f'[data-initiative][heading="{TARGETED["title"]}"]')
    text = await started.inner_text()
    assert "80% treatment, 20% holdout" in text and "Measuring" in text
    assert "against holdout" in await started.locator('[data-effect="holdout"]').inner_text()
    await shoot(page, "initiatives")
    assert errors == []


async def test_the_monthly_review_is_marked_reviewed(browser: Any, demo_url: str) -> None:
    page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{demo_url}/review")
    waiting = page.locator('[data-badge="2026-03"]')
    await waiting.wait_for()
    await page.locator('s-section[heading="Review of 2026-03"]').wait_for()
    await shoot(page, "review-waiting")
    await waiting.get_by_label("Reviewed by").fill("Dana")
    await waiting.get_by_role("button", name="Mark reviewed").click()
    await page.locator('[data-badge="none"]').wait_for()
    history = page.locator('s-section[heading="Review history"]')
    assert "Dana" in await history.inner_text()

    email = page.locator('[data-form="review-email"]')
    await email.get_by_label("Value owner's email").fill("dana@shop")
    await email.get_by_role("button", name="Save").click()
    await email.get_by_text("must be an email address").wait_for()
    await shoot(page, "review-done")
    assert errors == []
