"""Admin API authentication and shop scoping: the session token decides the shop, always."""

from __future__ import annotations

import time

import httpx
import pytest

from plugin.runtime import Runtime
from plugin.scoring.recompute import recompute_shop_now
from tests.plugin.scoring.builders import ShopBuilder, at
from tests.support.signing import session_token

SHOP_A = "alpha-coffee.myshopify.com"
SHOP_B = "beta-tea.myshopify.com"
NOW = at(2026, 3, 11, 3)
ENDPOINTS = [
    "/api/admin/overview",
    "/api/admin/retention",
    "/api/admin/subscribers",
    "/api/admin/subscribers/501",
    "/api/admin/trends?metric=mrr",
]


def bearer(shop: str, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop, **claims)}"}  # type: ignore[arg-type]


async def two_shops(runtime: Runtime) -> tuple[ShopBuilder, ShopBuilder]:
    """Alpha: one $25 subscriber (customer 501). Beta: two $40 subscribers (601, 602)."""
    a = await ShopBuilder.create(runtime, SHOP_A)
    ada = await a.subscriber(501)
    await a.contract(ada, started=at(2026, 1, 5), amount="25.00")
    b = await ShopBuilder.create(runtime, SHOP_B)
    for customer in (601, 602):
        sub = await b.subscriber(customer)
        await b.contract(sub, started=at(2026, 1, 7), amount="40.00")
    for shop in (a, b):
        await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    return a, b


@pytest.mark.parametrize("path", ENDPOINTS)
# Signing the HS512 token (refused for its algorithm) with the app's secret warns that the key is
# short for SHA-512; that token exists only to be refused.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_requests_without_a_valid_token_are_refused(
    client: httpx.AsyncClient, path: str
) -> None:
    now = time.time()
    refused = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Token {session_token(shop=SHOP_A)}"},
        bearer(SHOP_A, secret="not-the-app-secret-but-as-long-as-one-0123456789"),
        bearer(SHOP_A, now=now - 3600),  # expired an hour ago
        bearer(SHOP_A, aud="another-app"),
        bearer(SHOP_A, algorithm="HS512"),
        # A customer-account token is for the portal, not the admin.
        bearer(SHOP_A, sub="gid://shopify/Customer/501"),
    ]
    for headers in refused:
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        assert body["error"]["code"] in {"missing_token", "invalid_session_token"}
        token = headers.get("Authorization", "").partition(" ")[2]
        if token:
            assert token not in response.text


async def test_each_shop_sees_only_its_own_numbers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await two_shops(runtime)
    a = (await client.get("/api/admin/overview", headers=bearer(SHOP_A))).json()
    b = (await client.get("/api/admin/overview", headers=bearer(SHOP_B))).json()
    assert (a["shop"], a["subscribers"]["active"], a["mrr"]["amount"]) == (SHOP_A, 1, 25.0)
    assert (b["shop"], b["subscribers"]["active"], b["mrr"]["amount"]) == (SHOP_B, 2, 80.0)

    listed_a = (await client.get("/api/admin/subscribers", headers=bearer(SHOP_A))).json()
    listed_b = (await client.get("/api/admin/subscribers", headers=bearer(SHOP_B))).json()
    assert [i["customer_id"] for i in listed_a["items"]] == [501]
    assert sorted(i["customer_id"] for i in listed_b["items"]) == [601, 602]

    own = await client.get("/api/admin/subscribers/601", headers=bearer(SHOP_B))
    assert own.status_code == 200
    assert own.json()["customer_id"] == 601
    assert [c["recurring_amount"] for c in own.json()["contracts"]] == [40.0]
    # Beta's customer through Alpha's token: not found, and nothing of it in the answer.
    other = await client.get("/api/admin/subscribers/601", headers=bearer(SHOP_A))
    assert other.status_code == 404
    assert "40" not in other.text

    # A query parameter cannot name another shop.
    sneaky = await client.get(f"/api/admin/overview?shop={SHOP_B}", headers=bearer(SHOP_A))
    assert sneaky.json()["shop"] == SHOP_A


async def test_shop_without_results_gets_a_clear_empty_answer(client: httpx.AsyncClient) -> None:
    # A merchant can open the app before any webhook has told us about the shop.
    headers = bearer("fresh-install.myshopify.com")
    overview = await client.get("/api/admin/overview", headers=headers)
    assert overview.status_code == 200
    body = overview.json()
    assert body["computed_at"] is None
    assert body["status"] == "not_computed"
    assert body["shop"] == "fresh-install.myshopify.com"
    assert body["mrr"]["amount"] is None
    assert "not computed yet" in body["missing"]["*"]
    retention = (await client.get("/api/admin/retention", headers=headers)).json()
    assert retention["computed_at"] is None and retention["cohorts"] == []
    listed = (await client.get("/api/admin/subscribers", headers=headers)).json()
    assert listed["items"] == [] and listed["next_cursor"] is None
    missing = await client.get("/api/admin/subscribers/501", headers=headers)
    assert missing.status_code == 404
    points = (await client.get("/api/admin/trends?metric=mrr", headers=headers)).json()
    assert points["points"] == []


async def test_known_shop_before_its_first_recompute(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await ShopBuilder.create(runtime, SHOP_A)
    ada = await shop.subscriber(501)
    await shop.contract(ada, started=at(2026, 1, 5))
    body = (await client.get("/api/admin/overview", headers=bearer(SHOP_A))).json()
    assert body["computed_at"] is None and body["status"] == "not_computed"
    detail = await client.get("/api/admin/subscribers/501", headers=bearer(SHOP_A))
    assert detail.status_code == 200
    assert detail.json()["value_score"] is None
    assert len(detail.json()["contracts"]) == 1
