"""Self-service and the cancel flow through the customer-account extension's JSON API: the
customer from the session token only, the same changes and records as the proxy pages."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from plugin.models import ContractChange
from plugin.models.self_service import CancelFlow, SelfServiceAction
from plugin.runtime import Runtime
from tests.plugin.portal.portal_helpers import bearer
from tests.support.fake_shopify import FakeShopify
from tests.support.self_service import self_service_world
from tests.support.signing import SHOP


async def rows(rt: Runtime, model: Any) -> list[Any]:
    async with rt.sessionmaker() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


async def test_the_subscription_as_json_and_a_skip(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    listing = await shop_client.get("/api/portal/subscriptions", headers=bearer(world.customer_id))
    assert listing.json() == {
        "subscriptions": [{"contract_id": 601, "name": "Every month", "status": "active"}]
    }
    url = f"/api/portal/subscriptions/{world.contract_id}"
    shown = (await shop_client.get(url, headers=bearer(world.customer_id))).json()
    assert shown["next_delivery"]["cycle"] == 4
    assert [c["plan_id"] for c in shown["frequency_choices"]] == [7001, 7002]
    assert shown["frequency_choices"][0]["current"] is True
    response = await shop_client.post(
        url, json={"action": "skip", "cycle": 4}, headers=bearer(world.customer_id)
    )
    assert response.status_code == 200
    assert response.json()["subscription"]["next_delivery"]["cycle"] == 5
    assert response.headers["access-control-allow-origin"] == "*"
    [action] = await rows(rt, SelfServiceAction)
    assert (action.action, action.channel) == ("skip", "extension")
    [change] = await rows(rt, ContractChange)
    assert change.source == "subscriber"


async def test_a_refusal_is_json_naming_the_field(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await shop_client.post(
        f"/api/portal/subscriptions/{world.contract_id}",
        json={"action": "quantity", "line": 1, "quantity": 500},
        headers=bearer(world.customer_id),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "quantity"
    assert fake.changes == []


async def test_another_customers_token_reaches_nothing(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    await self_service_world(rt, fake, customer_id=502, contract_id=602)
    response = await shop_client.post(
        f"/api/portal/subscriptions/{world.contract_id}",
        json={"action": "pause"},
        headers=bearer(502),
    )
    assert response.status_code == 404
    assert fake.changes == []
    assert (await shop_client.get("/api/portal/subscriptions")).status_code == 401


async def test_cancel_flow_offer_then_cancel(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake, offers={"budget": {"kind": "pause", "months": 1}})
    started = await shop_client.post(
        "/api/portal/cancel-flow",
        json={"contract_id": world.contract_id, "reason": "budget"},
        headers=bearer(world.customer_id),
    )
    assert started.status_code == 201
    body = started.json()
    assert body["offer"] == {"kind": "pause", "months": 1, "text": "Pause for 1 month instead"}
    decided = await shop_client.post(
        f"/api/portal/cancel-flow/{body['flow_id']}",
        json={"decision": "cancel"},
        headers=bearer(world.customer_id),
    )
    assert decided.json() == {"outcome": "cancelled"}
    assert fake.contracts[SHOP][world.gid].status == "CANCELLED"
    [flow] = await rows(rt, CancelFlow)
    assert (flow.channel, flow.outcome) == ("extension", "cancelled")
    again = await shop_client.post(
        f"/api/portal/cancel-flow/{body['flow_id']}",
        json={"decision": "accept"},
        headers=bearer(world.customer_id),
    )
    assert again.status_code == 409


async def test_an_unknown_reason_starts_no_flow(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await shop_client.post(
        "/api/portal/cancel-flow",
        json={"contract_id": world.contract_id, "reason": "aliens"},
        headers=bearer(world.customer_id),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "reason"
    assert await rows(rt, CancelFlow) == []
