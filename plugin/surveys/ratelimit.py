"""A small sliding-window rate limiter: in process memory without REDIS_URL, Redis with it.

Sliding log: each allowed request is remembered with its time; a request is allowed when fewer
than `limit.requests` were allowed in the last `limit.window_s` seconds. Refused requests are
not remembered, so a client that keeps hammering gets in again as soon as its old requests
age out, and `retry_after` says exactly when. With several web processes the Redis backend
gives one shared count (an atomic Lua script per hit); the memory backend counts per process.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Protocol

# Per customer on every survey channel (pages and answers together): an honest subscriber needs
# a handful; this stops a script re-submitting answers in a loop.
CUSTOMER_LIMIT_REQUESTS = 30
# Per client IP on the signed-link pages only: app proxy requests all come from Shopify's
# servers, so a per-IP limit there would throttle every store at once.
IP_LIMIT_REQUESTS = 60
WINDOW_SECONDS = 600.0


@dataclass(frozen=True)
class Limit:
    requests: int
    window_s: float


CUSTOMER_LIMIT = Limit(CUSTOMER_LIMIT_REQUESTS, WINDOW_SECONDS)
IP_LIMIT = Limit(IP_LIMIT_REQUESTS, WINDOW_SECONDS)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed; 0 when allowed


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: Limit, *, now: float | None = None) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Per-process limiter. Memory is bounded: the least recently used keys are dropped first
    (forgetting an idle key can only let a request through, never block one wrongly)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys = max_keys

    async def hit(self, key: str, limit: Limit, *, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        log = self._hits.get(key)
        if log is None:
            log = self._hits[key] = deque()
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        horizon = now - limit.window_s
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) < limit.requests:
            log.append(now)
            return Decision(True, 0.0)
        return Decision(False, max(log[0] + limit.window_s - now, 0.0))

    async def aclose(self) -> None:
        self._hits.clear()


# KEYS[1] the key; ARGV: now, window (s), limit, unique member. Returns {allowed, retry_after}
# (retry_after as a string: Lua numbers are truncated to integers on the way back).
_SLIDING_WINDOW = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


class RedisRateLimiter:
    """Shared limiter on Redis: one sorted set per key, trimmed and counted atomically."""

    def __init__(self, redis_url: str, *, prefix: str = "vh:ratelimit:") -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(redis_url)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._prefix = prefix

    async def hit(self, key: str, limit: Limit, *, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        allowed, retry_after = await self._script(
            keys=[self._prefix + key],
            args=[repr(now), repr(limit.window_s), limit.requests, f"{now!r}:{uuid.uuid4().hex}"],
        )
        return Decision(bool(int(allowed)), max(float(retry_after), 0.0))

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_limiter(redis_url: str | None, *, prefix: str = "vh:ratelimit:") -> RateLimiter:
    return RedisRateLimiter(redis_url, prefix=prefix) if redis_url else MemoryRateLimiter()


def retry_after_header(decision: Decision) -> str:
    """Whole seconds for the Retry-After header (at least 1 when refused)."""
    return str(max(1, math.ceil(decision.retry_after)))
