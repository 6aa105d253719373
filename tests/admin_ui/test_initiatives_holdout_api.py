"""`/api/admin/initiatives` for a targeted initiative: audience, split and holdout effect, and
the season caveat on shop-wide ones."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from plugin.models import FlowTriggerEvent
from plugin.runtime import Runtime
from tests.admin_ui.test_initiatives_api import BODY, auth
from tests.plugin.initiatives.test_holdout import TARGETED, seed_shop

SHOP = "initiatives-api.myshopify.com"


async def firings(runtime: Runtime, handle: str) -> list[dict[str, Any]]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(FlowTriggerEvent.payload).where(FlowTriggerEvent.handle == handle)
        )
        return list(rows)


async def test_a_targeted_initiative_shows_its_groups_and_effect(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await seed_shop(runtime, SHOP, 40, 10)
    created = await client.post("/api/admin/initiatives", json=TARGETED, headers=auth())
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["design"] == "holdout"
    assert body["audience"]["filter"] == TARGETED["audience"]
    assert body["audience"]["members"] == 0 and body["audience"]["drawn_at"] is None
    assert body["target_label"] == "Still subscribed 30 days after the start"

    started = await client.patch(
        f"/api/admin/initiatives/{body['id']}", json={"status": "running"}, headers=auth()
    )
    assert started.status_code == 200, started.text
    running = started.json()
    assert running["audience"]["members"] == 40 and running["audience"]["holdout_share"] == 0.2
    effect = running["effect"]
    assert effect["method"] == "holdout" and effect["verdict"] == "measuring"
    assert effect["uplift"]["treatment"]["n"] == 32 and effect["uplift"]["holdout"]["n"] == 8

    refused = await client.patch(
        f"/api/admin/initiatives/{body['id']}",
        json={"audience": {"segment": "loyal"}},
        headers=auth(),
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "audience"

    started_firings = await firings(runtime, "initiative-started")
    assert len(started_firings) == 32  # the treatment group only
    assert started_firings[0]["Treatment marker"] == f"vh-initiative-{body['id']}"
    done = await client.patch(
        f"/api/admin/initiatives/{body['id']}", json={"status": "done"}, headers=auth()
    )
    assert done.status_code == 200
    assert len(await firings(runtime, "initiative-ended")) == 32

    listing = (await client.get("/api/admin/initiatives", headers=auth())).json()
    keys = {m["key"] for m in listing["choices"]["member_metrics"]}
    assert "members.retention_90d" in keys and "members.mrr" in keys
    assert listing["choices"]["holdout_share"]["default"] == 0.1


async def test_a_shop_wide_initiative_says_it_cannot_separate_the_season(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/api/admin/initiatives", json=BODY, headers=auth())).json()
    assert created["design"] == "before_after" and created["audience"] is None
    assert "season" in created["effect"]["caveat"]
