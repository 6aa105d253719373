"""`/api/admin/plans` and `/api/admin/billing` through HTTP: create and edit a plan, Shopify's
refusals as 422 with its message, the shop from the token only, dunning settings, today's run
and recovered revenue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from plugin.app import create_app
from plugin.db.transaction import transaction
from plugin.models import Contract, DunningCase, Plan, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.models.billing import DunningStatus
from plugin.runtime import Runtime
from tests.plugin.domain import conftest as domain_fixtures
from tests.plugin.domain.domain_helpers import give_token, shop_of
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP, session_token

TWO_FREQUENCIES = {
    "name": "Tea club",
    "frequencies": [
        {"interval": "month", "delivery_count": 1, "billing_count": 1},
        {"interval": "week", "delivery_count": 2, "billing_count": 2},
    ],
    "discount": {"type": "percentage", "value": 10},
    "products": ["gid://shopify/Product/7"],
}

# The event-processing fixtures: a runtime whose Admin API is the fake Shopify.
rt = domain_fixtures.rt
shopify = domain_fixtures.shopify


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


@pytest.fixture
async def api(rt: Runtime, shopify: FakeShopify) -> AsyncIterator[httpx.AsyncClient]:
    shopify.add_products(7, 8)
    async with asgi_client(create_app(runtime=rt)) as c:
        yield c


async def plans_stored(rt: Runtime) -> int:
    async with rt.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Plan)) or 0)


async def test_create_a_plan_with_two_frequencies_then_change_its_discount(
    rt: Runtime, api: httpx.AsyncClient, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    created = await api.post("/api/admin/plans", json=TWO_FREQUENCIES, headers=auth())
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["version"] == 1 and plan["group_id"].startswith("gid://shopify/SellingPlanGroup/")
    assert [f["label"] for f in plan["frequencies"]] == [
        "Delivered every month",
        "Delivered every 2 weeks",
    ]
    assert all(f["selling_plan_id"] for f in plan["frequencies"])

    edited = await api.patch(
        f"/api/admin/plans/{plan['id']}",
        json={"discount": {"type": "percentage", "value": 15}},
        headers=auth(),
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["version"] == 2 and body["discount"] == {"type": "percentage", "value": "15.00"}
    assert [v["discount"]["value"] for v in body["versions"]] == ["10.00", "15.00"]

    listing = (await api.get("/api/admin/plans", headers=auth())).json()
    assert [p["name"] for p in listing["plans"]] == ["Tea club"]
    assert listing["choices"]["max_frequencies"] == 31


async def test_refusals_are_422_with_the_reason_and_store_nothing(
    rt: Runtime, api: httpx.AsyncClient, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    bad = await api.post(
        "/api/admin/plans", json={**TWO_FREQUENCIES, "frequencies": []}, headers=auth()
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "frequencies"
    unknown = await api.post(
        "/api/admin/plans",
        json={**TWO_FREQUENCIES, "products": ["gid://shopify/Product/404"]},
        headers=auth(),
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "shopify_refused"
    assert "does not exist" in unknown.json()["error"]["message"]
    not_json = await api.post("/api/admin/plans", content=b"name=x", headers=auth())
    assert not_json.status_code == 422 and not_json.json()["error"]["field"] == "body"
    assert await plans_stored(rt) == 0


async def test_a_shop_without_a_token_is_told_to_open_the_app(
    rt: Runtime, api: httpx.AsyncClient
) -> None:
    response = await api.post("/api/admin/plans", json=TWO_FREQUENCIES, headers=auth())
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_connected"


async def test_another_shops_plan_is_not_found(
    rt: Runtime, api: httpx.AsyncClient, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    plan = (await api.post("/api/admin/plans", json=TWO_FREQUENCIES, headers=auth())).json()
    await give_token(rt, shopify, "other-shop.myshopify.com")
    other = auth("other-shop.myshopify.com")
    response = await api.patch(
        f"/api/admin/plans/{plan['id']}", json={"name": "Mine"}, headers=other
    )
    assert response.status_code == 404
    assert (await api.get("/api/admin/plans", headers=other)).json()["plans"] == []


async def test_dunning_settings_are_saved_and_bad_ones_named(
    rt: Runtime, api: httpx.AsyncClient
) -> None:
    defaults = (await api.get("/api/admin/billing", headers=auth())).json()
    assert defaults["settings"] == {
        "retry_days": [1, 3, 7],
        "final_action": "pause",
        "billing_hour": 6,
    }
    assert "involuntary churn" in defaults["explanations"]["final_action"]

    saved = await api.put(
        "/api/admin/billing/settings",
        json={"retry_days": [2, 5], "final_action": "cancel"},
        headers=auth(),
    )
    assert saved.status_code == 200
    assert saved.json()["settings"]["retry_days"] == [2, 5]
    bad = await api.put("/api/admin/billing/settings", json={"retry_days": [5, 2]}, headers=auth())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "retry_days"
    shop = await shop_of(rt)
    assert shop.settings["billing"]["final_action"] == "cancel"


async def test_recovered_revenue_per_month_is_shown(rt: Runtime, api: httpx.AsyncClient) -> None:
    async with transaction(rt.sessionmaker, None) as tx:
        shop = Shop(domain=SHOP)
        tx.session.add(shop)
        await tx.session.flush()
        subscriber = Subscriber(shop_id=shop.id, customer_id=1)
        tx.session.add(subscriber)
        await tx.session.flush()
        t = datetime(2026, 3, 1, tzinfo=UTC)
        # This month (the page shows the last twelve), early enough that day 21 is in it.
        month_start = utcnow().replace(day=1, hour=12, minute=0, second=0, microsecond=0)
        contract = Contract(
            shop_id=shop.id,
            contract_id=5,
            subscriber_id=subscriber.id,
            status="active",
            status_at=t,
            started_at=t,
        )
        tx.session.add(contract)
        await tx.session.flush()
        for index, (amount, closed) in enumerate(
            [
                ("20.00", month_start + timedelta(days=3)),
                ("12.50", month_start + timedelta(days=20)),
            ],
            start=1,
        ):
            tx.session.add(
                DunningCase(
                    shop_id=shop.id,
                    contract_pk=contract.id,
                    cycle_index=index,
                    cycle_date=closed.date(),
                    status=DunningStatus.RECOVERED,
                    failures=1,
                    retries_used=1,
                    needs_payment_update=False,
                    amount=Decimal(amount),
                    currency="USD",
                    opened_at=closed,
                    closed_at=closed,
                )
            )
    body: dict[str, Any] = (await api.get("/api/admin/billing", headers=auth())).json()
    assert body["recovered"] == [
        {"month": month_start.strftime("%Y-%m"), "currency": "USD", "amount": "32.50", "cycles": 2}
    ]
