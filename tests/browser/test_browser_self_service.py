"""A real browser walks the subscriber's portal in a stand-in storefront, with no JavaScript of
ours: skip the next delivery, change the frequency, pause; then the cancel flow, once
accepting the offer (the fake Shopify records the skip) and once declining it (the fake records
the cancel). Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugin.app import create_app
from plugin.runtime import Runtime
from tests.browser.storefront import PREFIX, Visitor, storefront
from tests.browser.test_browser_portal import ARTIFACTS, Site, _serve, browser
from tests.support.fake_shopify import FakeShopify
from tests.support.self_service import SelfServiceWorld, runtime_with_fake, self_service_world
from tests.support.signing import SHOP

pytestmark = pytest.mark.browser
__all__ = ["browser"]


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def shop_runtime(sqlite_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    async for runtime in runtime_with_fake(sqlite_url, fake):
        yield runtime


@pytest.fixture
async def site(shop_runtime: Runtime) -> AsyncIterator[Site]:
    app_server, app_task, app_url = await _serve(create_app(runtime=shop_runtime))
    visitor = Visitor()
    store_server, store_task, store_url = await _serve(storefront(app_url, visitor))
    try:
        yield Site(app_url, store_url, visitor)
    finally:
        for server, task in ((store_server, store_task), (app_server, app_task)):
            server.should_exit = True
            await task


async def open_subscription(browser: Any, site: Site, world: SelfServiceWorld) -> Any:
    site.visitor.customer_id = world.customer_id
    page = await browser.new_page(locale="en-GB", java_script_enabled=False)
    await page.goto(f"{site.store_url}{PREFIX}/subscriptions")
    await page.get_by_role("link", name="Every month").click()
    await page.get_by_role("heading", name=f"Subscription #{world.contract_id}").wait_for()
    return page


async def test_skip_change_frequency_and_pause_in_the_portal(
    browser: Any, site: Site, shop_runtime: Runtime, fake: FakeShopify
) -> None:
    world = await self_service_world(shop_runtime, fake)
    page = await open_subscription(browser, site, world)
    first = fake.contracts[SHOP][world.gid].next_billing_date[:10]
    assert await page.locator("#vh-next").inner_text() == first
    await page.screenshot(path=ARTIFACTS / "portal-subscription.png", full_page=True)

    await page.get_by_role("button", name="Skip this delivery").click()
    status = page.get_by_role("status")
    await status.wait_for()
    assert f"Your delivery of {first} is skipped." == await status.inner_text()
    assert await page.locator("#vh-next").inner_text() != first
    await page.screenshot(path=ARTIFACTS / "portal-skipped.png", full_page=True)

    await page.get_by_label("Change to").select_option(label="Every 2 months")
    await page.get_by_role("button", name="Change frequency").click()
    assert "every 2 months" in await page.get_by_role("status").inner_text()
    assert await page.locator("#vh-frequency").inner_text() == "Every 2 months"
    await page.screenshot(path=ARTIFACTS / "portal-frequency.png", full_page=True)

    await page.get_by_role("button", name="Pause subscription").click()
    assert "paused" in await page.get_by_role("status").inner_text()
    assert await page.get_by_role("button", name="Resume subscription").is_visible()
    await page.screenshot(path=ARTIFACTS / "portal-paused.png", full_page=True)

    assert [c[0] for c in fake.changes] == ["skip", "commit", "pause"]
    assert fake.contracts[SHOP][world.gid].delivery == ("MONTH", 2)


async def walk_to_offer(browser: Any, site: Site, world: SelfServiceWorld, name: str) -> Any:
    page = await open_subscription(browser, site, world)
    await page.get_by_role("link", name="Cancel subscription").click()
    await page.get_by_role("heading", name="Sorry to see you go").wait_for()
    await page.get_by_label("It is too expensive").check()
    await page.screenshot(path=ARTIFACTS / f"cancel-{name}-reason.png", full_page=True)
    await page.get_by_role("button", name="Send").click()
    await page.get_by_role("heading", name="Before you cancel").wait_for()
    assert await page.locator("#vh-offer").inner_text() == "Skip your next delivery instead"
    await page.screenshot(path=ARTIFACTS / f"cancel-{name}-offer.png", full_page=True)
    return page


async def test_cancel_flow_accepting_the_offer_skips_the_delivery(
    browser: Any, site: Site, shop_runtime: Runtime, fake: FakeShopify
) -> None:
    world = await self_service_world(shop_runtime, fake, offers={"too_expensive": {"kind": "skip"}})
    page = await walk_to_offer(browser, site, world, "accept")
    await page.get_by_role("button", name="Yes, skip your next delivery instead").click()
    await page.get_by_role("heading", name="Thank you for staying").wait_for()
    await page.screenshot(path=ARTIFACTS / "cancel-accept-done.png", full_page=True)
    assert fake.changes == [("skip", world.gid, {"index": 4})]
    assert fake.contracts[SHOP][world.gid].status == "ACTIVE"


async def test_cancel_flow_declining_the_offer_cancels(
    browser: Any, site: Site, shop_runtime: Runtime, fake: FakeShopify
) -> None:
    world = await self_service_world(shop_runtime, fake, offers={"too_expensive": {"kind": "skip"}})
    page = await walk_to_offer(browser, site, world, "decline")
    await page.get_by_role("button", name="No thanks, cancel my subscription").click()
    await page.get_by_role("heading", name="Your subscription is cancelled").wait_for()
    await page.screenshot(path=ARTIFACTS / "cancel-decline-done.png", full_page=True)
    assert fake.changes == [("cancel", world.gid, {})]
    assert fake.contracts[SHOP][world.gid].status == "CANCELLED"
