"""The customer-account extension API: Bearer session tokens, CORS, the same answers."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from plugin.db.transaction import transaction
from plugin.models import Cancellation, NpsResponse, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.plugin.portal.portal_helpers import JSON, anonymous_bearer, bearer
from tests.plugin.surveys.survey_factories import (
    World,
    add_invitation,
    add_subscriber,
    count,
    world,
)
from tests.support.signing import session_token

OTHER_SHOP = "another-store.myshopify.com"


async def invited(runtime: Runtime, **kwargs: object) -> World:
    w = await world(runtime, **kwargs)  # type: ignore[arg-type]
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, sent_at=now, expires_at=now + timedelta(days=3)
        )
    return w


async def test_cors_preflight(lite_client: httpx.AsyncClient) -> None:
    response = await lite_client.options(
        "/api/portal/nps",
        headers={
            "Origin": "https://extensions.shopifycdn.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in response.headers


async def test_the_pending_survey_and_an_answer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await invited(runtime)
    survey = await client.get(
        f"/api/portal/survey?contract_id={w.contract_id}&locale=fr", headers=bearer(w.customer_id)
    )
    assert survey.status_code == 200
    assert survey.headers["access-control-allow-origin"] == "*"
    body = survey.json()
    assert body["locale"] == "fr" and body["nps"]["max_comment"] == 2000
    reasons = body["cancel"]["reasons"]
    assert reasons[0] == {
        "code": "too_expensive",
        "label": "C’est trop cher",
        "requires_comment": False,
    }
    assert reasons[-1]["code"] == "other" and reasons[-1]["requires_comment"] is True
    created = await client.post(
        "/api/portal/nps",
        json={
            "score": 6,
            "value_for_money": 2,
            "comment": "Late box",
            "invitation_id": body["nps"]["invitation_id"],
        },
        headers=bearer(w.customer_id),
    )
    assert created.status_code == 201, created.text
    assert created.headers["access-control-allow-origin"] == "*"
    assert created.json()["response"]["channel"] == "extension"
    reason = await client.post(
        "/api/portal/cancel-reason",
        json={
            "contract_id": f"gid://shopify/SubscriptionContract/{w.contract_id}",
            "reason": "shipping_problems",
        },
        headers=bearer(w.customer_id),
    )
    assert reason.status_code == 201, reason.text
    assert reason.json()["cancellation"]["reason"] == "shipping_problems"
    again = await client.get("/api/portal/survey", headers=bearer(w.customer_id))
    assert again.json()["nps"] is None


async def test_authentication(lite_client: httpx.AsyncClient, lite_runtime: Runtime) -> None:
    w = await invited(lite_runtime)
    now = time.time()
    refused = {
        "no token": {"Accept": "application/json"},
        "not bearer": {"Authorization": "Basic abc", **JSON},
        "garbage": {"Authorization": "Bearer not.a.jwt", **JSON},
        "wrong secret": bearer(w.customer_id, secret="another-apps-secret-of-a-decent-length"),
        "expired": bearer(w.customer_id, now=now - 3600),
        "other app": bearer(w.customer_id, aud="someone-elses-app"),
        "staff token": {"Authorization": f"Bearer {session_token(sub='42')}", **JSON},
        "anonymous": anonymous_bearer(),
    }
    for name, headers in refused.items():
        response = await lite_client.post("/api/portal/nps", json={"score": 9}, headers=headers)
        assert response.status_code == 401, name
        assert response.headers["access-control-allow-origin"] == "*", name
    # Valid tokens for another customer or another shop reach nothing of this subscriber's.
    other_customer = await lite_client.post(
        "/api/portal/nps", json={"score": 9}, headers=bearer(w.customer_id + 1)
    )
    assert other_customer.status_code == 409
    other_shop = await lite_client.post(
        "/api/portal/nps", json={"score": 9}, headers=bearer(w.customer_id, shop=OTHER_SHOP)
    )
    assert other_shop.status_code == 404
    foreign_contract = await lite_client.post(
        "/api/portal/cancel-reason",
        json={"contract_id": w.contract_id, "reason": "budget"},
        headers=bearer(w.customer_id + 1),
    )
    assert foreign_contract.status_code == 409  # not a subscriber at all: nothing to answer
    assert await count(lite_runtime, NpsResponse) == 0
    assert await count(lite_runtime, Cancellation) == 0


async def test_a_token_for_another_customer_of_the_same_shop(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime)
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        other = await add_subscriber(tx.session, shop)
    response = await lite_client.post(
        "/api/portal/cancel-reason",
        json={"contract_id": w.contract_id, "reason": "budget"},
        headers=bearer(other.customer_id),
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "contract_id"
    nps = await lite_client.post(
        "/api/portal/nps", json={"score": 9}, headers=bearer(other.customer_id)
    )
    assert nps.status_code == 409 and nps.json()["error"]["code"] == "no_pending"
    assert await count(lite_runtime, Cancellation) == 0


async def test_validation_is_the_same_as_everywhere(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime)
    for body, field in [
        ({"score": 11}, "score"),
        ({"score": "ten"}, "score"),
        ({"score": -1}, "score"),
        ([9], "body"),
    ]:
        response = await lite_client.post(
            "/api/portal/nps", json=body, headers=bearer(w.customer_id)
        )
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
    form = await lite_client.post(
        "/api/portal/nps",
        content=b"score=9",
        headers={**bearer(w.customer_id), "Content-Type": "text/plain"},
    )
    assert form.status_code == 415
    assert await count(lite_runtime, NpsResponse) == 0
