"""`/api/admin/settings`: each section is stored only when every value in it is valid (422
names the field otherwise and nothing changes), the cancel-reason list is edited through the
catalogue's versioned functions, and one shop never sees or changes another's settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plugin.models import CancelReasonOption, Shop
from plugin.runtime import Runtime
from tests.plugin.scoring.builders import ShopBuilder, at
from tests.support.signing import session_token

SHOP = "settings-shop.myshopify.com"
OTHER = "settings-other.myshopify.com"


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def stored(runtime: Runtime, domain: str = SHOP) -> dict[str, Any]:
    async with runtime.sessionmaker() as session:
        shop = await session.scalar(select(Shop).where(Shop.domain == domain))
        return dict(shop.settings or {}) if shop else {}


async def test_defaults_and_choices_before_anything_is_set(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await ShopBuilder.create(runtime, SHOP)
    sub = await shop.subscriber(1)
    await shop.contract(sub, started=at(2026, 1, 1), plan="Monthly Roast", currency="EUR")
    body = (await client.get("/api/admin/settings", headers=auth())).json()
    assert body["surveys"]["nps_throttle_days"] == 90.0
    assert body["value"] == {"margin": 1.0, "annual_discount_rate": 0.1, "plans": []}
    assert body["workspace"] == {"value_owner": ""}
    assert body["choices"]["plans"] == [{"plan": "Monthly Roast", "currency": "EUR"}]
    assert "en" in body["choices"]["locales"] and "nps.title" in body["choices"]["label_keys"]
    assert "price_value" in body["choices"]["drivers"]


async def test_a_valid_section_is_stored_and_read_back(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await ShopBuilder.create(runtime, SHOP)
    value = {
        "margin": 0.6,
        "annual_discount_rate": 0.08,
        "plans": [{"plan": "Monthly Roast", "currency": "eur", "price": 24, "one_time_price": 28}],
    }
    saved = await client.put("/api/admin/settings/value", json=value, headers=auth())
    assert saved.status_code == 200, saved.text
    plan = saved.json()["value"]["plans"][0]
    assert (plan["plan_id"], plan["currency"], plan["price"]) == ("Monthly Roast", "EUR", 24.0)
    owner = await client.put(
        "/api/admin/settings/workspace", json={"value_owner": " Ana "}, headers=auth()
    )
    assert owner.json() == {"workspace": {"value_owner": "Ana"}}
    surveys = await client.put(
        "/api/admin/settings/surveys",
        json={"nps_delay_days": 3, "labels": {"FR": {"nps.title": "Votre avis"}}},
        headers=auth(),
    )
    assert surveys.json()["surveys"]["labels"] == {"fr": {"nps.title": "Votre avis"}}
    settings = await stored(runtime)
    assert settings["value"]["margin"] == 0.6 and settings["workspace"]["value_owner"] == " Ana "
    again = (await client.get("/api/admin/settings", headers=auth())).json()
    assert again["surveys"]["nps_delay_days"] == 3.0
    assert again["value"]["margin"] == 0.6
    # Another shop still has its defaults.
    theirs = (await client.get("/api/admin/settings", headers=auth(OTHER))).json()
    assert theirs["value"]["margin"] == 1.0 and theirs["workspace"]["value_owner"] == ""


@pytest.mark.parametrize(
    ("section", "body", "field"),
    [
        ("value", {"margin": 1.5}, "value.margin"),
        (
            "value",
            {"plans": [{"plan": "A", "currency": "EURO", "price": 1}]},
            "value.plans[0].currency",
        ),
        (
            "value",
            {"plans": [{"plan": "A", "currency": "EUR", "price": -1, "one_time_price": 1}]},
            "value.plans[0].price",
        ),
        ("surveys", {"nps_delay_days": 100}, "surveys.nps_delay_days"),
        ("surveys", {"nps_throttle_days": "soon"}, "surveys.nps_throttle_days"),
        ("surveys", {"colour": "red"}, "surveys.colour"),
        ("workspace", {"value_owner": "x" * 201}, "workspace.value_owner"),
        ("workspace", {"value_owner": 7}, "workspace.value_owner"),
    ],
)
async def test_a_bad_value_is_refused_naming_it_and_nothing_changes(
    client: httpx.AsyncClient, runtime: Runtime, section: str, body: Any, field: str
) -> None:
    await ShopBuilder.create(runtime, SHOP, settings={"value": {"margin": 0.5}})
    response = await client.put(f"/api/admin/settings/{section}", json=body, headers=auth())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert await stored(runtime) == {"value": {"margin": 0.5}}


async def test_bodies_that_are_not_json_objects_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await ShopBuilder.create(runtime, SHOP)
    text = await client.put(
        "/api/admin/settings/value",
        content=b"margin=1",
        headers={**auth(), "Content-Type": "text/plain"},
    )
    assert text.status_code == 422 and text.json()["error"]["field"] == "body"
    broken = await client.put(
        "/api/admin/settings/value",
        content=b"{",
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    listed = await client.put("/api/admin/settings/value", json=[1], headers=auth())
    assert listed.status_code == 422
    assert (
        await client.put("/api/admin/settings/billing", json={}, headers=auth())
    ).status_code == 404


async def test_reasons_are_added_revised_retired_and_reordered_in_versions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await ShopBuilder.create(runtime, SHOP)
    added = await client.post(
        "/api/admin/settings/reasons",
        json={"code": "too_salty", "driver": "product_fit", "labels": {"en": "Too salty"}},
        headers=auth(),
    )
    assert added.status_code == 201, added.text
    codes = [r["code"] for r in added.json()["reasons"]]
    assert "too_salty" in codes and codes[-1] == "other"  # added before "other"
    revised = await client.patch(
        "/api/admin/settings/reasons/too_salty", json={"driver": "price_value"}, headers=auth()
    )
    salty = next(r for r in revised.json()["reasons"] if r["code"] == "too_salty")
    assert (salty["version"], salty["driver"], salty["labels"]) == (
        2,
        "price_value",
        {"en": "Too salty"},
    )
    retired = await client.patch(
        "/api/admin/settings/reasons/too_salty", json={"active": False}, headers=auth()
    )
    salty = next(r for r in retired.json()["reasons"] if r["code"] == "too_salty")
    assert (salty["version"], salty["active"]) == (2, False)  # retiring is not a new meaning
    order = await client.put(
        "/api/admin/settings/reasons/order", json={"codes": ["too_salty"]}, headers=auth()
    )
    assert order.json()["reasons"][0]["code"] == "too_salty"
    async with runtime.sessionmaker() as session:
        versions = (
            await session.scalars(
                select(CancelReasonOption.version).where(CancelReasonOption.code == "too_salty")
            )
        ).all()
    assert sorted(versions) == [1, 2]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/admin/settings/reasons", {"code": "Bad Code", "driver": "price_value"}),
        ("POST", "/api/admin/settings/reasons", {"code": "payment_failed", "driver": "other"}),
        ("POST", "/api/admin/settings/reasons", {"code": "new_one", "driver": "vibes"}),
        ("PATCH", "/api/admin/settings/reasons/no_such", {"driver": "other"}),
        ("PATCH", "/api/admin/settings/reasons/other", {"labels": "Other"}),
        ("PUT", "/api/admin/settings/reasons/order", {"codes": ["no_such"]}),
        ("PUT", "/api/admin/settings/reasons/order", {"codes": "other"}),
    ],
)
async def test_a_bad_reason_edit_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: Any
) -> None:
    await ShopBuilder.create(runtime, SHOP)
    before = (await client.get("/api/admin/settings", headers=auth())).json()["reasons"]
    response = await client.request(method, path, json=body, headers=auth())
    assert response.status_code == 422
    after = (await client.get("/api/admin/settings", headers=auth())).json()["reasons"]
    assert after == before
