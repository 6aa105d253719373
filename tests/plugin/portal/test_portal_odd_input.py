"""A JSON body nested deeper than the parser recurses is a 422 naming the body, never a 500,
on every portal route that reads JSON."""

from __future__ import annotations

from datetime import timedelta

import httpx

from plugin.db.transaction import transaction
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.surveys.links import make_token
from tests.plugin.portal.portal_helpers import JSON, bearer
from tests.plugin.surveys.survey_factories import add_invitation, world

NESTED = ("[" * 5000 + "]" * 5000).encode()
JSON_BODY = {**JSON, "Content-Type": "application/json"}


async def test_deeply_nested_json_to_the_extension_api_is_422(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await world(runtime)
    response = await client.post(
        "/api/portal/nps", content=NESTED, headers={**JSON_BODY, **bearer(w.customer_id)}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "body"


async def test_deeply_nested_json_to_a_signed_link_is_422(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await world(runtime)
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        inv = await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, sent_at=now, expires_at=now + timedelta(days=3)
        )
    token = make_token(
        runtime.settings,
        invitation_id=inv.id,
        shop_id=w.shop_id,
        customer_id=w.customer_id,
        expires_at=inv.expires_at,
    )
    response = await client.post(f"/s/{token}", content=NESTED, headers=JSON_BODY)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "body"
