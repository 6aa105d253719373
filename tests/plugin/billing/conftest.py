"""Fixtures for plans and billing: the event-processing fixtures (a runtime whose Admin API is
the fake Shopify) and a shop holding a working token."""

from __future__ import annotations

import pytest

from plugin.models import Shop
from plugin.runtime import Runtime
from tests.plugin.domain import conftest as domain_fixtures
from tests.plugin.domain.domain_helpers import give_token, shop_of
from tests.support.fake_shopify import FakeShopify

# The event-processing fixtures: a runtime whose Admin API is the fake Shopify.
rt = domain_fixtures.rt
shopify = domain_fixtures.shopify


@pytest.fixture
async def shop(rt: Runtime, shopify: FakeShopify) -> Shop:
    """The test shop, connected (it holds an offline token the fake accepts)."""
    await give_token(rt, shopify)
    return await shop_of(rt)
