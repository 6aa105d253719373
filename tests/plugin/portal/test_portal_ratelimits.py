"""Rate limits: per customer on every channel, per IP on the signed-link pages only; the
shared Redis backend behind the real routes too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from plugin.db.transaction import transaction
from plugin.models.base import utcnow
from plugin.portal.common import LIMITER_KEY
from plugin.runtime import Runtime
from plugin.surveys.links import make_token
from plugin.surveys.ratelimit import CUSTOMER_LIMIT, IP_LIMIT, RedisRateLimiter
from tests.plugin.portal.portal_helpers import HTML, bearer, proxy_page
from tests.plugin.surveys.survey_factories import add_invitation, world


async def test_per_customer_on_the_app_proxy_and_no_per_ip_limit(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    for _ in range(CUSTOMER_LIMIT.requests):
        assert (await proxy_page(lite_client, w.customer_id)).status_code == 200
    limited = await proxy_page(lite_client, w.customer_id)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= CUSTOMER_LIMIT.window_s
    assert "Too many attempts" in limited.text
    # Every proxy request comes from Shopify's servers: other customers are not affected.
    for offset in range(1, IP_LIMIT.requests + 5):
        assert (await proxy_page(lite_client, w.customer_id + offset)).status_code == 200


async def test_per_customer_on_the_extension_api(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    for _ in range(CUSTOMER_LIMIT.requests):
        ok = await lite_client.get("/api/portal/survey", headers=bearer(w.customer_id))
        assert ok.status_code == 200
    limited = await lite_client.post(
        "/api/portal/nps", json={"score": 1}, headers=bearer(w.customer_id)
    )
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["access-control-allow-origin"] == "*"


async def test_per_ip_and_per_customer_on_signed_links(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    now = utcnow()
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        inv = await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, sent_at=now, expires_at=now + timedelta(days=1)
        )
    token = make_token(
        lite_runtime.settings,
        invitation_id=inv.id,
        shop_id=w.shop_id,
        customer_id=w.customer_id,
        expires_at=inv.expires_at,
    )
    for _ in range(CUSTOMER_LIMIT.requests):
        assert (await lite_client.get(f"/s/{token}", headers=HTML)).status_code == 200
    assert (await lite_client.get(f"/s/{token}", headers=HTML)).status_code == 429
    # Guessing tokens from one address: the per-IP limit stops it.
    guesses = IP_LIMIT.requests - CUSTOMER_LIMIT.requests - 1
    for n in range(guesses):
        assert (await lite_client.get(f"/s/{'A' * 59}{n % 10}", headers=HTML)).status_code == 401
    assert (await lite_client.get(f"/s/{'B' * 60}", headers=HTML)).status_code == 429


@pytest.fixture
async def redis_prefix(lite_runtime: Runtime, redis_url: str) -> AsyncIterator[str]:
    """The app uses the Redis limiter, as with REDIS_URL set (unique keys, removed after)."""
    prefix = f"vh:test:portal:{uuid.uuid4().hex}:"
    lite_runtime.extras[LIMITER_KEY] = RedisRateLimiter(redis_url, prefix=prefix)
    try:
        yield prefix
    finally:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_limits_are_shared_through_redis(
    redis_prefix: str, redis_url: str, lite_runtime: Runtime, lite_client: httpx.AsyncClient
) -> None:
    w = await world(lite_runtime)
    for _ in range(CUSTOMER_LIMIT.requests):
        assert (await proxy_page(lite_client, w.customer_id)).status_code == 200
    # A second web process with its own limiter object sees the same count.
    other_process = RedisRateLimiter(redis_url, prefix=redis_prefix)
    try:
        decision = await other_process.hit(f"customer:{w.shop_id}:{w.customer_id}", CUSTOMER_LIMIT)
    finally:
        await other_process.aclose()
    assert not decision.allowed
    assert (await proxy_page(lite_client, w.customer_id)).status_code == 429
