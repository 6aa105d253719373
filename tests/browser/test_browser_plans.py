"""A real browser on the merchant's Plans page (the local workspace, the fake Shopify behind
it): create a plan with two frequencies, see Shopify's refusal, then the plan listed; and the
Billing page with its dunning settings. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugin.app import build_app_runtime, create_app
from plugin.models import Plan
from plugin.runtime import Runtime
from tests.browser import test_browser_portal as portal
from tests.conftest import empty_tables, make_settings
from tests.plugin.domain.domain_helpers import give_token
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP

pytestmark = pytest.mark.browser

browser = portal.browser  # Chromium through Playwright (skipped without it, outside CI)


@pytest.fixture
async def workspace(sqlite_url: str) -> AsyncIterator[tuple[str, Runtime, FakeShopify]]:
    """The workspace of a connected shop under uvicorn; its Admin API is the fake Shopify."""
    shopify = FakeShopify()
    shopify.add_products(7, 8)
    runtime = await build_app_runtime(make_settings(sqlite_url), http=shopify.client())
    await give_token(runtime, shopify)
    server, task, url = await portal._serve(create_app(runtime=runtime, demo_shop=SHOP))
    try:
        yield url, runtime, shopify
    finally:
        server.should_exit = True
        await task
        await empty_tables(runtime)
        await runtime.close()


async def test_create_a_plan_with_two_frequencies(
    browser: Any, workspace: tuple[str, Runtime, FakeShopify]
) -> None:
    url, runtime, shopify = workspace
    page = await browser.new_page(locale="en-GB")
    await page.goto(f"{url}/demo/plans")
    form = page.locator("s-section").filter(has=page.get_by_label("Plan name"))
    await form.get_by_label("Plan name").fill("Coffee club")
    await form.get_by_role("button", name="Add a frequency").click()
    delivery = form.get_by_label("Deliver every")
    assert await delivery.count() == 2
    await delivery.nth(1).fill("2")
    await form.get_by_label("Bill every").nth(1).fill("2")
    await form.get_by_label("Discount", exact=True).select_option("percentage")
    await form.get_by_label("Discount value").fill("10")

    # A product Shopify does not have: its refusal is shown and nothing is stored.
    await form.get_by_label("Products").fill("404")
    await form.get_by_role("button", name="Create plan").click()
    await form.get_by_text("does not exist").first.wait_for()
    await page.screenshot(path=portal.ARTIFACTS / "plans-refused.png", full_page=True)
    assert shopify.groups == {}

    await form.get_by_label("Products").fill("7")
    await page.screenshot(path=portal.ARTIFACTS / "plans-create-form.png", full_page=True)
    await form.get_by_role("button", name="Create plan").click()
    listed = page.locator("s-section").first
    await listed.get_by_text("Delivered every month; Delivered every 2 weeks").wait_for()
    assert await listed.get_by_text("10% off each delivery").is_visible()
    await page.screenshot(path=portal.ARTIFACTS / "plans-created.png", full_page=True)

    (group,) = shopify.groups[SHOP].values()
    assert group.name == "Coffee club" and group.products == {"gid://shopify/Product/7"}
    assert sorted(p["name"] for p in group.plans.values()) == [
        "Delivered every 2 weeks",
        "Delivered every month",
    ]
    async with runtime.sessionmaker() as session:
        plan = await session.get(Plan, 1)
        assert plan is not None and plan.name == "Coffee club"

    # A new discount is a new version; the table says so.
    await listed.get_by_role("button", name="Edit Coffee club").click()
    await page.wait_for_url("**/demo/plans/1")
    await page.get_by_label("Discount value").fill("15")
    await page.get_by_role("button", name="Save plan").click()
    await page.wait_for_url("**/demo/plans")
    await listed.get_by_text("Version 2").wait_for()
    assert await listed.get_by_text("15% off each delivery").is_visible()
    await page.screenshot(path=portal.ARTIFACTS / "plans-new-version.png", full_page=True)


async def test_billing_page_saves_dunning_settings(
    browser: Any, workspace: tuple[str, Runtime, FakeShopify]
) -> None:
    url, _, _ = workspace
    page = await browser.new_page(locale="en-GB")
    await page.goto(f"{url}/demo/billing")
    await page.get_by_text("Nothing recovered yet").wait_for()
    days = page.get_by_label("Retry after (days)")
    assert await days.input_value() == "1, 3, 7"
    await days.fill("7, 2")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_text("days must increase").first.wait_for()
    await days.fill("2, 5, 9")
    await page.get_by_label("After the last failed retry").select_option("cancel")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_text("Dunning settings saved").wait_for()
    await page.screenshot(path=portal.ARTIFACTS / "billing-settings.png", full_page=True)
    assert await page.get_by_label("Retry after (days)").input_value() == "2, 5, 9"
