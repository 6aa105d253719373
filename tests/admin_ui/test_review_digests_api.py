"""`/api/admin/review-digests`: the badge until reviewed, who reviewed which month, settings."""

from __future__ import annotations

import httpx

from plugin.db.transaction import transaction
from plugin.review.digest import store_digest
from plugin.runtime import Runtime
from tests.admin_ui.test_initiatives_api import auth
from tests.plugin.review.test_digest import NOW, scored_shop

SHOP = "initiatives-api.myshopify.com"


async def test_badge_review_and_history(client: httpx.AsyncClient, runtime: Runtime) -> None:
    empty = (await client.get("/api/admin/review-digests", headers=auth())).json()
    assert empty["badge"] is None and empty["history"] == []
    shop_id = await scored_shop(runtime, SHOP)
    async with transaction(runtime.sessionmaker, None) as tx:
        await store_digest(tx.session, shop_id, "2026-03", NOW)
    listing = (await client.get("/api/admin/review-digests", headers=auth())).json()
    assert listing["badge"]["month"] == "2026-03"
    stored = await client.get("/api/admin/review-digests/2026-03", headers=auth())
    assert stored.status_code == 200 and stored.json()["pack"]["month"] == "2026-03"
    assert (
        await client.get("/api/admin/review-digests/2026-13", headers=auth())
    ).status_code == 422
    assert (
        await client.get("/api/admin/review-digests/2025-03", headers=auth())
    ).status_code == 404

    bad = await client.post(
        "/api/admin/review-digests/2026-03/reviewed", json={"reviewed_by": ""}, headers=auth()
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reviewed_by"
    done = await client.post(
        "/api/admin/review-digests/2026-03/reviewed", json={"reviewed_by": "Dana"}, headers=auth()
    )
    assert done.status_code == 200 and done.json()["reviewed_by"] == "Dana"
    after = (await client.get("/api/admin/review-digests", headers=auth())).json()
    assert after["badge"] is None
    assert [(h["month"], h["reviewed_by"]) for h in after["history"]] == [("2026-03", "Dana")]


async def test_email_settings_are_checked(client: httpx.AsyncClient) -> None:
    url = "/api/admin/review-digests/settings"
    refused = await client.patch(url, json={"email_enabled": True}, headers=auth())
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "owner_email"
    bad = await client.patch(url, json={"owner_email": "not-an-address"}, headers=auth())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "owner_email"
    saved = await client.patch(
        url,
        json={"owner_name": "Dana", "owner_email": "dana@shop.test", "email_enabled": True},
        headers=auth(),
    )
    assert saved.status_code == 200 and saved.json()["email_enabled"] is True
    listing = (await client.get("/api/admin/review-digests", headers=auth())).json()
    assert listing["settings"]["owner_email"] == "dana@shop.test"
    assert listing["email_configured"] is False  # no SMTP_URL in the tests' settings
