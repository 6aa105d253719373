"""GET /healthz and GET /readyz: database, Redis and webhook backlog checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from plugin.app import create_app
from plugin.inbox import Delivery, record_delivery
from plugin.models import InboxStatus, WebhookInbox
from plugin.models.base import utcnow
from plugin.runtime import Runtime, build_runtime
from tests.conftest import make_settings
from tests.support.asgi import asgi_client


async def add_pending(runtime: Runtime, webhook_id: str, age: timedelta) -> int:
    async with runtime.sessionmaker() as session, session.begin():
        stored = await record_delivery(
            session,
            Delivery("health.myshopify.com", "orders/create", webhook_id, None, None, None, {}),
        )
        assert stored is not None
        inbox_id = stored.inbox_id
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id)
            .values(received_at=utcnow() - age)
        )
    return inbox_id


async def test_healthz_answers_without_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_in_process_with_empty_backlog(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["redis"]["status"] == "not configured"
    assert body["checks"]["backlog"] == {"status": "ok", "pending": 0, "oldest_pending_age_s": 0.0}


async def test_readyz_reports_pending_count_and_oldest_age(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await add_pending(runtime, "young", timedelta(seconds=5))
    await add_pending(runtime, "old", timedelta(seconds=90))
    handled = await add_pending(runtime, "done", timedelta(hours=5))
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == handled)
            .values(status=InboxStatus.HANDLED)
        )
    backlog = (await client.get("/readyz")).json()["checks"]["backlog"]
    assert backlog["pending"] == 2
    assert 90 <= backlog["oldest_pending_age_s"] < 120
    assert backlog["status"] == "ok"


async def test_stale_backlog_is_flagged_but_does_not_make_the_web_tier_unready(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    stale_after = 2 * runtime.settings.sweeper_after_seconds
    await add_pending(runtime, "stuck", timedelta(seconds=stale_after + 60))
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["backlog"]["status"] == "stale"


@pytest.fixture
async def redis_runtime(db_url: str, redis_url: str) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(make_settings(db_url, REDIS_URL=redis_url))
    try:
        yield runtime
    finally:
        await runtime.close()


async def test_readyz_pings_redis_when_configured(redis_runtime: Runtime) -> None:
    async with asgi_client(create_app(runtime=redis_runtime)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == {"status": "ok"}


async def test_readyz_is_503_when_redis_is_down(db_url: str) -> None:
    runtime = await build_runtime(make_settings(db_url, REDIS_URL="redis://127.0.0.1:1/0"))
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            response = await client.get("/readyz")
    finally:
        await runtime.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"]["status"] == "error"
    assert body["checks"]["database"] == {"status": "ok"}


async def test_readyz_is_503_when_the_database_is_down() -> None:
    runtime = await build_runtime(
        make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/valuehealth")
    )
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            response = await client.get("/readyz")
    finally:
        await runtime.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "error"
    assert checks["backlog"]["status"] == "error"
    # The error names the failure's type, never a message that could carry the URL.
    assert "127.0.0.1" not in response.text
