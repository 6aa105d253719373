"""Fixtures for plans and billing: a runtime whose Admin API is the fake Shopify, and a shop
holding a working token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from plugin.app import build_app_runtime
from plugin.models import Shop
from plugin.runtime import Runtime
from tests.conftest import make_settings
from tests.plugin.domain.domain_helpers import give_token, shop_of
from tests.support.fake_shopify import FakeShopify


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def rt(db_url: str, shopify: FakeShopify) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(make_settings(db_url), http=shopify.client())
    try:
        yield runtime
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))  # every row hangs off a shop (cascade)
        await runtime.close()


@pytest.fixture
async def shop(rt: Runtime, shopify: FakeShopify) -> Shop:
    """The test shop, connected (it holds an offline token the fake accepts)."""
    await give_token(rt, shopify)
    return await shop_of(rt)
