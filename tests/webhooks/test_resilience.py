"""Duplicate storms on real PostgreSQL and Redis, and a database that is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from sqlalchemy import select

from plugin.app import create_app
from plugin.db.migrate import upgrade_head
from plugin.inbox import inbox_job_key
from plugin.models import Shop, WebhookInbox
from plugin.queue import ArqQueue, job_key_of
from plugin.runtime import Runtime, build_runtime
from tests.conftest import make_settings
from tests.support import servers
from tests.support.asgi import asgi_client
from tests.support.signing import signed_webhook
from tests.webhooks.conftest import empty_inbox, row_counts

TOPIC = "subscription_billing_attempts/success"
STORM = 50


@pytest.fixture
async def arq_runtime(pg_url: str, redis_url: str) -> AsyncIterator[tuple[Runtime, str]]:
    """PostgreSQL and an Arq queue on real Redis under a queue name of its own."""
    queue_name = f"vh-test-webhooks-{uuid.uuid4().hex[:8]}"
    runtime = await build_runtime(make_settings(pg_url, REDIS_URL=redis_url), queue_name=queue_name)
    try:
        yield runtime, queue_name
    finally:
        assert isinstance(runtime.queue, ArqQueue)
        await runtime.queue.drop()
        await empty_inbox(runtime)
        await runtime.close()


async def queued_jobs(redis_url: str, queue_name: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [m.decode() for m in await client.zrange(queue_name, 0, -1)]
    finally:
        await client.aclose()


async def test_same_delivery_fifty_times_at_once_stores_one_row_and_one_job(
    arq_runtime: tuple[Runtime, str], redis_url: str
) -> None:
    runtime, queue_name = arq_runtime
    body, headers = signed_webhook(TOPIC, {"id": 7, "order_id": 9}, webhook_id="storm")
    async with asgi_client(create_app(runtime=runtime)) as client:
        responses = await asyncio.gather(
            *(client.post("/webhooks", content=body, headers=headers) for _ in range(STORM))
        )
    assert [r.status_code for r in responses] == [200] * STORM
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted"] + ["duplicate"] * (STORM - 1)
    assert await row_counts(runtime) == (1, 1)
    async with runtime.sessionmaker() as session:
        shop_id = await session.scalar(select(WebhookInbox.shop_id))
    assert shop_id is not None
    [job_id] = await queued_jobs(redis_url, queue_name)
    assert job_key_of(job_id) == inbox_job_key(shop_id)


async def test_first_deliveries_of_a_new_shop_at_once_create_one_shop(
    arq_runtime: tuple[Runtime, str], redis_url: str
) -> None:
    runtime, queue_name = arq_runtime
    shop = "brand-new.myshopify.com"
    deliveries = [
        signed_webhook(TOPIC, {"id": i}, shop=shop, webhook_id=f"new-{i}") for i in range(STORM)
    ]
    async with asgi_client(create_app(runtime=runtime)) as client:
        responses = await asyncio.gather(
            *(client.post("/webhooks", content=b, headers=h) for b, h in deliveries)
        )
    assert {r.json()["status"] for r in responses} == {"accepted"}
    async with runtime.sessionmaker() as session:
        shops = (await session.scalars(select(Shop.id))).all()
        owners = set((await session.scalars(select(WebhookInbox.shop_id))).all())
    assert len(shops) == 1 and owners == set(shops)
    assert await row_counts(runtime) == (1, STORM)
    # One wake-up for the shop: its job drains all fifty rows.
    assert len(await queued_jobs(redis_url, queue_name)) == 1


async def test_redis_down_still_accepts_and_leaves_the_row_for_the_sweeper(
    pg_url: str,
) -> None:
    # Port 1 refuses connections: the enqueue after commit fails, the row is already durable.
    runtime = await build_runtime(make_settings(pg_url, REDIS_URL="redis://127.0.0.1:1/0"))
    try:
        body, headers = signed_webhook(TOPIC, {"id": 1})
        async with asgi_client(create_app(runtime=runtime)) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            response = await client.post("/webhooks", content=body, headers=headers)
            elapsed = loop.time() - started
        assert response.status_code == 200
        assert await row_counts(runtime) == (1, 1)
        # No connection retries on the request path: Shopify gives up after 5 s.
        assert elapsed < 2.0
    finally:
        await empty_inbox(runtime)
        await runtime.close()


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/valuehealth", id="closed-port"),
        pytest.param(
            "postgresql+asyncpg://postgres@127.0.0.1:5432/vh_nonexistent", id="no-database"
        ),
    ],
)
async def test_database_down_is_503_so_shopify_retries(database_url: str) -> None:
    runtime = await build_runtime(make_settings(database_url))
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            body, headers = signed_webhook(TOPIC, {"id": 1})
            response = await client.post("/webhooks", content=body, headers=headers)
            assert response.status_code == 503
            assert response.headers["retry-after"]
            # A bad signature is still refused without touching the database.
            headers["X-Shopify-Hmac-Sha256"] = "AAAA"
            refused = await client.post("/webhooks", content=body, headers=headers)
            assert refused.status_code == 401
    finally:
        await runtime.close()


async def test_payload_postgres_cannot_store_is_400_and_stores_nothing(
    pg_url: str, redis_url: str
) -> None:
    # JSON allows "\u0000" in strings; PostgreSQL's jsonb does not. A clear 400, not a 5xx loop.
    runtime = await build_runtime(make_settings(pg_url))
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            body, headers = signed_webhook(TOPIC, {"note": "a\u0000b"})
            response = await client.post("/webhooks", content=body, headers=headers)
        assert response.status_code == 400
        assert await row_counts(runtime) == (0, 0)
    finally:
        await empty_inbox(runtime)
        await runtime.close()


async def test_one_unstorable_payload_does_not_fail_the_deliveries_batched_with_it(
    arq_runtime: tuple[Runtime, str], redis_url: str
) -> None:
    runtime, queue_name = arq_runtime
    async with asgi_client(create_app(runtime=runtime)) as client:
        body, headers = signed_webhook(TOPIC, {"id": 0})
        assert (await client.post("/webhooks", content=body, headers=headers)).status_code == 200
        # The shop is known now: these share batched inserts.
        deliveries = [signed_webhook(TOPIC, {"id": i}) for i in range(1, 20)]
        deliveries.insert(7, signed_webhook(TOPIC, {"id": 99, "note": "bad\u0000byte"}))
        responses = await asyncio.gather(
            *(client.post("/webhooks", content=b, headers=h) for b, h in deliveries)
        )
    codes = [r.status_code for r in responses]
    assert codes == [200] * 7 + [400] + [200] * 12
    assert await row_counts(runtime) == (1, 20)
    assert len(await queued_jobs(redis_url, queue_name)) == 1  # the shop's one wake-up


async def test_database_lost_after_the_shop_is_cached_is_503() -> None:
    """The batched path (known shop) maps a lost database to 503 like the session path."""
    url = await asyncio.to_thread(servers.create_database)
    await asyncio.to_thread(upgrade_head, url)
    runtime = await build_runtime(make_settings(url))
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            body, headers = signed_webhook(TOPIC, {"id": 1})
            assert (
                await client.post("/webhooks", content=body, headers=headers)
            ).status_code == 200
            await asyncio.to_thread(servers.drop_database, url)
            body, headers = signed_webhook(TOPIC, {"id": 2})
            response = await client.post("/webhooks", content=body, headers=headers)
        assert response.status_code == 503
    finally:
        await runtime.close()
        await asyncio.to_thread(servers.drop_database, url)
