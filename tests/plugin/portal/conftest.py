"""Portal fixtures.

- `runtime` (both databases) and `lite_runtime` (SQLite only, for HTTP behaviour that does not
  depend on the database: rate limits, page rendering) settle the in-process queue before the
  tables are emptied: answers queue a debounced recompute of the shop, and a job still writing
  while the next test starts would make tests flaky. A failed background job fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from plugin.app import build_app_runtime, create_app
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from tests.conftest import empty_tables, make_settings
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.self_service import runtime_with_fake


async def settled_runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await build_app_runtime(make_settings(database_url))
    try:
        yield rt
        if isinstance(rt.queue, InProcessQueue):
            await asyncio.wait_for(rt.queue.drain(), timeout=60)
            assert rt.queue.failures == [], rt.queue.failures
    finally:
        await empty_tables(rt)
        await rt.close()


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    async for rt in settled_runtime(db_url):
        yield rt


@pytest.fixture
async def lite_runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    async for rt in settled_runtime(sqlite_url):
        yield rt


@pytest.fixture
async def lite_client(lite_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=lite_runtime)) as client:
        yield client


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def rt(db_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    """Both databases, Admin API calls to `fake` (self-service and the cancel flow)."""
    async for runtime in runtime_with_fake(db_url, fake):
        yield runtime


@pytest.fixture
async def shop_client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=rt)) as c:
        yield c
