"""End to end: a shop's history goes in as signed webhooks (with event times) and portal
answers over HTTP, the queue processes it, the shop is recomputed, and the admin API returns
the figures worked out by hand below.

The shop (UTC), scored as of 10 April 2026; March is the last complete month and the
metrics window is 12 March – 10 April:

    customer  plan               history
    101       $25 / month        renewed 5 Feb, 5 Mar, 5 Apr                      active
    102       $30 / month        renewed 10 Feb, 10 Mar; paused 20 Mar            paused
    103       $20 / month        renewed 15 Feb; answered "too expensive"; cancelled 16 Mar
    104       $25 / month        payment failed 1 Mar and 15 Mar; contract failed 20 Mar
    105       $40 / 2 months     renewed 3 Apr                                    active
    106       $25 / month        answered "deliveries too often"; cancelled 25 Mar
    107       $25 / month        joined 5 Mar, cancelled 28 Mar without a reason
    108       €22 / month        renewed 20 Feb, 20 Mar                           active
    109       $15 / week         renewed 17, 24, 31 Mar and 7 Apr                 active

- active 4 (101, 105, 108, 109), paused 1 (102).
- MRR: $25 + $40 × 30.4375/60.875 + $15 × 30.4375/7 = 25 + 20 + 65.22 = $110.22; €22.
- March churn: 8 subscribed on 1 March (107 joined later and left the same month: not
  counted); 103, 104 and 106 left: 3/8 = 37.5 %; voluntary 2/8 (103, 106), involuntary 1/8.
- Billing success in the window: 101 (5 Apr), 105 (3 Apr), 108 (20 Mar), 109 × 4 succeeded,
  104 (15 Mar) failed: 7/8 = 87.5 % (102's 10 Mar renewal is before the window).
- Cancellations in the window: 103, 104, 106, 107; customer reasons for 103 and 106: capture
  50 %, mix "deliveries too often" 1 (50 %), "too expensive" 1 (50 %); system reasons
  payment_failed (104) and unknown (107).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from plugin.app import build_app_runtime, create_app
from plugin.models import Shop, ShopRecomputeState
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.scoring.recompute import recompute_shop_now
from tests.conftest import empty_tables, make_settings
from tests.plugin.domain.domain_helpers import give_token
from tests.support import payloads
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeLine, FakeShopify
from tests.support.signing import SHOP, session_token, signed_webhook

NOW = datetime(2026, 4, 10, 18, 0, tzinfo=UTC)
_ids = itertools.count(880_001)


def t(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@dataclass
class Harness:
    runtime: Runtime
    client: httpx.AsyncClient
    shopify: FakeShopify

    async def send(self, topic: str, payload: dict, at: datetime) -> None:
        body, headers = signed_webhook(topic, payload, triggered_at=at)
        response = await self.client.post("/webhooks", content=body, headers=headers)
        assert response.status_code == 200, response.text

    async def settle(self) -> None:
        queue = self.runtime.queue
        assert isinstance(queue, InProcessQueue)
        await queue.drain()
        assert queue.failures == [], queue.failures

    async def subscribe(
        self,
        contract_id: int,
        customer_id: int,
        at: datetime,
        price: str,
        *,
        currency: str = "USD",
        interval: str = "month",
        count: int = 1,
    ) -> None:
        self.shopify.add_contract(
            contract_id=contract_id,
            customer_id=customer_id,
            currency=currency,
            lines=[FakeLine(price=price)],
            billing=(interval.upper(), count),
            delivery=(interval.upper(), count),
        )
        body = payloads.contract(
            contract_id,
            customer_id,
            currency=currency,
            interval=interval,
            interval_count=count,
            origin_order_id=next(_ids),
        )
        await self.send("subscription_contracts/create", body, at)

    async def bill(self, contract_id: int, at: datetime, *, ok: bool = True) -> None:
        if ok:
            body = payloads.billing_attempt(next(_ids), contract_id, order_id=next(_ids))
            await self.send("subscription_billing_attempts/success", body, at)
        else:
            body = payloads.billing_attempt(
                next(_ids),
                contract_id,
                error_code="insufficient_funds",
                error_message="Insufficient funds",
            )
            await self.send("subscription_billing_attempts/failure", body, at)

    async def end(self, topic: str, contract_id: int, customer_id: int, at: datetime) -> None:
        status = {"cancel": "cancelled", "fail": "failed", "pause": "paused"}[topic]
        body = payloads.contract(contract_id, customer_id, status=status, revision_id=2)
        await self.send(f"subscription_contracts/{topic}", body, at)

    async def answer_cancel(self, contract_id: int, customer_id: int, reason: str) -> None:
        token = session_token(shop=SHOP, sub=f"gid://shopify/Customer/{customer_id}")
        response = await self.client.post(
            "/api/portal/cancel-reason",
            json={"contract_id": contract_id, "reason": reason},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text

    async def admin(self, path: str) -> dict:
        token = session_token(shop=SHOP)
        response = await self.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    shopify = FakeShopify()
    runtime = await build_app_runtime(make_settings(db_url), http=shopify.client())
    try:
        async with asgi_client(create_app(runtime=runtime)) as client:
            yield Harness(runtime, client, shopify)
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def test_history_through_webhooks_reads_back_from_the_admin_api(harness: Harness) -> None:
    h = harness
    await give_token(h.runtime, h.shopify)  # so contract details come from the Admin API

    await h.subscribe(1, 101, t(1, 5), "25.00")
    await h.subscribe(2, 102, t(1, 10), "30.00")
    await h.subscribe(3, 103, t(1, 15), "20.00")
    await h.subscribe(8, 108, t(1, 20), "22.00", currency="EUR")
    await h.subscribe(4, 104, t(2, 1), "25.00")
    await h.subscribe(5, 105, t(2, 3), "40.00", count=2)
    await h.subscribe(9, 109, t(2, 10), "15.00", interval="week")
    await h.subscribe(6, 106, t(2, 20), "25.00")
    await h.subscribe(7, 107, t(3, 5), "25.00")
    await h.settle()

    for contract, dates in {
        1: [t(2, 5), t(3, 5), t(4, 5)],
        2: [t(2, 10), t(3, 10)],
        3: [t(2, 15)],
        8: [t(2, 20), t(3, 20)],
        5: [t(4, 3)],
        9: [t(3, 17), t(3, 24), t(3, 31), t(4, 7)],
    }.items():
        for at in dates:
            await h.bill(contract, at)
    await h.bill(4, t(3, 1), ok=False)
    await h.bill(4, t(3, 15), ok=False)
    await h.settle()

    # The subscribers tell us why before the store cancels (the answer waits for the webhook).
    await h.answer_cancel(3, 103, "too_expensive")
    await h.answer_cancel(6, 106, "deliveries_too_often")
    await h.end("cancel", 3, 103, t(3, 16))
    await h.end("fail", 4, 104, t(3, 20))
    await h.end("pause", 2, 102, t(3, 20))
    await h.end("cancel", 6, 106, t(3, 25))
    await h.end("cancel", 7, 107, t(3, 28))
    await h.settle()

    async with h.runtime.sessionmaker() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        # Event processing asked for a debounced recompute, which the queue has run.
        assert shop_id is not None
        assert await session.get(ShopRecomputeState, shop_id) is not None
    # Scored again as of a fixed day, so the figures below do not depend on today's date.
    outcome = await recompute_shop_now(h.runtime, shop_id, now=NOW)
    assert outcome is not None and outcome.stored

    overview = await h.admin("/api/admin/overview")
    assert overview["shop"] == SHOP
    assert overview["as_of"] == "2026-04-10"
    assert overview["computed_at"] is not None
    assert overview["subscribers"] == {"active": 4, "paused": 1}
    assert overview["mrr"]["currency"] == "USD"
    assert overview["mrr"]["amount"] == 110.22
    assert overview["mrr"]["by_currency"] == {"EUR": 22.0, "USD": 110.22}
    assert overview["contracts_without_amount"] == 0
    churn = overview["churn"]
    assert churn["month"] == "2026-03"
    assert (churn["active_at_start"], churn["churned"]) == (8, 3)
    assert churn["monthly_rate"] == pytest.approx(0.375)
    assert churn["voluntary"] == pytest.approx(0.25)
    assert churn["involuntary"] == pytest.approx(0.125)
    assert churn["merchant"] == 0.0
    assert overview["billing_success_rate"] == pytest.approx(0.875)
    assert overview["details"]["billing_success_rate"] == {"numerator": 7, "denominator": 8}
    assert overview["capture_rate"] == pytest.approx(0.5)
    assert [(r["code"], r["count"], r["share"]) for r in overview["cancel_reasons"]] == [
        ("deliveries_too_often", 1, 0.5),
        ("too_expensive", 1, 0.5),
    ]
    assert [r["driver"] for r in overview["cancel_reasons"]] == ["cadence", "price_value"]
    assert overview["cancellations"] == {
        "total": 4,
        "with_customer_reason": 2,
        "system_reasons": {"payment_failed": 1, "unknown": 1},
    }

    listed = await h.admin("/api/admin/subscribers?limit=200")
    assert sorted(i["customer_id"] for i in listed["items"]) == list(range(101, 110))
    segments = {i["customer_id"]: i["segment"] for i in listed["items"]}
    assert {c for c, s in segments.items() if s == "churned"} == {103, 104, 106, 107}
    detail = await h.admin("/api/admin/subscribers/109")
    assert detail["tenure"] == 4  # four weekly renewals
    assert detail["mrr"] == 65.22
    assert [(c["contract_id"], c["status"]) for c in detail["contracts"]] == [(9, "active")]
    retention = await h.admin("/api/admin/retention")
    assert [c["cohort"] for c in retention["cohorts"]] == ["2026-01", "2026-02", "2026-03"]
    assert [c["size"] for c in retention["cohorts"]] == [4, 4, 1]
