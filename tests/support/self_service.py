"""A shop whose subscriber holds one contract both in our database and in the fake Shopify, with
the shop's offline token stored: what self-service and cancel-flow tests start from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from plugin.app import build_app_runtime
from plugin.db.transaction import transaction
from plugin.models import Contract, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.models.self_service import CancelFlow, SaveOfferSettings
from plugin.runtime import Runtime
from plugin.saveoffers.offers import offer_settings
from plugin.shopify.tokens import TokenCipher
from tests.conftest import empty_tables, make_settings
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP

PLANS = [(7001, "Every month", "MONTH", 1), (7002, "Every 2 months", "MONTH", 2)]


@dataclass
class SelfServiceWorld:
    shop_id: int
    subscriber_id: int
    customer_id: int
    contract_pk: int
    contract_id: int

    @property
    def gid(self) -> str:
        return f"gid://shopify/SubscriptionContract/{self.contract_id}"


async def self_service_world(
    runtime: Runtime,
    fake: FakeShopify,
    *,
    customer_id: int = 501,
    contract_id: int = 601,
    offers: dict[str, Any] | None = None,
    holdout_share: float = 0.0,
) -> SelfServiceWorld:
    next_billing = (datetime.now(UTC) + timedelta(days=10)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    fake.add_contract(
        contract_id=contract_id,
        customer_id=customer_id,
        next_billing_date=next_billing.isoformat().replace("+00:00", "Z"),
    )
    if not fake.selling_plan_groups:
        fake.add_selling_plan_group(plans=PLANS)
    cipher = TokenCipher(runtime.settings.token_encryption_key)
    started = datetime.now(UTC) - timedelta(days=90)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.scalar(select(Shop).where(Shop.domain == SHOP))
        if shop is None:
            shop = Shop(domain=SHOP, access_token_enc=cipher.encrypt(fake.grant_token()))
            tx.session.add(shop)
            await tx.session.flush()
        subscriber = Subscriber(shop_id=shop.id, customer_id=customer_id, first_seen_at=started)
        tx.session.add(subscriber)
        await tx.session.flush()
        contract = Contract(
            shop_id=shop.id,
            contract_id=contract_id,
            subscriber_id=subscriber.id,
            status="active",
            status_at=started,
            started_at=started,
            plan_name="Every month",
        )
        tx.session.add(contract)
        settings: SaveOfferSettings = await offer_settings(tx.session, shop.id)
        settings.offers = offers or {}
        settings.holdout_share = holdout_share
        await tx.session.flush()
        return SelfServiceWorld(shop.id, subscriber.id, customer_id, contract.id, contract_id)


async def runtime_with_fake(database_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    """A runtime whose Admin API calls reach `fake`; its tables emptied afterwards."""
    runtime = await build_app_runtime(make_settings(database_url), http=fake.client())
    try:
        yield runtime
    finally:
        await empty_tables(runtime)
        await runtime.close()


# (holdout, outcome, ended after days) of flows started 100 days ago for `too_expensive` with
# a skip offer: offered 4, 3 accepted, one acceptor gone by day 10; holdout 2, one gone by
# day 20. At 30 days: kept 3/4 offered against 1/2 held out, a true save rate of +25 points.
REPORT_PLAN = (
    (False, "accepted", 10),
    (False, "accepted", None),
    (False, "accepted", None),
    (False, "cancelled", None),
    (True, "cancelled", 20),
    (True, "cancelled", None),
)


async def add_flows(
    runtime: Runtime, domain: str, plan: Sequence[tuple[bool, str, int | None]] = REPORT_PLAN
) -> None:
    """One subscriber, contract and cancel flow per entry of `plan`, in the shop `domain`
    (created when missing)."""
    started = utcnow() - timedelta(days=100)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.scalar(select(Shop).where(Shop.domain == domain))
        if shop is None:
            shop = Shop(domain=domain)
            tx.session.add(shop)
            await tx.session.flush()
        for n, (holdout, outcome, ended_day) in enumerate(plan):
            sub = Subscriber(shop_id=shop.id, customer_id=3000 + n, first_seen_at=started)
            tx.session.add(sub)
            await tx.session.flush()
            ended = started + timedelta(days=ended_day) if ended_day else None
            contract = Contract(
                shop_id=shop.id,
                contract_id=4000 + n,
                subscriber_id=sub.id,
                status="cancelled" if ended else "active",
                status_at=ended or started,
                started_at=started - timedelta(days=200),
                ended_at=ended,
            )
            tx.session.add(contract)
            await tx.session.flush()
            tx.session.add(
                CancelFlow(
                    shop_id=shop.id,
                    contract_pk=contract.id,
                    subscriber_id=sub.id,
                    reason_code="too_expensive",
                    channel="proxy",
                    holdout=holdout,
                    offer={"kind": "skip"},
                    offer_shown=not holdout,
                    outcome=outcome,
                    started_at=started,
                )
            )
