"""A change made in the portal reaches the self-serve rate as the subscriber's
(docs/metrics.md#self_serve: share of contract changes made by the subscriber, not the merchant)."""

from __future__ import annotations

from datetime import timedelta

from plugin.db.transaction import transaction
from plugin.domain.changes import record_change
from plugin.models import Contract, Subscriber
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.scoring.loaders import load_history
from plugin.scoring.localtime import shop_zone
from plugin.scoring.shop_settings import parse_value_settings
from plugin.selfservice.service import record_action
from plugin.value.drivers import self_serve_rate
from tests.support.fake_shopify import FakeShopify
from tests.support.self_service import self_service_world


async def test_portal_changes_count_as_self_serve_and_merchant_changes_do_not(
    runtime: Runtime,
) -> None:
    world = await self_service_world(runtime, FakeShopify())
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        contract = await tx.session.get_one(Contract, world.contract_pk)
        subscriber = await tx.session.get_one(Subscriber, world.subscriber_id)
        for n, action in enumerate(("skip", "frequency", "quantity")):
            at = now - timedelta(days=3 - n)
            await record_action(
                tx.session, world.shop_id, contract, subscriber, action, "proxy", at, {}
            )
        await record_change(
            tx.session,
            shop_id=world.shop_id,
            contract_pk=contract.id,
            kind="pause",
            at=now - timedelta(hours=5),
            source="merchant",
        )
    async with runtime.engine.connect() as conn, conn.begin():
        loaded = await load_history(
            conn,
            world.shop_id,
            shop_zone("UTC"),
            now + timedelta(seconds=1),
            now,
            parse_value_settings({}),
            read_at=now,
        )
    rate = self_serve_rate(loaded.history.ev_source)
    assert (rate.numerator, rate.denominator) == (3, 4)
    assert rate.value == 0.75
