"""`/api/admin/customer-data`: missing scopes are reported (the page asks), tags toggle."""

from __future__ import annotations

import httpx

from plugin.models import Shop
from plugin.runtime import Runtime
from tests.admin_ui.test_initiatives_api import auth

SHOP = "initiatives-api.myshopify.com"


async def test_a_shop_without_write_customers_is_told_what_to_grant(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        session.add(Shop(domain=SHOP, scopes="read_customers,read_orders"))
    body = (await client.get("/api/admin/customer-data", headers=auth())).json()
    assert body["missing_scopes"] == ["write_customers"]
    assert body["tags_enabled"] is False and body["customers_written"] == 0
    assert [m["key"] for m in body["metafields"]][:2] == ["value_segment", "churn_risk_band"]


async def test_tags_can_be_turned_on_and_bad_input_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.patch(
        "/api/admin/customer-data", json={"tags_enabled": "yes"}, headers=auth()
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "tags_enabled"
    turned = await client.patch(
        "/api/admin/customer-data", json={"tags_enabled": True}, headers=auth()
    )
    assert turned.status_code == 200 and turned.json()["tags_enabled"] is True
    body = (await client.get("/api/admin/customer-data", headers=auth())).json()
    assert body["tags_enabled"] is True
