"""The sliding-window limiter, in memory and on the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from plugin.surveys.ratelimit import (
    Limit,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_limiter,
    retry_after_header,
)

LIMIT = Limit(requests=3, window_s=10.0)


async def exercise_sliding_window(limiter: RateLimiter) -> None:
    key = f"customer:{uuid.uuid4().hex}"
    assert [(await limiter.hit(key, LIMIT, now=100.0 + i)).allowed for i in range(3)] == [True] * 3
    refused = await limiter.hit(key, LIMIT, now=105.0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(5.0)  # the first hit (t=100) leaves at t=110
    assert retry_after_header(refused) == "5"
    # The window slides: at t=110.5 the first hit is gone, one more is allowed, then refused.
    assert (await limiter.hit(key, LIMIT, now=110.5)).allowed
    assert not (await limiter.hit(key, LIMIT, now=110.6)).allowed
    # Keys are independent.
    assert (await limiter.hit(key + "-other", LIMIT, now=110.6)).allowed


async def test_memory_limiter() -> None:
    await exercise_sliding_window(MemoryRateLimiter())


async def test_memory_limiter_stays_bounded() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for i in range(50):
        await limiter.hit(f"ip:{i}", LIMIT, now=1.0)
    assert len(limiter._hits) == 10


@pytest.fixture
async def redis_limiter(redis_url: str) -> AsyncIterator[RedisRateLimiter]:
    prefix = f"vh:test:ratelimit:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(redis_url, prefix=prefix)
    try:
        yield limiter
    finally:
        await limiter.aclose()
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_redis_limiter(redis_limiter: RedisRateLimiter, redis_url: str) -> None:
    await exercise_sliding_window(redis_limiter)
    # The key expires with its window: nothing is left behind in Redis for idle clients.
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=redis_limiter._prefix + "*")]
        assert keys
        ttls = [await client.pttl(key) for key in keys]
        assert all(0 < ttl <= 10_000 for ttl in ttls)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_limiter_counts_concurrent_hits_once_each(
    redis_limiter: RedisRateLimiter,
) -> None:
    limit = Limit(requests=5, window_s=60.0)
    decisions = await asyncio.gather(*(redis_limiter.hit("burst", limit) for _ in range(20)))
    assert sum(d.allowed for d in decisions) == 5


def test_backend_follows_redis_url(redis_url: str) -> None:
    assert isinstance(build_limiter(None), MemoryRateLimiter)
    assert isinstance(build_limiter(redis_url), RedisRateLimiter)
