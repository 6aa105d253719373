"""`/api/admin/onboarding`: a fresh shop's checklist, and the import started from it running
against the fake Admin API's bulk operation with its progress readable while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plugin import onboarding
from plugin.app import create_app
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import give_token
from tests.plugin.test_backfill import bulk_objects, rt
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP, session_token

__all__ = ["rt"]  # the backfill tests' runtime, on this module's fake Admin API


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify(bulk_polls=6)  # a few polls: progress is seen while Shopify works


@pytest.fixture
async def api(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=rt)) as c:
        # Minted per test: a session token lives a minute, less than the suite takes to get here.
        c.headers["Authorization"] = f"Bearer {session_token(shop=SHOP)}"
        yield c


def stock(shopify: FakeShopify, n: int) -> None:
    for i in range(n):
        shopify.add_contract(contract_id=70_000 + i, customer_id=800 + i)
    shopify.serve_next_bulk(bulk_objects(shopify, {}))


async def test_a_fresh_shop_sees_every_step_open(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/admin/onboarding")).json()
    assert (body["contracts"], body["backfill"], body["scored"]) == (0, None, False)
    assert body["survey"]["proxy_url"] == f"https://{SHOP}/apps/valuehealth/survey"
    assert body["survey"]["flow_trigger"] == "NPS survey ready"


async def test_the_import_reports_progress_while_it_runs(
    api: httpx.AsyncClient, rt: Runtime, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app's in-process queue runs the job, as a worker would: fast polls for the test.
    monkeypatch.setattr(onboarding, "_WRITE_EVERY_S", 0.01)
    monkeypatch.setattr(onboarding, "POLL_INTERVAL_S", 0.05)
    await give_token(rt, shopify)
    stock(shopify, 5)

    started = await api.post("/api/admin/onboarding/backfill")
    assert started.status_code == 202
    run = started.json()
    assert run["status"] == "queued"
    # Asking again while it is queued gives the same run, not a second import.
    again = (await api.post("/api/admin/onboarding/backfill")).json()
    assert again["id"] == run["id"]

    seen: list[tuple[Any, ...]] = []
    for _ in range(1000):
        state = (await api.get("/api/admin/onboarding")).json()["backfill"]
        seen.append((state["status"], state["phase"], state["objects"], state["imported"]))
        if state["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.01)
    final = (await api.get("/api/admin/onboarding")).json()
    assert final["backfill"]["status"] == "done"
    assert (final["backfill"]["imported"], final["backfill"]["total"]) == (5, 5)
    assert final["contracts"] == 5
    assert final["backfill"]["finished_at"] is not None
    # While Shopify's bulk operation ran, the page could see it running.
    assert ("running", "waiting") in {s[:2] for s in seen}
    assert all(s[3] <= 5 for s in seen)
    # A finished import can be started again (a fresh run).
    assert (await api.post("/api/admin/onboarding/backfill")).json()["id"] != run["id"]


async def finished(api: httpx.AsyncClient) -> dict[str, Any]:
    for _ in range(500):
        state = (await api.get("/api/admin/onboarding")).json()["backfill"]
        if state["status"] not in ("queued", "running"):
            return state  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise AssertionError("the import did not finish")


async def test_a_failed_import_says_why(
    api: httpx.AsyncClient, rt: Runtime, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onboarding, "POLL_INTERVAL_S", 0.0)
    await give_token(rt, shopify)
    shopify.fail_next_bulk("ACCESS_DENIED")
    assert (await api.post("/api/admin/onboarding/backfill")).status_code == 202
    state = await finished(api)
    assert state["status"] == "failed"
    assert state["error"].startswith("Shopify:")


async def test_an_import_without_a_token_fails_with_what_to_do(
    api: httpx.AsyncClient, rt: Runtime
) -> None:
    assert (await api.post("/api/admin/onboarding/backfill")).status_code == 202
    state = await finished(api)
    assert state["status"] == "failed"
    assert "open the app in their Shopify admin" in state["error"]
