"""`/api/admin/initiatives`: CRUD through HTTP, 422 naming the field, and shop scoping."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from plugin.models import Initiative
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.support.signing import session_token

SHOP = "initiatives-api.myshopify.com"
OTHER = "someone-else.myshopify.com"
BODY: dict[str, Any] = {
    "title": "Skip-a-month button in the portal",
    "hypothesis": "Subscribers who can skip instead of cancel stay longer.",
    "driver": "cadence",
    "target_metric": "churn.monthly_rate",
    "expected_direction": "down",
    "expected_change": 0.01,
    "owner": "Sam",
}


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def stored(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Initiative)) or 0)


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/admin/initiatives", json={**BODY, **fields}, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_list_get_and_move_forward(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert created["status"] == "idea"
    assert created["target_label"] == "Monthly churn" and created["unit"] == "share"
    assert created["next_statuses"] == ["planned", "running", "dropped"]
    assert created["effect"]["verdict"] == "not_started"
    assert created["window_days"] == 30

    listing = (await client.get("/api/admin/initiatives", headers=auth())).json()
    assert [i["id"] for i in listing["initiatives"]] == [created["id"]]
    choices = listing["choices"]
    assert "billing" in choices["drivers"] and "other" not in choices["drivers"]
    metric_keys = {m["key"] for m in choices["metrics"]}
    assert {"churn.monthly_rate", "nps.score", "billing_success_rate"} <= metric_keys
    assert "drivers.cadence_fit" in metric_keys

    url = f"/api/admin/initiatives/{created['id']}"
    assert (await client.get(url, headers=auth())).json()["title"] == BODY["title"]

    running = await client.patch(url, json={"status": "running"}, headers=auth())
    assert running.status_code == 200
    body = running.json()
    assert body["status"] == "running"
    assert body["starts_on"] == utcnow().date().isoformat()  # the shop's day (UTC shop)
    assert body["effect"]["verdict"] == "measuring"
    assert body["next_statuses"] == ["done", "dropped"]

    back = await client.patch(url, json={"status": "idea"}, headers=auth())
    assert back.status_code == 422
    assert back.json()["error"]["field"] == "status"
    edited = await client.patch(url, json={"owner": "Alex", "window_days": 60}, headers=auth())
    assert edited.json()["owner"] == "Alex" and edited.json()["window_days"] == 60


async def test_invalid_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    cases: list[tuple[Any, str]] = [
        ({**BODY, "driver": "vibes"}, "driver"),
        ({**BODY, "target_metric": "nps"}, "target_metric"),
        ({**BODY, "expected_change": "lots"}, "expected_change"),
        ({**BODY, "window_days": 365}, "window_days"),
        ({**BODY, "starts_on": "yesterday"}, "starts_on"),
        ({**BODY, "shop_id": 1}, "shop_id"),  # the shop comes from the token only
        ({k: v for k, v in BODY.items() if k != "title"}, "title"),
        ([BODY], "body"),
    ]
    for payload, field in cases:
        response = await client.post("/api/admin/initiatives", json=payload, headers=auth())
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]
        assert error["field"] == field and error["message"]
    not_json = await client.post(
        "/api/admin/initiatives",
        content=b"title=x",
        headers={**auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 422 and not_json.json()["error"]["field"] == "body"
    broken = await client.post(
        "/api/admin/initiatives",
        content=b"{not json",
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["error"]["field"] == "body"
    huge = await client.post(
        "/api/admin/initiatives", json={**BODY, "hypothesis": "x" * 20_000}, headers=auth()
    )
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "body"
    assert await stored(runtime) == 0


async def test_a_refused_patch_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/api/admin/initiatives/{created['id']}"
    # Valid fields, but together impossible: a running initiative cannot start in 2999.
    change = {"title": "Renamed", "status": "running", "starts_on": "2999-01-01"}
    refused = await client.patch(url, json=change, headers=auth())
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "starts_on"
    skip = await client.patch(url, json={"status": "done"}, headers=auth())
    assert skip.status_code == 422 and skip.json()["error"]["field"] == "status"
    unchanged = (await client.get(url, headers=auth())).json()
    assert (unchanged["title"], unchanged["status"]) == (BODY["title"], "idea")
    empty = await client.patch(url, json={}, headers=auth())
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "body"


async def test_initiatives_belong_to_the_tokens_shop(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/api/admin/initiatives/{created['id']}"
    # Another shop (known to us) sees none of it and cannot change it.
    other = await client.post("/api/admin/initiatives", json=BODY, headers=auth(OTHER))
    assert other.status_code == 201
    mine = (await client.get("/api/admin/initiatives", headers=auth(OTHER))).json()
    assert [i["id"] for i in mine["initiatives"]] == [other.json()["id"]]
    assert (await client.get(url, headers=auth(OTHER))).status_code == 404
    patch = await client.patch(url, json={"title": "Hijacked"}, headers=auth(OTHER))
    assert patch.status_code == 404
    assert (await client.get(url, headers=auth())).json()["title"] == BODY["title"]
    # A shop we have never seen has nothing at all.
    stranger = auth("never-seen.myshopify.com")
    assert (await client.get(url, headers=stranger)).status_code == 404
    listing = (await client.get("/api/admin/initiatives", headers=stranger)).json()
    assert listing["initiatives"] == [] and listing["choices"]["drivers"]


async def test_unknown_ids_and_missing_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/admin/initiatives/999", headers=auth())).status_code == 404
    too_big = f"/api/admin/initiatives/{2**70}"
    assert (await client.get(too_big, headers=auth())).status_code == 404
    assert (await client.patch(too_big, json={"owner": "x"}, headers=auth())).status_code == 404
    assert (await client.get("/api/admin/initiatives")).status_code == 401
    assert (await client.post("/api/admin/initiatives", json=BODY)).status_code == 401
