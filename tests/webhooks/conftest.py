"""A runtime whose in-process queue only records what the webhook endpoint enqueues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from plugin.app import create_app
from plugin.inbox import PROCESS_INBOX
from plugin.models import Shop, WebhookInbox
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime, build_runtime
from tests.conftest import make_settings
from tests.support.asgi import asgi_client

TOPIC = "subscription_contracts/create"
PAYLOAD = {"id": 123, "admin_graphql_api_id": "gid://shopify/SubscriptionContract/123"}


class Enqueued(list[int]):
    """Shop ids handed to `process_inbox`, in order."""


@pytest.fixture
def enqueued() -> Enqueued:
    return Enqueued()


@pytest.fixture
async def wh_runtime(db_url: str, enqueued: Enqueued) -> AsyncIterator[Runtime]:
    async def record(_ctx: dict[str, Any], shop_id: int) -> None:
        enqueued.append(shop_id)

    queue = InProcessQueue({PROCESS_INBOX: record})
    runtime = await build_runtime(make_settings(db_url), queue=queue)
    try:
        yield runtime
    finally:
        await empty_inbox(runtime)
        await runtime.close()


@pytest.fixture
async def wh_client(wh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=wh_runtime)) as client:
        yield client


async def empty_inbox(runtime: Runtime) -> None:
    """The endpoint writes shops and inbox rows only (nothing processes them here); deleting
    those two is much faster than truncating every table, and these tests are many."""
    async with runtime.engine.begin() as conn:
        await conn.execute(delete(WebhookInbox))
        await conn.execute(delete(Shop))


async def row_counts(runtime: Runtime) -> tuple[int, int]:
    """(shops, inbox rows)."""
    async with runtime.sessionmaker() as session:
        shops = await session.scalar(select(func.count()).select_from(Shop))
        rows = await session.scalar(select(func.count()).select_from(WebhookInbox))
    return int(shops or 0), int(rows or 0)


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/webhooks", content=body, headers=headers)


async def assert_nothing_stored(runtime: Runtime, enqueued: Enqueued) -> None:
    assert await row_counts(runtime) == (0, 0)
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    assert enqueued == []
