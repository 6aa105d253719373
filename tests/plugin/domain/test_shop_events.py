"""Shop lifecycle events: uninstall, reinstall, scopes, bulk operations."""

from __future__ import annotations

from datetime import timedelta

from plugin.db.transaction import transaction
from plugin.domain.shops import mark_installed
from plugin.models import InboxStatus, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import give_token, shop_of
from tests.support.fake_shopify import FakeShopify
from tests.support.payloads import (
    T0,
    Event,
    app_uninstalled,
    bulk_operation_finish,
    contract,
    deliver,
    inbox_row,
    next_id,
    scopes_update,
)

DAY = timedelta(days=1)


async def test_uninstall_drops_tokens_and_dates_the_uninstall(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=T0), at=T0))
    shop = await shop_of(rt)
    assert shop.uninstalled_at == T0
    assert (shop.access_token_enc, shop.refresh_token_enc) == (None, None)


async def test_a_later_event_means_a_reinstall_and_an_older_one_does_not(rt: Runtime) -> None:
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=T0 + DAY), at=T0 + DAY))
    # Fired before the uninstall, delivered after it: not evidence of a reinstall.
    await deliver(rt, Event("subscription_contracts/create", contract(next_id()), at=T0))
    assert (await shop_of(rt)).uninstalled_at == T0 + DAY
    await deliver(rt, Event("subscription_contracts/create", contract(next_id()), at=T0 + 3 * DAY))
    shop = await shop_of(rt)
    assert (shop.uninstalled_at, shop.installed_at) == (None, T0 + 3 * DAY)


async def test_a_late_uninstall_does_not_undo_a_reinstall(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await deliver(
        rt,
        Event("app/uninstalled", app_uninstalled(at=T0), at=T0),
        Event(
            "app/scopes_update", scopes_update(["read_orders"], at=T0 + 2 * DAY), at=T0 + 2 * DAY
        ),
    )
    await give_token(rt, shopify)  # the merchant opened the app again
    # A second uninstall event from before the reinstall, redelivered late.
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=T0 + DAY), at=T0 + DAY))
    shop = await shop_of(rt)
    assert shop.uninstalled_at is None
    assert shop.access_token_enc is not None


async def test_opening_the_app_reinstalls_and_a_late_uninstall_keeps_it(
    rt: Runtime, shopify: FakeShopify
) -> None:
    uninstalled = utcnow() - 2 * DAY
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=uninstalled), at=uninstalled))
    # The merchant installs again and opens the app: the page marks the shop installed and
    # token exchange stores a token (no webhook is evidence of it yet).
    opened = utcnow()
    async with transaction(rt.sessionmaker, None) as tx:
        shop = await tx.session.get_one(Shop, (await shop_of(rt)).id)
        assert mark_installed(shop, opened)
    await give_token(rt, shopify)
    # The uninstall from before, redelivered by Shopify's retries, changes nothing.
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=uninstalled), at=uninstalled))
    shop = await shop_of(rt)
    assert (shop.uninstalled_at, shop.installed_at) == (None, opened)
    assert shop.access_token_enc is not None
    # A newer uninstall still counts.
    later = opened + DAY
    await deliver(rt, Event("app/uninstalled", app_uninstalled(at=later), at=later))
    shop = await shop_of(rt)
    assert shop.uninstalled_at == later
    assert shop.access_token_enc is None


async def test_scopes_follow_the_latest_update(rt: Runtime) -> None:
    newer = scopes_update(["read_orders", "read_customers"], at=T0 + DAY)
    older = scopes_update(["read_orders"], at=T0)
    await deliver(
        rt,
        Event("app/scopes_update", newer, at=T0 + DAY),
        Event("app/scopes_update", older, at=T0),
    )
    shop = await shop_of(rt)
    assert (shop.scopes, shop.scopes_updated_at) == ("read_orders,read_customers", T0 + DAY)


async def test_malformed_scopes_update_is_refused(rt: Runtime) -> None:
    [inbox_id] = await deliver(rt, Event("app/scopes_update", {"current": "read_orders"}))
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.FAILED
    assert (await shop_of(rt)).scopes == ""


async def test_bulk_operation_finish_is_recorded(rt: Runtime) -> None:
    [inbox_id] = await deliver(rt, Event("bulk_operations/finish", bulk_operation_finish(42)))
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.HANDLED
    assert row.payload["admin_graphql_api_id"] == "gid://shopify/BulkOperation/42"
