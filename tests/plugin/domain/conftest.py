"""Fixtures for event processing: a runtime whose HTTP client talks to a fake Shopify, the
shop the events come from, and recorders for the survey hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete

from plugin.app import build_app_runtime
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.surveys import hooks
from tests.conftest import make_settings
from tests.plugin.domain.domain_helpers import HookCalls
from tests.support.fake_shopify import FakeShopify


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def rt(db_url: str, shopify: FakeShopify) -> AsyncIterator[Runtime]:
    """A runtime on a migrated database whose Admin API calls reach `shopify`."""
    runtime = await build_app_runtime(make_settings(db_url), http=shopify.client())
    try:
        yield runtime
    finally:
        # Every row hangs off a shop (ON DELETE CASCADE): far quicker than TRUNCATE of all
        # tables on PostgreSQL for the few rows a test writes.
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> HookCalls:
    """Record the survey hooks' calls (and still run them: they are part of the effect)."""
    recorded = HookCalls()

    def spy(name: str, key: Any) -> Any:
        real = getattr(hooks, name)

        async def wrapper(session: Any, shop: Any, row: Any, *args: Any, **options: Any) -> None:
            recorded.calls.append((name, key(row, *args), args[-1]))
            await real(session, shop, row, *args, **options)

        return wrapper

    monkeypatch.setattr(
        hooks,
        "on_contract_ended",
        spy("on_contract_ended", lambda contract, status, _at: (contract.contract_id, status)),
    )
    real_progressed = hooks.on_orders_progressed

    async def progressed(session: Any, shop: Any, progress: Any) -> None:
        # One call for a run of orders, recorded as the news each order brought.
        for item in progress:
            order = item.order
            if item.fulfilled:
                recorded.calls.append(("on_order_fulfilled", order.order_id, order.fulfilled_at))
            if item.delivered:
                recorded.calls.append(("on_order_delivered", order.order_id, order.delivered_at))
        await real_progressed(session, shop, progress)

    monkeypatch.setattr(hooks, "on_orders_progressed", progressed)
    return recorded
