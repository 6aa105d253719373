"""Loaders: a small hand-built shop read into exactly the expected engine columns (both
backends), local days in the shop's timezone, statuses rebuilt for an earlier as-of, and the
survey signals of churn risk dated when they became known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from plugin.runtime import Runtime
from plugin.scoring.history import inputs_as_of
from plugin.scoring.loaders import LoadedShop, load_history
from plugin.scoring.localtime import day_end, shop_zone
from plugin.scoring.shop_settings import parse_value_settings
from plugin.value import (
    BillingInterval,
    ChangeSource,
    ContractStatus,
    EndSource,
    EventKind,
)
from plugin.value.behaviour import features_as_of
from plugin.value.engine import behaviour_log
from tests.plugin.scoring.builders import ShopBuilder, at, days_since_epoch

TZ = "America/New_York"
TODAY = date(2026, 3, 10)
D = np.datetime64


def days(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]")


async def load(runtime: Runtime, shop: ShopBuilder, earliest: date = TODAY) -> LoadedShop:
    zone = shop_zone(TZ)
    settings = parse_value_settings(
        {"plans": [{"plan": "Monthly box", "currency": "USD", "price": 25, "one_time_price": 30}]}
    )
    async with runtime.engine.connect() as conn, conn.begin():
        return await load_history(
            conn,
            shop.shop_id,
            zone,
            day_end(zone, TODAY),
            day_end(zone, earliest),
            settings,
            read_at=at(2026, 3, 10, 15),
        )


@pytest.fixture
async def shop(runtime: Runtime) -> ShopBuilder:
    """Six customers in New York time (UTC−5, UTC−4 from 8 March 2026)."""
    s = await ShopBuilder.create(runtime, "loader-shop.myshopify.com", timezone=TZ)
    other = await ShopBuilder.create(runtime, "other-shop.myshopify.com")
    stranger = await other.subscriber(501)
    await other.contract(stranger, started=at(2026, 1, 2), amount="99.00")

    ada = await s.subscriber(501)
    c_ada = await s.contract(ada, started=at(2026, 1, 5, 10), amount="25.00", plan="Monthly box")
    await s.attempt(c_ada, at(2026, 2, 5))
    await s.attempt(c_ada, at(2026, 3, 5))
    await s.change(c_ada, "skip", at(2026, 2, 1), source="merchant")
    await s.nps(ada, at(2026, 2, 27), score=9, answered=at(2026, 3, 1), value_for_money=4)
    await s.order(c_ada, ada, at(2026, 3, 5), fulfilled=at(2026, 3, 5), delivered=at(2026, 3, 7))

    # Cancelled at 03:00 UTC on 20 February: 22:00 on the 19th in New York.
    bob = await s.subscriber(502)
    c_bob = await s.contract(
        bob, started=at(2026, 1, 10), status="cancelled", ended=at(2026, 2, 20, 3), amount="20.00"
    )
    await s.attempt(c_bob, at(2026, 2, 10), ok=False)
    await s.cancellation(c_bob, bob, at(2026, 2, 20, 3), "too_expensive")

    cleo = await s.subscriber(503)
    c_cleo = await s.contract(
        cleo,
        started=at(2025, 12, 1),
        status="paused",
        status_at=at(2026, 2, 25),
        amount="30.00",
        currency="CAD",
        interval="week",
        count=2,
    )
    await s.change(c_cleo, "pause", at(2026, 2, 25), source="subscriber")
    await s.nps(cleo, at(2026, 2, 28))

    await s.subscriber(504)  # never subscribed: not scored

    # Left on 20 January, came back (same contract reactivated) on 1 February.
    dan = await s.subscriber(505)
    await s.contract(
        dan,
        started=at(2026, 1, 1),
        status="active",
        status_at=at(2026, 2, 1),
        amount=None,
        history=[
            ("active", at(2026, 1, 1)),
            ("cancelled", at(2026, 1, 20)),
            ("active", at(2026, 2, 1)),
        ],
    )
    # Starts after the end of 10 March in New York (04:00 UTC on the 11th): not yet known.
    eve = await s.subscriber(506)
    await s.contract(eve, started=at(2026, 3, 11, 5))
    return s


async def test_loads_exact_columns_in_local_days(runtime: Runtime, shop: ShopBuilder) -> None:
    loaded = await load(runtime, shop)
    prepared = inputs_as_of(loaded.history, days_since_epoch(TODAY))
    inputs = prepared.inputs

    assert inputs.subscribers.customer_id.tolist() == [501, 502, 503, 505]
    con = inputs.contracts
    assert con.subscriber.tolist() == [0, 1, 2, 3]
    assert con.status.tolist() == [
        ContractStatus.ACTIVE,
        ContractStatus.CANCELLED,
        ContractStatus.PAUSED,
        ContractStatus.ACTIVE,
    ]
    assert np.array_equal(
        con.started_on, days("2026-01-05", "2026-01-10", "2025-12-01", "2026-01-01")
    )
    assert np.array_equal(
        con.ended_on,
        np.array(["NaT", "2026-02-19", "NaT", "NaT"], dtype="datetime64[D]"),
        equal_nan=True,
    )
    assert con.end_source.tolist() == [EndSource.NONE, EndSource.VOLUNTARY, 0, 0]
    assert con.currency.tolist() == ["USD", "USD", "CAD", "USD"]
    assert con.amount.tolist() == [25.0, 20.0, 30.0, 0.0]
    assert con.interval.tolist() == [
        BillingInterval.MONTH,
        BillingInterval.MONTH,
        BillingInterval.WEEK,
        BillingInterval.MONTH,
    ]
    assert con.interval_count.tolist() == [1, 1, 2, 1]
    assert con.plan.tolist() == [0, -1, -1, -1]
    assert prepared.contracts_without_amount == 1  # Dan's amount is not fetched yet

    att = inputs.billing_attempts
    assert sorted(
        zip(att.contract.tolist(), att.attempted_on.tolist(), att.succeeded.tolist(), strict=True)
    ) == [
        (0, date(2026, 2, 5), True),
        (0, date(2026, 3, 5), True),
        (1, date(2026, 2, 10), False),
    ]
    ans = inputs.answers
    assert ans.subscriber.tolist() == [0]
    assert ans.answered_on.tolist() == [date(2026, 3, 1)]
    assert ans.score.tolist() == [9.0]
    assert ans.value_for_money.tolist() == [4.0]
    inv = inputs.invitations
    assert sorted(zip(inv.subscriber.tolist(), inv.answered.tolist(), strict=True)) == [
        (0, True),
        (2, False),
    ]
    can = inputs.cancellations
    assert can.contract.tolist() == [1]
    assert can.cancelled_on.tolist() == [date(2026, 2, 19)]
    assert can.reason.tolist() == ["too_expensive"]
    ev = inputs.events
    assert sorted(
        zip(ev.subscriber.tolist(), ev.kind.tolist(), ev.source.tolist(), strict=True)
    ) == [
        (0, EventKind.SKIP, ChangeSource.MERCHANT),
        (2, EventKind.PAUSE, ChangeSource.SUBSCRIBER),
    ]
    dl = inputs.deliveries
    # Wall-clock New York time (UTC−5 before the switch on 8 March).
    assert dl.fulfilled_at.tolist() == [np.datetime64("2026-03-05T07:00:00").item()]
    assert dl.delivered_at.tolist() == [np.datetime64("2026-03-07T07:00:00").item()]
    assert prepared.subscriber_ids.size == 4


async def test_earlier_as_of_rebuilds_statuses_from_history(
    runtime: Runtime, shop: ShopBuilder
) -> None:
    loaded = await load(runtime, shop, earliest=date(2026, 1, 25))
    jan = inputs_as_of(loaded.history, days_since_epoch(date(2026, 1, 25))).inputs
    # Cleo (paused 25 Feb) was active; Bob (cancelled 19 Feb) was active; Dan had cancelled.
    assert jan.subscribers.customer_id.tolist() == [501, 502, 503, 505]
    assert jan.contracts.status.tolist() == [
        ContractStatus.ACTIVE,
        ContractStatus.ACTIVE,
        ContractStatus.ACTIVE,
        ContractStatus.CANCELLED,
    ]
    assert jan.contracts.ended_on[3] == D("2026-01-20")
    assert jan.contracts.end_source.tolist() == [0, 0, 0, EndSource.UNKNOWN]
    # Nothing dated after the as-of day is visible.
    assert len(jan.billing_attempts) == 0
    assert len(jan.cancellations) == 0
    assert len(jan.answers) == 0
    assert len(jan.events) == 0
    assert len(jan.deliveries) == 0

    feb = inputs_as_of(loaded.history, days_since_epoch(date(2026, 2, 19))).inputs
    assert feb.contracts.status.tolist()[1] == ContractStatus.CANCELLED
    assert feb.contracts.ended_on[1] == D("2026-02-19")
    assert feb.contracts.end_source.tolist()[1] == EndSource.VOLUNTARY
    assert feb.cancellations.contract.tolist() == [1]
    assert feb.billing_attempts.succeeded.tolist() == [True, False]


async def test_other_shops_rows_are_never_loaded(runtime: Runtime, shop: ShopBuilder) -> None:
    loaded = await load(runtime, shop)
    # The other shop's customer 501 paid 99.00; nothing of it reaches this shop's arrays.
    assert 99.0 not in loaded.history.con_amount.tolist()
    assert loaded.history.customer_id.tolist() == [501, 502, 503, 505]


async def test_survey_signals_are_features_once_settled(runtime: Runtime) -> None:
    """Cancel attempts and cadence reasons count in the 90 days before the cutoff, from the
    day their answer settled: answer + the shop's cancel answer window (3 days here)."""
    s = await ShopBuilder.create(
        runtime,
        "survey-signals.myshopify.com",
        timezone=TZ,
        settings={"surveys": {"cancel_answer_window_days": 3}},
    )
    ada = await s.subscriber(601)
    c_ada = await s.contract(ada, started=at(2025, 11, 1))
    await s.change(c_ada, "cancel_attempt", at(2025, 12, 5), source="subscriber")  # 8 Dec
    await s.change(c_ada, "cancel_attempt", at(2026, 2, 20), source="subscriber")  # 23 Feb
    await s.change(c_ada, "cadence_reason", at(2026, 2, 20), source="subscriber")  # 23 Feb
    await s.change(c_ada, "cancel_attempt", at(2026, 3, 6), source="subscriber")  # 9 Mar
    # Settles at 12:00 UTC on 11 March, after the cut-off (end of 10 March in New York).
    await s.change(c_ada, "cancel_attempt", at(2026, 3, 8), source="subscriber")
    bob = await s.subscriber(602)
    c_bob = await s.contract(bob, started=at(2025, 11, 1))
    await s.change(c_bob, "skip", at(2026, 3, 1), source="merchant")  # known at once
    await s.change(c_bob, "cadence_reason", at(2026, 3, 9), source="subscriber")  # 12 Mar

    loaded = await load(runtime, s)
    inputs = inputs_as_of(loaded.history, days_since_epoch(TODAY)).inputs
    ev = inputs.events
    assert sorted(
        zip(ev.subscriber.tolist(), ev.occurred_on.tolist(), ev.kind.tolist(), strict=True)
    ) == [
        (0, date(2025, 12, 8), EventKind.CANCEL_ATTEMPT),
        (0, date(2026, 2, 23), EventKind.CANCEL_ATTEMPT),
        (0, date(2026, 2, 23), EventKind.CADENCE_REASON),
        (0, date(2026, 3, 9), EventKind.CANCEL_ATTEMPT),
        (1, date(2026, 3, 1), EventKind.SKIP),
    ]

    log = behaviour_log(inputs)
    subs = np.arange(2)
    # As the engine scores today: the cut-off is the first day not known (11 March); the
    # window starts 90 days earlier (11 December), after Ada's first attempt settled.
    now = features_as_of(log, D("2026-03-11"), subs)
    assert now.cancel_attempts.tolist() == [2, 0]
    assert now.cadence_complaint.tolist() == [True, False]
    assert now.skips.tolist() == [0, 1]
    assert now.observed_until == D("2026-03-09")
    # A training window cut on 1 March (window from 1 December): the December attempt and
    # the February answers, not the March attempt nor Bob's skip of 1 March.
    march = features_as_of(log, D("2026-03-01"), subs)
    assert march.cancel_attempts.tolist() == [2, 0]
    assert march.cadence_complaint.tolist() == [True, False]
    assert march.skips.tolist() == [0, 0]
    assert march.observed_until == D("2026-02-23")
    # Cut on 23 February, the answers of the 20th were still unsettled.
    feb = features_as_of(log, D("2026-02-23"), subs)
    assert feb.cancel_attempts.tolist() == [1, 0]
    assert feb.cadence_complaint.tolist() == [False, False]
    assert feb.observed_until == D("2025-12-08")


async def test_survey_signals_wait_the_default_answer_window(runtime: Runtime) -> None:
    s = await ShopBuilder.create(runtime, "default-window.myshopify.com", timezone=TZ)
    ada = await s.subscriber(601)
    c_ada = await s.contract(ada, started=at(2025, 11, 1))
    await s.change(c_ada, "cancel_attempt", at(2026, 2, 20), source="subscriber")  # 27 Feb
    await s.change(c_ada, "cadence_reason", at(2026, 3, 6), source="subscriber")  # 13 Mar
    loaded = await load(runtime, s)
    ev = inputs_as_of(loaded.history, days_since_epoch(TODAY)).inputs.events
    assert ev.occurred_on.tolist() == [date(2026, 2, 27)]
    assert ev.kind.tolist() == [EventKind.CANCEL_ATTEMPT]
