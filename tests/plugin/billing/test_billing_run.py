"""The billing day: due cycles only, each charged once whatever happens (reruns, lost answers,
crashes, two workers), skipped, paused and ended contracts untouched, the shop's own day."""

from __future__ import annotations

import asyncio
from datetime import date, time, timedelta

import pytest
from sqlalchemy import select, update

from plugin.billing import charges as charges_module
from plugin.billing.run import BillingUnavailable, bill_shop
from plugin.db.transaction import transaction
from plugin.models import Contract, Shop
from plugin.models.billing import ChargeStatus
from plugin.runtime import Runtime
from plugin.shopify import billing as shopify_billing
from tests.plugin.billing.billing_helpers import (
    D,
    charges,
    gid,
    keys,
    subscribe,
    variables_of_charges,
)
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP

DAY = timedelta(days=1)


async def test_each_due_contract_is_charged_once_and_a_second_run_charges_nothing(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    due = [await subscribe(rt, shopify) for _ in range(3)]
    tomorrow = await subscribe(rt, shopify, D + DAY)
    paused = await subscribe(rt, shopify, status="paused")
    cancelled = await subscribe(rt, shopify, status="cancelled")
    skipped = await subscribe(rt, shopify)
    shopify.skip_cycle(gid(skipped), 1)

    first = await bill_shop(rt, SHOP, D)

    assert (first.charged, first.already, first.skipped_cycles, first.refused) == (3, 0, 1, [])
    assert sorted(keys(shopify)) == sorted(f"valuehealth-{c}-1-0" for c in due)
    assert variables_of_charges(shopify)[0] == {
        "contractId": gid(due[0]),
        "input": {
            "idempotencyKey": f"valuehealth-{due[0]}-1-0",
            "billingCycleSelector": {"index": 1},
        },
    }
    asked = {r.json()["variables"].get("contractId") for r in shopify.requests_to("/graphql.json")}
    assert gid(paused) not in asked and gid(cancelled) not in asked  # never even looked at
    assert not shopify.attempts_for(gid(tomorrow))
    assert [c.status for c in await charges(rt)] == [ChargeStatus.SUBMITTED] * 3

    second = await bill_shop(rt, SHOP, D)
    # Those billed moved on to their next cycle; only the one due tomorrow is looked at.
    assert (second.charged, second.contracts_checked) == (0, 1)

    # Even with our copy of the date stale (a late webhook), the ledger charges nothing twice.
    async with transaction(rt.sessionmaker, None) as tx:
        await tx.session.execute(update(Contract).values(next_billing_date=D))
    third = await bill_shop(rt, SHOP, D)
    assert (third.charged, third.already, third.skipped_cycles) == (0, 3, 1)
    assert len(shopify.attempts) == 3
    assert "a second run today charges nothing" in third.describe()


async def test_a_billed_contract_is_not_looked_at_again_until_its_next_cycle(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    await bill_shop(rt, SHOP, D)
    async with rt.sessionmaker() as session:
        contract = await session.scalar(select(Contract).where(Contract.contract_id == cid))
        assert contract is not None and contract.next_billing_date == date(2026, 3, 2)
    shopify.requests.clear()
    assert (await bill_shop(rt, SHOP, D + DAY)).contracts_checked == 0
    assert shopify.requests_to("/graphql.json") == []


async def test_a_lost_answer_is_sent_again_with_the_same_key_and_charges_once(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.lose_next_response()

    result = await bill_shop(rt, SHOP, D)

    assert result.charged == 1
    assert [k for k in (v["input"]["idempotencyKey"] for v in variables_of_charges(shopify))] == [
        f"valuehealth-{cid}-1-0"
    ] * 2  # sent twice, with one key
    assert len(shopify.attempts) == 1


async def test_a_crash_between_claim_and_charge_is_finished_by_the_next_run(
    rt: Runtime, shop: Shop, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await subscribe(rt, shopify), await subscribe(rt, shopify)
    real = shopify_billing.create_attempt
    calls = 0

    async def crash_on_second(*args: object) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker killed")
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(charges_module, "create_attempt", crash_on_second)
    with pytest.raises(RuntimeError):
        await bill_shop(rt, SHOP, D)
    assert [c.status for c in await charges(rt)] == [ChargeStatus.SUBMITTED, ChargeStatus.CLAIMED]

    monkeypatch.setattr(charges_module, "create_attempt", real)
    rerun = await bill_shop(rt, SHOP, D)

    assert rerun.charged == 1  # the claimed key, sent now; the first contract moved on
    assert sorted(keys(shopify)) == sorted(f"valuehealth-{c}-1-0" for c in (first, second))


async def test_two_workers_at_once_charge_each_cycle_once(
    pg_url: str, rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    due = [await subscribe(rt, shopify) for _ in range(6)]

    results = await asyncio.gather(bill_shop(rt, SHOP, D), bill_shop(rt, SHOP, D))

    assert sorted(keys(shopify)) == sorted(f"valuehealth-{c}-1-0" for c in due)
    assert sum(r.charged for r in results) >= 6  # both may send a claimed key; Shopify dedupes
    assert len(await charges(rt)) == 6


async def test_the_billing_day_is_the_shops_day(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    async with transaction(rt.sessionmaker, None) as tx:
        row = await tx.session.get(Shop, shop.id)
        assert row is not None
        row.timezone = "America/Los_Angeles"
    # 05:00 UTC on the 3rd is 21:00 on the 2nd in Los Angeles: due on the shop's 2nd.
    cid = await subscribe(rt, shopify, D + DAY, due_at=time(5))

    assert (await bill_shop(rt, SHOP, D)).charged == 1
    assert keys(shopify) == [f"valuehealth-{cid}-1-0"]
    assert (await bill_shop(rt, SHOP, D + DAY)).charged == 0


async def test_a_day_missed_is_caught_up_the_next_day(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify, D - 2 * DAY)
    result = await bill_shop(rt, SHOP, D)
    assert result.charged == 1 and keys(shopify) == [f"valuehealth-{cid}-1-0"]


async def test_a_charge_shopify_refuses_is_reported_and_tried_again_the_next_day(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.refuse_next(
        "subscriptionBillingAttemptCreate",
        "Subscription contract is under review",
        code="CONTRACT_UNDER_REVIEW",
    )
    result = await bill_shop(rt, SHOP, D)
    assert result.charged == 0
    assert result.refused == [(cid, "Subscription contract is under review")]
    (charge,) = await charges(rt)
    assert (charge.status, charge.error_code) == (ChargeStatus.REJECTED, "CONTRACT_UNDER_REVIEW")
    assert shopify.attempts == []

    # The review is over by the next day: the same key goes through, once.
    assert (await bill_shop(rt, SHOP, D + DAY)).charged == 1
    assert keys(shopify) == [f"valuehealth-{cid}-1-0"]
    (charge,) = await charges(rt)
    assert charge.status == ChargeStatus.SUBMITTED


async def test_throttling_waits_and_charges(rt: Runtime, shop: Shop, shopify: FakeShopify) -> None:
    cid = await subscribe(rt, shopify)
    shopify.throttle(2, requested=10, available=0, restore_rate=1000)
    assert (await bill_shop(rt, SHOP, D)).charged == 1
    assert keys(shopify) == [f"valuehealth-{cid}-1-0"]


async def test_a_shop_without_a_token_is_not_billed(rt: Runtime) -> None:
    with pytest.raises(BillingUnavailable, match="no shop"):
        await bill_shop(rt, SHOP, D)
