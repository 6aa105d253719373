"""Fixtures for the Shopify integration: a fake Admin API and a runtime whose HTTP goes to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plugin.app import build_app_runtime
from plugin.models.shop import Shop
from plugin.runtime import Runtime
from plugin.settings import Settings
from tests.conftest import empty_tables, make_settings
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
def settings() -> Settings:
    return make_settings("sqlite+aiosqlite:///:memory:")


@pytest.fixture
async def shop_runtime(db_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    """A runtime on a migrated database (SQLite and PostgreSQL) talking to the fake Shopify."""
    rt = await build_app_runtime(make_settings(db_url), http=fake.client())
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


@pytest.fixture
async def shop(shop_runtime: Runtime) -> Shop:
    async with shop_runtime.sessionmaker() as session, session.begin():
        row = Shop(domain=SHOP)
        session.add(row)
    return row
