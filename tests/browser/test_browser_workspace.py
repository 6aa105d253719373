"""The merchant's workspace in a real browser (Debian's Chromium driven by Playwright), on a
generated demo shop served by uvicorn: every page at 1280×800 and 390×844, its key numbers
against the JSON API, the filters, date ranges, subscriber detail, CSV export and settings
forms, accessibility (axe-core, vendored), layout stability (CLS), LCP, console errors,
horizontal scrolling and bytes transferred. A fresh shop sees the setup checklist and its
import progressing against the fake Admin API's bulk operation. Screenshots go to
test-artifacts/.

LCP is measured on a cold load (fresh browser context) and written to the vitals file, with the
request waterfall of a page over the bar; it is not asserted (no absolute times in tests: the
development machine is shared). `python -m bench workspace` holds the LCP bar.

Shopify's CDN (App Bridge, Polaris) is unreachable here by design: requests to it are
aborted and the pages run on their plain-HTML fallback, as in the offline demo. The
browser reports each aborted request as a console error; those (and only those) are
expected and filtered.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import delete

from admin_ui.api.subscribers import CSV_COLUMNS
from plugin import onboarding
from plugin.app import build_app_runtime, create_app
from plugin.demo.replay import build_demo
from plugin.demo.simulation import DemoConfig
from plugin.models import Shop
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.scoring.summary import score_shop_now
from tests.browser.test_browser_portal import (
    ARTIFACTS,
    _serve,
    browser,
)
from tests.conftest import make_settings
from tests.plugin.domain.domain_helpers import give_token
from tests.plugin.test_backfill import bulk_objects
from tests.support.fake_shopify import FakeShopify

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the portal test's Chromium fixture

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
CDN = "https://cdn.shopify.com/"
# Quality bars of the issue; CLS and LCP are measured in this browser on loopback.
MAX_CLS = 0.1
MAX_LCP_MS = 1000.0
MAX_PAGE_BYTES = 200_000
WATCH = """
window.__vh = { cls: 0, lcp: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__vh.cls += entry.value;
}).observe({ type: "layout-shift", buffered: true });
new PerformanceObserver((list) => {
  const entries = list.getEntries();
  window.__vh.lcp = entries[entries.length - 1].startTime;
}).observe({ type: "largest-contentful-paint", buffered: true });
"""
SETTLED = """() => {
  const root = document.querySelector('#vh-root');
  return root && root.children.length && !document.querySelector('[aria-busy="true"]')
    && !document.querySelector('.vh-skeleton');
}"""


@dataclass
class Demo:
    url: str
    shop: str
    api: httpx.AsyncClient

    async def get(self, path: str) -> Any:
        token = (await self.api.get("/demo/token")).json()["token"]
        response = await self.api.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text


@pytest.fixture
async def demo(lite_runtime: Runtime) -> AsyncIterator[Demo]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Small enough to build in well under a minute; big enough for every section to fill.
    config = DemoConfig(subscribers=150, months=10, seed=7, end=end)
    await build_demo(lite_runtime, config, daily_snapshots=31)
    await score_shop_now(lite_runtime, config.shop_domain)
    # What the build queued runs now, as `valuehealth demo` does before it serves: a job left
    # for later would run in this process while a page is being timed.
    if isinstance(lite_runtime.queue, InProcessQueue):
        await lite_runtime.queue.drain()
    server, task, url = await _serve(create_app(runtime=lite_runtime, demo_shop=config.shop_domain))
    try:
        async with httpx.AsyncClient(base_url=url) as api:
            yield Demo(url, config.shop_domain, api)
    finally:
        server.should_exit = True
        await task


async def open_page(
    browser: Any, url: str, viewport: tuple[int, int]
) -> tuple[Any, Any, list[str]]:
    """A fresh context (cold cache, so bytes are a first visit's), the page settled."""
    context = await browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        locale="en-US",
        accept_downloads=True,
    )
    await context.route(f"{CDN}**", lambda route: route.abort())
    await context.add_init_script(WATCH)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(message: Any) -> None:
        if message.type == "error":
            location = (message.location or {}).get("url", "")
            if not location.startswith(CDN):
                errors.append(f"console: {message.text} ({location})")

    page.on("console", on_console)
    await page.goto(url)
    await page.wait_for_function(SETTLED, timeout=20_000)
    await page.wait_for_timeout(300)  # late layout shifts would land here
    return context, page, errors


async def bytes_transferred(page: Any) -> int:
    return int(
        await page.evaluate(
            """() => [...performance.getEntriesByType('navigation'),
                      ...performance.getEntriesByType('resource')]
                     .reduce((sum, e) => sum + (e.transferSize || 0), 0)"""
        )
    )


