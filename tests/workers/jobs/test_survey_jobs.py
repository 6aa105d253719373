"""Survey crons and the Flow announcement of released NPS invitations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from plugin.app import build_app_runtime
from plugin.db.transaction import transaction
from plugin.models import InvitationStatus, NpsInvitation, Shop
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.shopify.tokens import TokenCipher
from plugin.surveys.links import read_token
from tests.conftest import empty_tables, make_settings
from tests.plugin.surveys.survey_factories import add_invitation, all_rows, world
from workers.jobs.surveys import (
    CRONS,
    JOBS,
    expire_nps_invitations,
    finalise_cancel_reasons,
    release_nps_invitations,
)
from workers.registry import JOB_SPECS
from workers.registry import JOBS as REGISTRY


class FlowRecorder:
    """Shopify's GraphQL endpoint, as far as the Flow trigger goes."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append({"headers": dict(request.headers), "url": str(request.url), **body})
        return httpx.Response(
            200, json={"data": {"flowTriggerReceive": {"userErrors": []}}, "extensions": {}}
        )


@pytest.fixture
def flow() -> FlowRecorder:
    return FlowRecorder()


@pytest.fixture
async def rt(db_url: str, flow: FlowRecorder) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(
        make_settings(db_url), http=httpx.AsyncClient(transport=httpx.MockTransport(flow))
    )
    try:
        yield runtime
    finally:
        await empty_tables(runtime)
        await runtime.close()


def test_jobs_are_registered_and_crons_exported() -> None:
    for name in JOBS:
        assert REGISTRY[name] is JOBS[name] and name in JOB_SPECS
    assert {c.name for c in CRONS} == {
        "cron:release_nps_invitations",
        "cron:expire_nps_invitations",
        "cron:finalise_cancel_answers",
    }


async def test_release_announces_each_invitation_to_flow(rt: Runtime, flow: FlowRecorder) -> None:
    w = await world(rt)
    now = utcnow()
    async with transaction(rt.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        shop.access_token_enc = TokenCipher(rt.settings.token_encryption_key).encrypt("tok-1")
        due = await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            order_id=w.order_id,
            status=InvitationStatus.SCHEDULED,
            send_at=now - timedelta(minutes=1),
            expires_at=now + timedelta(days=14),
        )
        await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            status=InvitationStatus.SCHEDULED,
            send_at=now + timedelta(days=1),
            expires_at=now + timedelta(days=15),
        )
    ctx = {"runtime": rt}
    assert await release_nps_invitations(ctx) == 1
    assert await release_nps_invitations(ctx) == 0
    assert isinstance(rt.queue, InProcessQueue)
    await rt.queue.drain()
    assert rt.queue.failures == []
    [call] = flow.calls
    assert call["url"].endswith("/admin/api/2026-10/graphql.json")
    assert call["headers"]["x-shopify-access-token"] == "tok-1"
    assert call["variables"]["handle"] == "nps-survey-ready"
    payload = call["variables"]["payload"]
    assert payload["customer_id"] == w.customer_id and payload["Order ID"] == str(w.order_id)
    token = payload["Survey URL"].rsplit("/", 1)[1]
    claims = read_token(token, rt.settings, now=utcnow())
    assert (claims.invitation_id, claims.shop_id, claims.customer_id) == (
        due.id,
        w.shop_id,
        w.customer_id,
    )


async def test_no_token_no_announcement(rt: Runtime, flow: FlowRecorder) -> None:
    w = await world(rt)
    now = utcnow()
    async with transaction(rt.sessionmaker, None) as tx:
        await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            status=InvitationStatus.SCHEDULED,
            send_at=now - timedelta(minutes=1),
            expires_at=now + timedelta(days=14),
        )
    assert await release_nps_invitations({"runtime": rt}) == 1
    assert isinstance(rt.queue, InProcessQueue)
    await rt.queue.drain()
    assert rt.queue.failures == [] and flow.calls == []
    [invitation] = await all_rows(rt, NpsInvitation)
    assert invitation.status == "pending"  # waiting in the portal all the same


async def test_expiry_and_finalising_crons(rt: Runtime) -> None:
    w = await world(rt)
    now = utcnow()
    async with transaction(rt.sessionmaker, None) as tx:
        await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            sent_at=now - timedelta(days=15),
            expires_at=now - timedelta(days=1),
        )
    ctx = {"runtime": rt}
    assert await expire_nps_invitations(ctx) == 1
    assert await expire_nps_invitations(ctx) == 0
    assert await finalise_cancel_reasons(ctx) == 0
