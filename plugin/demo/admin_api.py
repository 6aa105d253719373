"""The demo shop's Shopify: the fake Admin API (`plugin.shopify.fake`) in-process, holding the
shop's selling plans and contracts and answering our billing job as Shopify would.

The demo talks to it through the product's own clients, over `httpx.MockTransport` (no
sockets): the demo runtime's `http` is the fake's client and its Admin origin the fake's.

- `connect(runtime, shop_id)`: the shop holds an offline token the fake accepts.
- `create_plans`: the demo catalogue is created through our plans service (a selling plan
  group per plan, on its product), so every simulated contract is bought through one of ours.
- `follow(event)`: what a subscriber did in Shopify (bought through a plan, skipped, paused,
  resumed, changed frequency, cancelled) is applied to the fake's copy of the contract before
  its webhook is processed; the worker then asks the fake for the contract's details as it
  asks Shopify.
- `script(attempts)`: the simulation's outcome of each attempt the billing job will make.
- `answers(run_at)`: what Shopify sends after a billing run: each new attempt's webhook(s)
  and the webhook of each contract the run changed (dunning's final action).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from plugin.billing.plans import create_plan
from plugin.db.transaction import transaction
from plugin.demo.payloads import iso
from plugin.demo.plans import PLANS, PLANS_BY_KEY
from plugin.demo.simulation import SHIPPING, PlannedAttempt, SimEvent
from plugin.models import Shop
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.shopify.fake import (
    BASE_URL,
    FakeLine,
    FakeShopify,
    ScriptedOutcome,
    contract_webhook,
)
from plugin.shopify.graphql import admin_client_for
from plugin.shopify.tokens import TokenCipher

Webhook = tuple[datetime, str, dict[str, Any]]  # (sent at, topic, body)

ADMIN_ORIGIN = f"{BASE_URL}/{{shop}}"
PRODUCT_IDS = 8_100_000_000  # the demo catalogue's products: one per plan, numbered from here
# Contract changes the billing run makes whose webhook Shopify sends (dunning's final action).
_RUN_CHANGES = frozenset({"pause", "cancel"})


def wire(runtime: Runtime, shopify: FakeShopify) -> Runtime:
    """`runtime` with its Admin API calls going to `shopify` (its http client is new)."""
    settings = dataclasses.replace(runtime.settings, admin_origin=ADMIN_ORIGIN)
    return dataclasses.replace(runtime, settings=settings, http=shopify.client())


@asynccontextmanager
async def wired(runtime: Runtime, shopify: FakeShopify) -> AsyncIterator[Runtime]:
    """`wire(runtime, shopify)` for a while: the jobs `runtime`'s in-process queue runs meanwhile
    (Flow triggers of failed payments, say) call `shopify` too, and they have all run before
    the client closes."""
    runtime_wired = wire(runtime, shopify)
    queue = runtime.queue
    jobs_runtime = queue.ctx.get("runtime") if isinstance(queue, InProcessQueue) else None
    if isinstance(queue, InProcessQueue):
        queue.ctx["runtime"] = runtime_wired
    try:
        yield runtime_wired
    finally:
        if isinstance(queue, InProcessQueue):
            await queue.drain()
            queue.ctx["runtime"] = jobs_runtime
        await runtime_wired.http.aclose()


def is_wired(runtime: Runtime) -> bool:
    return runtime.settings.admin_origin == ADMIN_ORIGIN


@dataclasses.dataclass(frozen=True)
class SellingPlan:
    id: int
    name: str
    variant_id: int


class DemoAdminApi:
    def __init__(self, shopify: FakeShopify, domain: str) -> None:
        self.shopify = shopify
        self.domain = domain
        self.selling_plans: dict[str, SellingPlan] = {}  # by demo plan key
        self.unplanned: list[str] = []  # attempts the simulation did not plan on that day
        self._attempts_seen = 0
        self._changes_seen = 0

    async def connect(self, runtime: Runtime, shop_id: int) -> None:
        """The shop holds an offline token the fake accepts (as after token exchange)."""
        cipher = TokenCipher(runtime.settings.token_encryption_key)
        async with transaction(runtime.sessionmaker, None) as tx:
            shop = await tx.session.get(Shop, shop_id)
            assert shop is not None
            shop.access_token_enc = cipher.encrypt(self.shopify.grant_token(self.domain))

    async def create_plans(self, runtime: Runtime, shop_id: int) -> None:
        """The demo catalogue, each plan a selling plan group made by our plans service."""
        numbers = [PRODUCT_IDS + i for i in range(1, len(PLANS) + 1)]
        products = self.shopify.add_products(*numbers)
        async with transaction(runtime.sessionmaker, None) as tx:
            shop = await tx.session.get(Shop, shop_id)
            assert shop is not None
            client = await admin_client_for(runtime, tx.session, shop)
            assert client is not None
            for plan, product, number in zip(PLANS, products, numbers, strict=True):
                spec = {
                    "name": plan.name,
                    "frequencies": [
                        {"interval": plan.interval, "delivery_count": plan.interval_count}
                    ],
                    "products": [product],
                }
                created, version = await create_plan(tx.session, shop_id, client, spec)
                (gid,) = version.selling_plans.values()
                group = self.shopify.groups[self.domain][str(created.group_gid)]
                self.selling_plans[plan.key] = SellingPlan(
                    int(gid.rsplit("/", 1)[1]), str(group.plans[gid]["name"]), number * 100 + 1
                )

    def script(self, attempts: Iterable[PlannedAttempt]) -> None:
        """Each contract's attempts answer as the simulation planned, in order."""
        for planned in attempts:
            self.shopify.script(
                _gid(planned.contract_id),
                ScriptedOutcome(
                    error_code=planned.error_code,
                    order_id=planned.order_id,
                    challenged=planned.settled_at is not None,
                    at=planned.at,
                    settled_at=planned.settled_at,
                ),
            )

    def follow(self, event: SimEvent) -> None:
        """Apply the subscriber's change to Shopify's copy before its webhook is processed."""
        change, body = event.admin, event.payload
        if event.topic == "subscription_billing_cycles/skip":
            assert change is not None
            self.shopify.skip_cycle(_gid(body["subscription_contract_id"]), change.cycle_index)
            return
        if not event.topic.startswith("subscription_contracts/"):
            return
        if event.topic == "subscription_contracts/create":
            assert change is not None and change.plan_key and change.next_billing_at
            self._bought(body, change.plan_key, change.next_billing_at)
            return
        contract = self.shopify.contracts[self.domain][body["admin_graphql_api_id"]]
        contract.status = str(body["status"]).upper()
        contract.revision = int(body["revision_id"])
        policy = body["billing_policy"]
        contract.billing = contract.delivery = (
            str(policy["interval"]).upper(),
            int(policy["interval_count"]),
        )
        if change is not None and change.next_billing_at is not None:
            self.shopify.reanchor(
                contract.gid, change.next_billing_at, change.cycle_index, self.domain
            )

    def _bought(self, body: dict[str, Any], plan_key: str, first_billing: datetime) -> None:
        plan = PLANS_BY_KEY[plan_key]
        selling_plan = self.selling_plans[plan_key]
        currency = str(body["currency_code"])
        self.shopify.add_contract(
            self.domain,
            contract_id=int(body["id"]),
            customer_id=int(body["customer_id"]),
            currency=currency,
            lines=[
                FakeLine(
                    price=f"{plan.price(currency):.2f}",
                    selling_plan_name=selling_plan.name,
                    selling_plan_id=selling_plan.id,
                    variant_id=selling_plan.variant_id,
                    title=plan.name,
                )
            ],
            billing=(plan.interval.upper(), plan.interval_count),
            delivery=(plan.interval.upper(), plan.interval_count),
            next_billing_date=iso(first_billing),
            origin_order_id=int(body["origin_order_id"]),
            delivery_price=f"{SHIPPING[currency]:.2f}",
            revision=int(body["revision_id"]),
            max_cycles=plan.max_cycles,
        )

    def answers(
        self, run_at: datetime, end: datetime
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """Shopify's webhooks after the billing run at `run_at` (those due before `end`)."""
        sent: list[tuple[datetime, str, dict[str, Any]]] = []
        attempts = self.shopify.attempts
        for attempt in attempts[self._attempts_seen :]:
            scripted = attempt.scripted
            at = scripted.at if scripted is not None else None
            if at is None or at.date() != run_at.date() or at < run_at:
                # The job charged when the simulation did not plan it: said in the summary.
                self.unplanned.append(f"{attempt.idempotency_key} on {run_at.date()}")
                at = run_at + timedelta(minutes=1)
            if scripted is not None and scripted.challenged:
                sent.append((at, *attempt.challenge_webhook()))
                at = scripted.settled_at or at
            if at < end:
                sent.append((at, *attempt.webhook()))
        self._attempts_seen = len(attempts)
        changes = self.shopify.changes
        for number, (operation, gid, _) in enumerate(changes[self._changes_seen :], start=1):
            if operation in _RUN_CHANGES:
                contract = self.shopify.contracts[self.domain][gid]
                sent.append((run_at + timedelta(seconds=number), *contract_webhook(contract)))
        self._changes_seen = len(changes)
        return sent

    def planned_not_made(self, end: datetime) -> int:
        """Planned attempts (before `end`) that the billing job never made."""
        return sum(
            1
            for outcomes in self.shopify.scripted_left().values()
            for outcome in outcomes
            if outcome.at is not None and outcome.at < end
        )


def _gid(contract_id: int) -> str:
    return f"gid://shopify/SubscriptionContract/{contract_id}"
