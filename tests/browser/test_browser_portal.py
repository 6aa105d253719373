"""A real browser (Debian's Chromium driven by Playwright) answers the surveys: the app proxy
page inside a stand-in storefront, and the signed-link page from an email. Screenshots go to
test-artifacts/.

Needs Chromium and the playwright package; outside CI the test is skipped when either is
missing (install: `apt-get install -y chromium` and `pip install playwright`; Playwright's own
browser download is not used). Under CI=true it must run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from plugin.app import create_app
from plugin.db.transaction import transaction
from plugin.models import Cancellation, NpsResponse
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.surveys.links import survey_url
from tests.browser.storefront import PREFIX, Visitor, storefront
from tests.plugin.surveys.survey_factories import World, add_invitation, all_rows, world
from tests.support.servers import CI

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _require_browser() -> Any:
    missing = None
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install playwright)"
    if missing is None and not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if missing is not None:
        if CI:
            pytest.fail(f"{missing}; under CI=true the browser test must run", pytrace=False)
        pytest.skip(missing)
    return async_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, task, f"http://127.0.0.1:{port}"


@dataclass
class Site:
    app_url: str
    store_url: str
    visitor: Visitor


@pytest.fixture
async def site(lite_runtime: Runtime) -> AsyncIterator[Site]:
    """The app under uvicorn on a loopback port, and a storefront in front of its proxy."""
    app_server, app_task, app_url = await _serve(create_app(runtime=lite_runtime))
    visitor = Visitor()
    store_server, store_task, store_url = await _serve(storefront(app_url, visitor))
    try:
        yield Site(app_url, store_url, visitor)
    finally:
        for server, task in ((store_server, store_task), (app_server, app_task)):
            server.should_exit = True
            await task


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async_playwright = _require_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def invited(runtime: Runtime) -> tuple[World, int]:
    w = await world(runtime)
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        invitation = await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            contract_pk=w.contract_pk,
            order_id=w.order_id,
            sent_at=now,
            expires_at=now + timedelta(days=14),
        )
        return w, invitation.id


async def test_answering_in_the_storefront(browser: Any, site: Site, lite_runtime: Runtime) -> None:
    w, _ = await invited(lite_runtime)
    page = await browser.new_page(locale="en-GB")

    # Nobody logged in: the page asks to log in and shows no survey.
    await page.goto(f"{site.store_url}{PREFIX}/survey")
    assert await page.get_by_role("heading", name="Please log in").is_visible()
    assert await page.get_by_role("radio").count() == 0

    site.visitor.customer_id = w.customer_id
    await page.goto(f"{site.store_url}{PREFIX}/survey")
    assert await page.title() == "Test store"  # rendered inside the theme
    question = page.get_by_role("group", name="How likely are you to recommend us")
    assert await question.get_by_role("radio").count() == 11
    # Keyboard only: focus the scale, arrow to 9.
    await page.get_by_role("radio", name="0", exact=True).focus()
    for _ in range(9):
        await page.keyboard.press("ArrowRight")
    assert await page.get_by_role("radio", name="9", exact=True).is_checked()
    await page.get_by_label("4 – Good").check()
    await page.get_by_label("Anything you would like to tell us?").fill(
        "Fresh beans <b>every</b> time"
    )
    await page.screenshot(path=ARTIFACTS / "proxy-nps-form.png", full_page=True)
    await page.get_by_role("button", name="Send").click()
    await page.get_by_role("heading", name="Thank you").wait_for()
    await page.screenshot(path=ARTIFACTS / "proxy-nps-thanks.png", full_page=True)
    [answer] = await all_rows(lite_runtime, NpsResponse)
    assert (answer.score, answer.value_for_money, answer.comment, answer.channel) == (
        9,
        4,
        "Fresh beans <b>every</b> time",
        "proxy",
    )

    # The cancel-reason form: "Other" needs a comment; the error is announced and fixable.
    await page.goto(f"{site.store_url}{PREFIX}/survey?contract_id={w.contract_id}")
    await page.get_by_label("Other", exact=True).check()
    await page.get_by_role("button", name="Send").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "a comment is required" in (await alert.inner_text())
    await page.screenshot(path=ARTIFACTS / "proxy-cancel-error.png", full_page=True)
    # The choice survived the round trip.
    assert await page.get_by_label("Other", exact=True).is_checked()
    await page.get_by_label("Tell us more").fill("Moving abroad")
    await page.get_by_role("button", name="Send").click()
    await page.get_by_role("heading", name="Thank you").wait_for()
    await page.screenshot(path=ARTIFACTS / "proxy-cancel-thanks.png", full_page=True)
    [reason] = await all_rows(lite_runtime, Cancellation)
    assert (reason.reason_code, reason.comment) == ("other", "Moving abroad")


async def test_answering_from_an_email_link(
    browser: Any, site: Site, lite_runtime: Runtime
) -> None:
    w, invitation_id = await invited(lite_runtime)
    url = survey_url(
        lite_runtime.settings,
        invitation_id=invitation_id,
        shop_id=w.shop_id,
        customer_id=w.customer_id,
        expires_at=utcnow() + timedelta(days=14),
        score=10,
    ).replace(lite_runtime.settings.app_url, site.app_url)
    page = await browser.new_page(locale="fr-FR")
    await page.goto(url)
    # The page posts the link's score itself (a GET alone records nothing), then says so.
    status = page.get_by_role("status")
    await status.wait_for(state="visible")
    assert "Nous avons enregistré votre note de 10" in await status.inner_text()
    assert await page.get_by_role("radio", name="10", exact=True).is_checked()
    [recorded] = await all_rows(lite_runtime, NpsResponse)
    assert (recorded.score, recorded.channel) == (10, "link")
    await page.get_by_label("5 – Excellent").check()
    await page.get_by_label("Souhaitez-vous nous dire autre chose ?").fill("Parfait")
    await page.screenshot(path=ARTIFACTS / "link-form.png", full_page=True)
    await page.get_by_role("button", name="Envoyer").click()
    await page.get_by_role("heading", name="Merci").wait_for()
    await page.screenshot(path=ARTIFACTS / "link-thanks.png", full_page=True)
    [answer] = await all_rows(lite_runtime, NpsResponse)
    assert (answer.score, answer.value_for_money, answer.comment) == (10, 5, "Parfait")