async def waterfall(page: Any) -> list[Any]:
    """Each request's start and end (ms): what to read when LCP is over its bar."""
    return list(
        await page.evaluate(
            """() => performance.getEntriesByType('resource').map(
             (e) => [e.name.split('/').slice(-2).join('/'), Math.round(e.startTime),
                     Math.round(e.responseEnd)])"""
        )
    )


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256, "vendored axe-core changed"
    await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("""async () => {
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


async def test_every_page_meets_the_quality_bars(browser: Any, demo: Demo) -> None:
    first = (await demo.get("/api/admin/subscribers?limit=1"))["items"][0]["customer_id"]
    pages = [
        "",
        "/subscribers",
        f"/subscribers/{first}",
        "/retention",
        "/cancellations",
        "/feedback",
        "/settings",
        "/metrics",
        "/initiatives",
    ]
    report: list[dict[str, Any]] = []
    # One visit of each page first: the server's first requests pay one-off costs (query
    # compilation, caches) that are not what a merchant opening the page every week sees.
    for path in pages:
        context, page, _errors = await open_page(
            browser, f"{demo.url}/demo{path}", VIEWPORTS["desktop"]
        )
        await page.wait_for_load_state("networkidle")
        await context.close()
    # The last warm-up page's requests and renderer are wound down before the first is timed
    # (the first timed page otherwise paid for them: 0.8-1.0 s against 0.2 s on its second visit).
    await asyncio.sleep(1.0)
    for device, viewport in VIEWPORTS.items():
        for path in pages:
            context, page, errors = await open_page(browser, f"{demo.url}/demo{path}", viewport)
            name = (path.strip("/").split("/")[0] or "overview") + (
                "-detail" if path.count("/") > 1 else ""
            )
            await page.screenshot(path=ARTIFACTS / f"workspace-{name}-{device}.png", full_page=True)
            vitals = await page.evaluate("window.__vh")
            row = {
                "page": name,
                "device": device,
                "cls": round(vitals["cls"], 4),
                "lcp_ms": round(vitals["lcp"]),
                "bytes": await bytes_transferred(page),
                "scroll_width": await page.evaluate("document.documentElement.scrollWidth"),
            }
            report.append(row)
            assert errors == [], f"{name} {device}: {errors}"
            assert row["scroll_width"] <= viewport[0], f"{name} {device} scrolls sideways"
            assert row["cls"] < MAX_CLS, row
            if row["lcp_ms"] >= MAX_LCP_MS:
                # Recorded, not asserted: one cold load's time on a shared two-core machine
                # (browser, server and test in contention) is noise around the bar. The bar is
                # held by `python -m bench workspace` (median of cold loads on a quiet server).
                row["waterfall"] = await waterfall(page)
            assert row["bytes"] < MAX_PAGE_BYTES, row
            violations = await axe_violations(page)
            assert violations == [], f"{name} {device}: {json.dumps(violations, indent=1)}"
            await context.close()
    (ARTIFACTS / "workspace-vitals.json").write_text(json.dumps(report, indent=1))


async def key_numbers_match_the_api(browser: Any, demo: Demo) -> None:
    doc = await demo.get("/api/admin/overview")
    context, page, _ = await open_page(browser, f"{demo.url}/demo", VIEWPORTS["desktop"])
    tile = page.locator('[data-value="active_subscribers"]')
    assert digits(await tile.inner_text()) == str(doc["subscribers"]["active"])
    mrr = doc["mrr"]
    assert digits(await page.locator('[data-value="mrr"]').inner_text()) == digits(
        f"{mrr['by_currency'][mrr['currency']]:.2f}"
    )
    churn = doc["churn"]["monthly_rate"]
    assert (await page.locator('[data-value="churn_rate"]').inner_text()) == f"{100 * churn:.1f}%"
    nps = doc["nps"]
    nps_text = await page.locator('[data-value="nps"]').inner_text()
    if nps["score"] is None:
        assert nps_text == "Not enough answers"
    else:
        assert nps_text == str(round(nps["score"]))
        assert (
            f"Between {round(nps['ci_low'])} and {round(nps['ci_high'])}"
            in await page.locator('[data-metric="nps"]').inner_text()
        )
    await page.goto(f"{demo.url}/demo/cancellations")
    await page.wait_for_function(SETTLED)
    captured = await page.locator('[data-value="capture_rate"]').inner_text()
    assert f"{doc['cancellations']['total']} cancellations" in captured.replace(",", "")
    await page.goto(f"{demo.url}/demo/retention")
    await page.wait_for_function(SETTLED)
    retention = await demo.get("/api/admin/retention")
    newest = retention["cohorts"][-1]
    first_row = page.locator("table.vh-heat tbody tr").first
    assert (await first_row.locator("td").first.inner_text()) == str(newest["size"])
    await context.close()


async def subscribers_filters_detail_back_and_csv(browser: Any, demo: Demo) -> None:
    context, page, errors = await open_page(
        browser, f"{demo.url}/demo/subscribers", VIEWPORTS["desktop"]
    )
    await page.get_by_role("tab", name=re.compile("^At risk")).click()
    await page.wait_for_function(SETTLED)
    assert "segment=at_risk_high_value" in page.url
    api = await demo.get("/api/admin/subscribers?segment=at_risk_high_value&limit=200")
    rows = page.locator("table.vh-table tbody tr")
    assert await rows.count() == min(50, len(api["items"]))
    if api["items"]:
        assert all(
            t == "At risk, high value"
            for t in await rows.locator("td:nth-child(2)").all_inner_texts()
        )
    # Sort by MRR: the first row is the API's first.
    await page.get_by_label("Sort by").select_option("-mrr")
    await page.wait_for_function(SETTLED)
    by_mrr = await demo.get("/api/admin/subscribers?segment=at_risk_high_value&sort=-mrr&limit=1")
    if by_mrr["items"]:
        first = by_mrr["items"][0]
        assert (await rows.first.locator("a").inner_text()) == (
            first["name"] or f"Customer {first['customer_id']}"
        )
    # A currency filter and CSV export of exactly the filtered list.
    await page.get_by_label("Currency").select_option("USD")
    await page.wait_for_function(SETTLED)
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    text = (await download.path()).read_bytes().decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == CSV_COLUMNS
    expected = await demo.get(
        "/api/admin/subscribers.csv?segment=at_risk_high_value&sort=-mrr&currency=USD"
    )
    assert text == expected
    # Detail, then back: the filtered list comes back with its filters.
    await page.get_by_role("tab", name="All").click()
    await page.wait_for_function(SETTLED)
    link = rows.first.locator("a")
    name = await link.inner_text()
    await link.click()
    await page.wait_for_function(SETTLED)
    assert re.search(r"/demo/subscribers/\d+$", page.url)
    assert (await page.title()).startswith(name)
    customer = page.url.rsplit("/", 1)[1]
    detail = await demo.get(f"/api/admin/subscribers/{customer}")
    assert (
        await page.get_by_role("heading", name="Timeline").count()
        + await page.locator('s-section[heading="Timeline"]').count()
        >= 1
    )
    assert len(detail["timeline"]) == await page.locator("ol.vh-timeline > li").count()
    await page.screenshot(path=ARTIFACTS / "workspace-subscriber-detail-flow.png", full_page=True)
    await page.go_back()
    await page.wait_for_function(SETTLED)
    back = urlsplit(page.url)
    assert back.path == "/demo/subscribers"
    assert parse_qs(back.query) == {"sort": ["-mrr"], "currency": ["USD"]}
    assert await page.get_by_label("Currency").input_value() == "USD"
    assert await page.get_by_label("Sort by").input_value() == "-mrr"
    assert errors == []
    await context.close()


async def date_range_and_settings_forms(browser: Any, demo: Demo) -> None:
    context, page, errors = await open_page(browser, f"{demo.url}/demo", VIEWPORTS["desktop"])
    await page.get_by_label("Date range").select_option("6")
    await page.wait_for_function(SETTLED)
    assert "range=6" in page.url
    mrr_table = page.locator("figure.vh-chart").first.locator("tbody tr")
    doc = await demo.get("/api/admin/overview")
    as_of = doc["as_of"]
    start = datetime.fromisoformat(as_of)
    month = start.month - 6
    year = start.year + (month - 1) // 12
    frm = f"{year}-{(month - 1) % 12 + 1:02d}-{start.day:02d}"
    points = (await demo.get(f"/api/admin/trends?metric=mrr&period=month&from={frm}&to={as_of}"))[
        "points"
    ]
    assert await mrr_table.count() == len(points)

    await page.goto(f"{demo.url}/demo/settings")
    await page.wait_for_function(SETTLED)
    await page.get_by_label("Value owner").fill("Ana, retention lead")
    await (
        page.locator("form")
        .filter(has=page.get_by_label("Value owner"))
        .get_by_role("button", name="Save")
        .click()
    )
    await page.locator(".vh-toast", has_text="Settings saved").wait_for()
    assert (await demo.get("/api/admin/settings"))["workspace"][
        "value_owner"
    ] == "Ana, retention lead"
    # A value the server refuses: the field says why and nothing is stored.
    delay = page.get_by_label("Days after delivery before the survey")
    await delay.fill("100")
    await page.locator("form").filter(has=delay).get_by_role("button", name="Save").click()
    error = page.locator(f"#{await delay.get_attribute('id')}-err")
    await error.filter(has_text="between 0 and 60").wait_for()
    assert (await demo.get("/api/admin/settings"))["surveys"]["nps_delay_days"] == 2.0
    # Chromium logs the refused request (422) as a console error: that one was provoked.
    provoked = [e for e in errors if "status of 422" in e and "/api/admin/settings/surveys" in e]
    assert len(provoked) == 1
    errors.remove(provoked[0])
    await page.screenshot(path=ARTIFACTS / "workspace-settings-error.png", full_page=True)
    # A reason added from the list's form appears in the list, version 1.
    await page.get_by_label("Code").fill("too_strong")
    await page.get_by_label("Label (English)").fill("Too strong for me")
    await page.get_by_role("button", name="Add reason").click()
    await page.get_by_text("Too strong for me").wait_for()
    reasons = (await demo.get("/api/admin/settings"))["reasons"]
    assert any(r["code"] == "too_strong" and r["version"] == 1 for r in reasons)
    assert errors == []
    await context.close()


async def test_numbers_filters_detail_csv_date_range_and_settings(browser: Any, demo: Demo) -> None:
    """One demo shop (it takes a while to build) for every interaction check."""
    await key_numbers_match_the_api(browser, demo)
    await subscribers_filters_detail_back_and_csv(browser, demo)
    await date_range_and_settings_forms(browser, demo)


# ---- a fresh install ----------------------------------------------------------------------


FRESH = "fresh-roasters.myshopify.com"


@pytest.fixture
async def fresh(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, Runtime, FakeShopify]]:
    shopify = FakeShopify(bulk_polls=8)
    runtime = await build_app_runtime(make_settings(sqlite_url), http=shopify.client())
    # Shopify's bulk operation polled every 0.3 s (5 s in production), progress written often.
    monkeypatch.setattr(onboarding, "POLL_INTERVAL_S", 0.3)
    monkeypatch.setattr(onboarding, "_WRITE_EVERY_S", 0.05)
    server, task, url = await _serve(create_app(runtime=runtime, demo_shop=FRESH))
    try:
        yield url, runtime, shopify
    finally:
        server.should_exit = True
        await task
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def test_a_fresh_shop_gets_the_checklist_and_sees_its_import_progress(
    browser: Any, fresh: tuple[str, Runtime, FakeShopify]
) -> None:
    url, runtime, shopify = fresh
    await give_token(runtime, shopify, FRESH)
    for i in range(450):
        shopify.add_contract(FRESH, contract_id=90_000 + i, customer_id=7_000 + i)
    shopify.serve_next_bulk(bulk_objects(shopify, {}, shop=FRESH))
    context, page, errors = await open_page(browser, f"{url}/demo", VIEWPORTS["phone"])
    await (
        page.get_by_role("heading", name="Set up Valuehealth")
        .or_(page.locator('s-section[heading="Set up Valuehealth"]'))
        .first.wait_for()
    )
    assert await page.get_by_text("Import your existing subscriptions").count() == 1
    assert "/apps/valuehealth/survey" in await page.locator("code").first.inner_text()
    await page.screenshot(path=ARTIFACTS / "workspace-onboarding-fresh.png", full_page=True)
    await page.get_by_role("button", name="Start import").click()
    status = page.get_by_role("status").filter(has_text=re.compile("preparing|Importing|Queued"))
    await status.first.wait_for()
    seen = {await status.first.inner_text()}
    await page.screenshot(path=ARTIFACTS / "workspace-onboarding-importing.png", full_page=True)
    done = page.get_by_text(re.compile(r"Imported 450 subscriptions"))
    for _ in range(200):
        if await done.count():
            break
        texts = await page.get_by_role("status").all_inner_texts()
        seen.update(texts)
        await page.wait_for_timeout(100)
    assert await done.count() == 1
    # The page showed the bulk operation running (objects counted) before the import ended.
    assert any("records so far" in t for t in seen), seen
    await page.screenshot(path=ARTIFACTS / "workspace-onboarding-imported.png", full_page=True)
    assert errors == []
    await context.close()
