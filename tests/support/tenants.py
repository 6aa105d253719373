"""Two shops with data in every area the JSON APIs read, for tenant and schema tests.

Shop A has two subscribers (A1, the "attacker" customer, and A2, another customer of the same
shop); shop B is the other tenant. Every customer has a contract, an order and a pending NPS
invitation; each shop has an initiative and a customer data export, and has been scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from plugin.db.transaction import transaction
from plugin.models import DataExport, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.scoring.recompute import recompute_shop_now
from plugin.surveys.links import make_token
from tests.plugin.surveys.survey_factories import (
    add_contract,
    add_invitation,
    add_order,
    add_shop,
    add_subscriber,
)
from tests.support.signing import proxy_query, session_token

SHOP_A = "tenant-alpha.myshopify.com"
SHOP_B = "tenant-bravo.myshopify.com"


@dataclass(frozen=True)
class Customer:
    shop_id: int
    shop: str
    customer_id: int
    subscriber_id: int
    contract_id: int
    invitation_id: int
    link_token: str

    @property
    def secrets(self) -> list[str]:
        return [f"Secretname{self.customer_id}", f"secret{self.customer_id}@example.com"]


@dataclass(frozen=True)
class Tenants:
    a1: Customer
    a2: Customer
    b: Customer
    b_export_id: int
    b_initiative_id: int
    b_initiative_title: str

    def staff(self, shop: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {session_token(shop=shop)}"}

    def customer(self, who: Customer) -> dict[str, str]:
        token = session_token(shop=who.shop, sub=f"gid://shopify/Customer/{who.customer_id}")
        return {"Authorization": f"Bearer {token}"}

    def proxy(self, who: Customer, params: dict[str, Any] | None = None) -> str:
        return proxy_query(
            {k: str(v) for k, v in (params or {}).items()},
            shop=who.shop,
            customer_id=str(who.customer_id),
        )


async def _customer(runtime: Runtime, shop_id: int, shop: str, customer_id: int) -> Customer:
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        shop_row = await tx.session.get_one(Shop, shop_id)
        sub = await add_subscriber(tx.session, shop_row, customer_id)
        # Facts nobody but this customer's own shop (and the customer) may read.
        sub.first_name = f"Secretname{customer_id}"
        sub.email = f"secret{customer_id}@example.com"
        contract = await add_contract(tx.session, shop_row, sub)
        await add_order(tx.session, shop_row, contract)
        invitation = await add_invitation(
            tx.session, shop_id, sub.id, sent_at=now, expires_at=now + timedelta(days=10)
        )
    token = make_token(
        runtime.settings,
        invitation_id=invitation.id,
        shop_id=shop_id,
        customer_id=customer_id,
        expires_at=invitation.expires_at,
    )
    return Customer(shop_id, shop, customer_id, sub.id, contract.contract_id, invitation.id, token)


INITIATIVE = {
    "title": "Bravo-only initiative",
    "hypothesis": "Fewer deliveries keep subscribers longer",
    "driver": "cadence",
    "target_metric": "churn.monthly_rate",
    "expected_direction": "down",
    "expected_change": 0.01,
    "owner": "Sam",
}


async def seed(runtime: Runtime) -> Tenants:
    """Both shops, scored, with B's export and initiative."""
    async with transaction(runtime.sessionmaker, None) as tx:
        shop_a = await add_shop(tx.session, SHOP_A)
        shop_b = await add_shop(tx.session, SHOP_B)
        ids = (shop_a.id, shop_b.id)
    a1 = await _customer(runtime, ids[0], SHOP_A, 71_000_000_001)
    a2 = await _customer(runtime, ids[0], SHOP_A, 72_000_000_002)
    b = await _customer(runtime, ids[1], SHOP_B, 83_000_000_003)
    async with transaction(runtime.sessionmaker, None) as tx:
        export = DataExport(
            shop_id=b.shop_id,
            customer_id=b.customer_id,
            request_key="tenant-test",
            requested_at=utcnow(),
            data={"customer": {"id": b.customer_id, "note": "Secret export of bravo"}},
        )
        tx.session.add(export)
        await tx.session.flush()
        export_id = export.id
    for shop_id in ids:
        await recompute_shop_now(runtime, shop_id)
    async with transaction(runtime.sessionmaker, None) as tx:
        from plugin.initiatives.service import create_initiative

        initiative = await create_initiative(tx.session, b.shop_id, INITIATIVE, utcnow().date())
        initiative_id = initiative.id
    return Tenants(a1, a2, b, export_id, initiative_id, str(INITIATIVE["title"]))
