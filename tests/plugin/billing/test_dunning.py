"""Dunning end to end: a failure webhook starts the shop's schedule, `bill` retries on its
days, hopeless retries wait for a new card, the last failure pauses or cancels as the merchant
chose, and a paid retry counts as recovered revenue in its month."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from plugin.billing import charges as charges_module
from plugin.billing.dunning import needs_new_payment_method
from plugin.billing.recovered import RecoveredMonth, recovered_by_month
from plugin.billing.run import bill_shop
from plugin.billing.settings import BillingSettingsError, parse_billing_settings
from plugin.db.transaction import transaction
from plugin.models import Shop
from plugin.models.billing import ChargeStatus, DunningStatus
from plugin.runtime import Runtime
from tests.plugin.billing.billing_helpers import (
    D,
    case_of,
    charges,
    deliver_outcomes,
    gid,
    keys,
    subscribe,
)
from tests.support.fake_shopify import FakeShopify
from tests.support.payloads import Event, contract, deliver
from tests.support.signing import SHOP

DAY = timedelta(days=1)


async def configure(rt: Runtime, shop: Shop, **billing: object) -> None:
    async with transaction(rt.sessionmaker, None) as tx:
        row = await tx.session.get(Shop, shop.id)
        assert row is not None
        row.settings = {"billing": billing}


async def bill_and_answer(rt: Runtime, shopify: FakeShopify, day: date) -> list[str]:
    await bill_shop(rt, SHOP, day)
    return await deliver_outcomes(rt, shopify, day)


async def test_a_failure_is_retried_after_1_3_and_7_days_then_the_contract_is_paused(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), *["insufficient_funds"] * 4)

    assert await bill_and_answer(rt, shopify, D) == ["failure"]
    case = await case_of(rt)
    assert (case.failures, case.next_retry_on, case.status) == (1, D + DAY, DunningStatus.OPEN)

    # Nothing happens before a retry's day; each retry day charges once, with its own key.
    timeline = {}
    for offset in range(1, 9):
        timeline[offset] = await bill_and_answer(rt, shopify, D + offset * DAY)
    assert timeline == {
        1: ["failure"],
        2: [],
        3: ["failure"],
        4: [],
        5: [],
        6: [],
        7: ["failure"],
        8: [],
    }
    assert keys(shopify) == [f"valuehealth-{cid}-1-{n}" for n in range(4)]
    case = await case_of(rt)
    assert (case.status, case.final_action, case.failures) == (DunningStatus.EXHAUSTED, "pause", 4)
    assert shopify.contracts[SHOP][gid(cid)].status == "PAUSED"
    assert all(c.status == ChargeStatus.FAILURE for c in await charges(rt))


async def test_the_merchant_can_choose_the_days_and_to_cancel(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    await configure(rt, shop, retry_days=[2], final_action="cancel")
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "card_declined", "card_declined")

    await bill_and_answer(rt, shopify, D)
    assert await bill_and_answer(rt, shopify, D + DAY) == []
    assert await bill_and_answer(rt, shopify, D + 2 * DAY) == ["failure"]
    result = await bill_shop(rt, SHOP, D + 3 * DAY)

    assert result.final_actions == [(cid, "cancel")]
    assert shopify.contracts[SHOP][gid(cid)].status == "CANCELLED"


async def test_a_paid_retry_recovers_the_cycle_and_counts_in_its_month(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    late = await subscribe(rt, shopify, date(2026, 1, 29), price="30.00")
    early = await subscribe(rt, shopify, price="25.00")
    never = await subscribe(rt, shopify, price="99.00")
    shopify.decline(gid(late), "insufficient_funds", "insufficient_funds")
    shopify.decline(gid(early), "insufficient_funds")
    shopify.decline(gid(never), *["insufficient_funds"] * 4)

    await bill_and_answer(rt, shopify, date(2026, 1, 29))  # late fails on Jan 29
    await bill_and_answer(rt, shopify, date(2026, 1, 30))  # late: retry 1 fails
    await bill_and_answer(rt, shopify, D)  # late: retry 2 pays (Feb 1); early fails
    await bill_and_answer(rt, shopify, D + DAY)  # early: retry 1 pays
    for offset in range(2, 10):
        await bill_and_answer(rt, shopify, D + offset * DAY)

    async with rt.sessionmaker() as session:
        months = await recovered_by_month(session, shop.id, "UTC")
    # Hand-computed: 30.00 (late, paid Feb 2) + 25.00 (early, paid Feb 3); `never` adds nothing.
    assert months == [RecoveredMonth("2026-02", "USD", Decimal("55.00"), 2)]


async def test_an_expired_card_is_not_retried_until_the_customer_updates_it(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    customer = 4242
    cid = await subscribe(rt, shopify, customer_id=customer)
    shopify.decline(gid(cid), "expired_payment_method")

    await bill_and_answer(rt, shopify, D)
    first_retry = await bill_shop(rt, SHOP, D + DAY)
    assert (first_retry.retried, first_retry.retries_skipped) == (0, 1)
    assert len(shopify.attempts) == 1

    updated = {
        "customer_id": customer,
        "admin_graphql_api_customer_id": f"gid://shopify/Customer/{customer}",
    }
    at = datetime.combine(D + 2 * DAY, time(9), tzinfo=UTC)
    await deliver(rt, Event("customer_payment_methods/update", updated, at=at))
    assert await bill_and_answer(rt, shopify, D + 2 * DAY) == ["success"]
    assert keys(shopify)[-1] == f"valuehealth-{cid}-1-2"  # retry 1 was spent waiting
    assert (await case_of(rt)).status == DunningStatus.RECOVERED


async def test_without_a_new_card_every_retry_is_skipped_and_the_final_action_comes(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "expired_card")
    await bill_and_answer(rt, shopify, D)
    runs = [await bill_shop(rt, SHOP, D + n * DAY) for n in range(1, 8)]
    assert [r.retries_skipped for r in runs] == [1, 0, 1, 0, 0, 0, 1]
    assert [r.final_actions for r in runs][-1] == [(cid, "pause")]
    assert len(shopify.attempts) == 1


async def test_a_contract_paused_meanwhile_closes_its_case_uncharged(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "insufficient_funds")
    await bill_and_answer(rt, shopify, D)
    at = datetime.combine(D, time(18), tzinfo=UTC)
    await deliver(
        rt,
        Event("subscription_contracts/pause", contract(cid, status="paused", revision_id=2), at=at),
    )
    await bill_and_answer(rt, shopify, D + DAY)
    assert len(shopify.attempts) == 1
    assert (await case_of(rt)).status == DunningStatus.CLOSED


async def test_a_redelivered_failure_counts_once(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "insufficient_funds")
    await bill_shop(rt, SHOP, D)
    ((topic, payload),) = shopify.attempt_events()
    at = datetime.combine(D, time(12), tzinfo=UTC)
    await deliver(rt, Event(topic, payload, at=at), Event(topic, payload, at=at))
    assert (await case_of(rt)).failures == 1


@pytest.mark.parametrize(
    ("code", "hopeless"),
    [
        ("expired_payment_method", True),
        ("EXPIRED_CARD", True),
        ("insufficient_funds", False),
        (None, False),
    ],
)
def test_which_failures_wait_for_a_new_payment_method(code: str | None, hopeless: bool) -> None:
    assert needs_new_payment_method(code) is hopeless


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"retry_days": [3, 1]}, "retry_days"),
        ({"retry_days": [0]}, "retry_days"),
        ({"retry_days": "1,3"}, "retry_days"),
        ({"final_action": "delete"}, "final_action"),
        ({"billing_hour": 24}, "billing_hour"),
        ({"dunning": True}, "dunning"),
    ],
)
def test_bad_billing_settings_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(BillingSettingsError) as caught:
        parse_billing_settings(raw)
    assert caught.value.name == field


def test_billing_settings_defaults() -> None:
    settings = parse_billing_settings({})
    assert (settings.retry_days, settings.final_action, settings.billing_hour) == (
        (1, 3, 7),
        "pause",
        6,
    )


async def test_a_run_that_dies_while_retrying_sends_the_same_retry_again(
    rt: Runtime, shop: Shop, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await subscribe(rt, shopify)
    shopify.decline(gid(cid), "insufficient_funds")
    await bill_and_answer(rt, shopify, D)

    async def killed(*_args: object) -> str:
        raise RuntimeError("worker killed")

    real = charges_module.create_attempt
    monkeypatch.setattr(charges_module, "create_attempt", killed)
    with pytest.raises(RuntimeError):
        await bill_shop(rt, SHOP, D + DAY)
    monkeypatch.setattr(charges_module, "create_attempt", real)

    assert (await bill_shop(rt, SHOP, D + DAY)).retried == 1
    assert (await bill_shop(rt, SHOP, D + DAY)).retried == 0
    assert keys(shopify) == [f"valuehealth-{cid}-1-0", f"valuehealth-{cid}-1-1"]
    case = await case_of(rt)
    assert (case.retries_used, case.next_retry_on) == (1, None)  # waiting for the outcome
    assert await deliver_outcomes(rt, shopify, D + DAY) == ["success"]
    assert (await case_of(rt)).status == DunningStatus.RECOVERED
