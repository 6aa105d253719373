"""A throttle-aware Admin GraphQL client.

Written on httpx rather than `shopify_app.admin_graphql_request_async`: that helper hard-codes
`https://{shop}.myshopify.com` (ignoring SHOPIFY_ADMIN_ORIGIN), does not retry `THROTTLED`, and
sleeps with `asyncio.sleep` on its own, so it can neither honour the cost-based wait nor be
tested without real waiting.

Retry rules (docs/design.md §4 "Admin GraphQL"):
- HTTP 200 with an error whose `extensions.code` is THROTTLED: wait until the bucket holds the
  requested cost, `(requestedQueryCost - currentlyAvailable) / restoreRate`, plus jitter.
- 429: honour `Retry-After`. 5xx, network errors, unreadable bodies: exponential backoff.
- After `max_tries`, or when the wait would exceed `max_wait`, raise `TransientError` with
  `retry_after` so the job is retried later instead of holding a worker.
- 401/403: `ShopifyAuthError`, never retried. Any other error: `ShopifyGraphQLError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models.shop import Shop
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.settings import Settings
from plugin.shopify.errors import ShopifyAuthError, ShopifyGraphQLError
from plugin.shopify.httputil import json_object, retry_after
from plugin.shopify.tokens import access_token_for

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

THROTTLED = "THROTTLED"
BACKOFF_BASE_S = 1.0
JITTER = 0.25  # waits are stretched by up to 25% so throttled workers do not retry in step
# The cost report in a THROTTLED answer can be a moment old; never retry at once.
MIN_THROTTLE_WAIT_S = 0.5


@dataclass(frozen=True)
class _Retry:
    wait: float
    reason: str


class AdminGraphQL:
    """One shop's Admin GraphQL endpoint. `query()` returns the response's `data` object."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        shop: str,
        access_token: str,
        *,
        max_tries: int = 5,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.shop = shop
        self.endpoint = f"{settings.admin_url(shop)}/admin/api/{settings.api_version}/graphql.json"
        self.max_tries = max_tries
        self.max_wait = max_wait
        self._headers = {
            "X-Shopify-Access-Token": access_token,
            "Accept": "application/json",
        }
        self._sleep = sleep
        self._rand = rand

    def __repr__(self) -> str:
        return f"AdminGraphQL(shop={self.shop!r})"

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        for attempt in range(1, self.max_tries + 1):
            outcome = await self._send(body, attempt)
            if not isinstance(outcome, _Retry):
                return outcome
            wait = outcome.wait * (1 + JITTER * self._rand())
            if attempt == self.max_tries or wait > self.max_wait:
                raise TransientError(
                    f"Shopify GraphQL for {self.shop}: {outcome.reason}; gave up after "
                    f"{attempt} tries",
                    retry_after=wait,
                )
            log.info(
                "Shopify GraphQL for %s: %s; retrying in %.2f s (try %d of %d)",
                self.shop,
                outcome.reason,
                wait,
                attempt,
                self.max_tries,
            )
            await self._sleep(wait)
        raise AssertionError("unreachable: the last try returns or raises")

    async def _send(self, body: dict[str, Any], attempt: int) -> dict[str, Any] | _Retry:
        backoff = BACKOFF_BASE_S * 2 ** (attempt - 1)
        try:
            response = await self.http.post(self.endpoint, json=body, headers=self._headers)
        except httpx.TransportError as exc:
            return _Retry(backoff, f"network error ({type(exc).__name__})")
        status = response.status_code
        if status in (401, 403):
            raise ShopifyAuthError(f"Shopify refused the access token of {self.shop} ({status})")
        if status == 429:
            return _Retry(retry_after(response) or backoff, "rate limited (429)")
        if status >= 500:
            return _Retry(backoff, f"server error ({status})")
        if status != 200:
            raise ShopifyGraphQLError(f"Shopify GraphQL for {self.shop} answered {status}")
        payload = json_object(response)
        if not payload:
            return _Retry(backoff, "unreadable response body")
        errors = payload.get("errors")
        if errors:
            return self._classify_errors(errors, payload.get("extensions"), backoff)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ShopifyGraphQLError(f"Shopify GraphQL for {self.shop} returned no data")
        return data

    def _classify_errors(self, errors: Any, extensions: Any, backoff: float) -> _Retry:
        items: list[Any] = errors if isinstance(errors, list) else [{"message": str(errors)}]
        codes = tuple(
            str(code)
            for item in items
            if isinstance(item, dict)
            and isinstance(ext := item.get("extensions"), dict)
            and (code := ext.get("code"))
        )
        if THROTTLED in codes:
            return _Retry(self._throttle_wait(extensions, backoff), "throttled")
        messages = "; ".join(
            str(item.get("message", item)) if isinstance(item, dict) else str(item)
            for item in items
        )
        raise ShopifyGraphQLError(f"Shopify GraphQL for {self.shop}: {messages}", codes=codes)

    def _throttle_wait(self, extensions: Any, fallback: float) -> float:
        """Seconds until the leaky bucket holds the query's cost (fallback when unreported)."""
        try:
            cost = extensions["cost"]
            requested = float(cost["requestedQueryCost"])
            status = cost["throttleStatus"]
            available = float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
            maximum = float(status["maximumAvailable"])
        except (KeyError, TypeError, ValueError):
            return fallback
        if requested > maximum:
            raise ShopifyGraphQLError(
                f"query cost {requested:g} exceeds the bucket of {maximum:g} for {self.shop}",
                codes=(THROTTLED,),
            )
        if rate <= 0:
            return fallback
        return max((requested - available) / rate, MIN_THROTTLE_WAIT_S)


async def admin_client_for(
    runtime: Runtime, session: AsyncSession, shop: Shop, **options: Any
) -> AdminGraphQL | None:
    """A client with the shop's (refreshed if due) offline token; None when it has none."""
    token = await access_token_for(runtime, session, shop)
    if token is None:
        return None
    return AdminGraphQL(runtime.http, runtime.settings, shop.domain, token, **options)
