"""Recompute: snapshots and scores stored from a hand-built shop, figures checked by hand,
month-end snapshots filled in once, idempotence, and the guards against stale results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from plugin.db.transaction import transaction
from plugin.models import (
    Contract,
    MetricSnapshot,
    ShopRecomputeState,
    Subscriber,
    SubscriberScore,
)
from plugin.runtime import Runtime
from plugin.scoring import reads
from plugin.scoring.recompute import ShopNotFound, recompute_due, recompute_shop_now
from plugin.scoring.store import claim_store
from tests.plugin.scoring.builders import ShopBuilder, at

# 03:00 UTC on 11 March is still 10 March in New York: the as-of day.
NOW = at(2026, 3, 11, 3)
AS_OF = date(2026, 3, 10)


async def hand_shop(runtime: Runtime, domain: str = "recompute-shop.myshopify.com") -> ShopBuilder:
    """Ada (active, $25/month), Bob (cancelled 19 Feb: too expensive), Cleo (paused, CA$30
    every 2 weeks) and Dan (active, amount not fetched yet)."""
    s = await ShopBuilder.create(runtime, domain, timezone="America/New_York")
    ada = await s.subscriber(501, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    c_ada = await s.contract(ada, started=at(2026, 1, 5, 10), amount="25.00")
    await s.attempt(c_ada, at(2026, 2, 5))
    await s.attempt(c_ada, at(2026, 3, 5))
    await s.nps(ada, at(2026, 2, 27), score=9, answered=at(2026, 3, 1), value_for_money=4)
    bob = await s.subscriber(502)
    c_bob = await s.contract(
        bob, started=at(2026, 1, 10), status="cancelled", ended=at(2026, 2, 20, 3), amount="20.00"
    )
    await s.attempt(c_bob, at(2026, 2, 10), ok=False)
    await s.cancellation(c_bob, bob, at(2026, 2, 20, 3), "too_expensive")
    cleo = await s.subscriber(503)
    await s.contract(
        cleo,
        started=at(2025, 12, 1),
        status="paused",
        status_at=at(2026, 2, 25),
        amount="30.00",
        currency="CAD",
        interval="week",
        count=2,
    )
    await s.nps(cleo, at(2026, 2, 28))
    dan = await s.subscriber(505)
    await s.contract(dan, started=at(2026, 1, 1), amount=None)
    return s


async def snapshot_rows(runtime: Runtime, shop_id: int) -> list[tuple[str, date]]:
    snap = MetricSnapshot.__table__
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(snap.c.period, snap.c.period_start)
            .where(snap.c.shop_id == shop_id)
            .order_by(snap.c.period, snap.c.period_start)
        )
        return [(r[0], r[1]) for r in rows]


async def test_recompute_stores_hand_checked_figures(runtime: Runtime) -> None:
    shop = await hand_shop(runtime)
    outcome = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert outcome is not None and outcome.stored
    assert outcome.as_of == AS_OF
    assert outcome.subscribers == 4

    async with runtime.sessionmaker() as session:
        doc = await reads.latest_overview(session, shop.shop_id)
    assert doc is not None
    assert doc["shop"] == "recompute-shop.myshopify.com"
    assert doc["as_of"] == "2026-03-10"
    assert doc["subscribers"] == {"active": 2, "paused": 1}
    # Ada's $25; Dan's amount is unknown and said so; Cleo's CA$ contract is paused ($0).
    assert doc["mrr"] == {
        "amount": 25.0,
        "currency": "USD",
        "by_currency": {"CAD": 0.0, "USD": 25.0},
    }
    assert doc["contracts_without_amount"] == 1
    assert "mrr.contracts_without_amount" in doc["missing"]
    # February: Ada, Bob, Cleo and Dan subscribed on the 1st; Bob left (his own choice).
    assert doc["churn"]["month"] == "2026-02"
    assert doc["churn"]["active_at_start"] == 4
    assert doc["churn"]["monthly_rate"] == pytest.approx(0.25)
    assert doc["churn"]["voluntary"] == pytest.approx(0.25)
    assert doc["churn"]["involuntary"] == 0.0
    # Window 9 Feb – 10 Mar: Bob's failed attempt (10 Feb) and Ada's renewal (5 Mar).
    assert doc["billing_success_rate"] == pytest.approx(0.5)
    assert doc["details"]["billing_success_rate"] == {"numerator": 1, "denominator": 2}
    assert doc["capture_rate"] == 1.0
    assert [(r["code"], r["count"], r["share"]) for r in doc["cancel_reasons"]] == [
        ("too_expensive", 1, 1.0)
    ]
    assert doc["cancel_reasons"][0]["label"] == "It is too expensive"
    assert doc["cancel_reasons"][0]["driver"] == "price_value"
    assert doc["nps"]["score"] is None
    assert doc["nps"]["responses"] == 1
    assert doc["missing"]["nps.score"] == "not enough answers (1 < 30)"
    assert doc["response_rate"] == pytest.approx(0.5)
    assert doc["value_perception"] == 4.0

    async with runtime.sessionmaker() as session:
        scores = (
            (
                await session.execute(
                    select(SubscriberScore).where(SubscriberScore.shop_id == shop.shop_id)
                )
            )
            .scalars()
            .all()
        )
    by_segment = {row.subscriber_id: row.segment for row in scores}
    assert len(scores) == 4
    assert sorted(by_segment.values()).count("churned") == 1
    bob = next(row for row in scores if row.segment == "churned")
    assert bob.value_score is None and bob.churn_risk is None and bob.risk_method is None
    ada = next(row for row in scores if row.nps_last == 9)
    assert ada.mrr is not None and float(ada.mrr) == 25.0
    assert ada.currency == "USD"
    assert ada.tenure == 2  # two renewals
    assert ada.risk_method == "fixed_multipliers"
    assert 0.0 <= ada.churn_risk <= 1.0
    assert 0.0 <= ada.value_score <= 100.0
    assert ada.components["orders"] == 3
    assert ada.components["nps_last_on"] == "2026-03-01"
    assert ada.components["active"] is True


async def test_month_snapshots_filled_once_and_recompute_is_idempotent(runtime: Runtime) -> None:
    shop = await hand_shop(runtime)
    first = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert first is not None
    # The first contract started 1 December 2025: its months to February are filled in.
    assert first.months == ("2025-12", "2026-01", "2026-02")
    rows = await snapshot_rows(runtime, shop.shop_id)
    assert rows == [
        ("day", AS_OF),
        ("latest", AS_OF),
        ("month", date(2025, 12, 1)),
        ("month", date(2026, 1, 1)),
        ("month", date(2026, 2, 1)),
        ("month", date(2026, 3, 1)),
    ]
    async with runtime.sessionmaker() as session:
        feb = await reads.snapshot(session, shop.shop_id, "month", date(2026, 2, 1))
        before = await reads.latest_overview(session, shop.shop_id)
    assert feb is not None and feb["as_of"] == "2026-02-28"
    # On 28 February Bob had left and Cleo had paused; January is the last complete month.
    assert feb["subscribers"] == {"active": 2, "paused": 1}
    assert feb["churn"]["month"] == "2026-01"

    second = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert second is not None and second.stored
    assert second.months == ()
    assert await snapshot_rows(runtime, shop.shop_id) == rows
    async with runtime.sessionmaker() as session:
        after = await reads.latest_overview(session, shop.shop_id)
        count = await session.scalar(
            select(func.count()).where(SubscriberScore.shop_id == shop.shop_id)
        )
    assert after == before
    assert count == 4

    # The next day: a new day snapshot and "latest" moves; still one "latest".
    await recompute_shop_now(runtime, shop.shop_id, now=NOW + timedelta(days=1))
    rows = await snapshot_rows(runtime, shop.shop_id)
    assert ("latest", AS_OF + timedelta(days=1)) in rows
    assert [r for r in rows if r[0] == "latest"] == [("latest", AS_OF + timedelta(days=1))]
    assert [r for r in rows if r[0] == "day"] == [
        ("day", AS_OF),
        ("day", AS_OF + timedelta(days=1)),
    ]


async def test_month_ends_fill_in_a_few_per_recompute_newest_first(runtime: Runtime) -> None:
    shop = await ShopBuilder.create(runtime, "old-shop.myshopify.com")
    sub = await shop.subscriber(901)
    await shop.contract(sub, started=at(2025, 5, 20), amount="10.00")
    filled = []
    for _ in range(4):
        outcome = await recompute_shop_now(runtime, shop.shop_id, now=NOW, backfill=3)
        assert outcome is not None
        filled.append(outcome.months)
    # May 2025 is the first month with a contract; the year before March 2026 goes back to it.
    assert filled == [
        ("2025-12", "2026-01", "2026-02"),
        ("2025-09", "2025-10", "2025-11"),
        ("2025-06", "2025-07", "2025-08"),
        ("2025-05",),
    ]
    again = await recompute_shop_now(runtime, shop.shop_id, now=NOW, backfill=3)
    assert again is not None and again.months == ()


async def test_shop_without_contracts_scores_to_zero_with_reasons(runtime: Runtime) -> None:
    shop = await ShopBuilder.create(runtime, "empty-shop.myshopify.com")
    await shop.subscriber(777)
    outcome = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert outcome is not None
    doc = outcome.overview
    assert outcome.subscribers == 0
    assert doc["subscribers"] == {"active": 0, "paused": 0}
    assert doc["mrr"]["amount"] == 0.0 and doc["mrr"]["currency"] == "USD"
    assert doc["churn"]["monthly_rate"] is None
    assert doc["missing"]["churn.monthly_rate"].startswith("nobody was subscribed")
    assert doc["billing_success_rate"] is None
    assert doc["missing"]["billing_success_rate"] == "no billing attempts in the window"


async def test_unknown_shop_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ShopNotFound):
        await recompute_shop_now(runtime, 987654)


async def test_an_older_read_never_overwrites_a_newer_result(runtime: Runtime) -> None:
    shop = await hand_shop(runtime)
    outcome = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert outcome is not None
    async with transaction(runtime.sessionmaker, None) as tx:
        assert not await claim_store(tx.session, shop.shop_id, outcome.read_at - timedelta(1))
        assert await claim_store(tx.session, shop.shop_id, outcome.read_at)
    async with runtime.sessionmaker() as session:
        state = await session.get(ShopRecomputeState, shop.shop_id)
    assert state is not None and state.computed_at == outcome.read_at
    assert state.duration_ms is not None and state.duration_ms >= 0


async def test_debounced_request_is_skipped_once_a_later_read_is_stored(runtime: Runtime) -> None:
    shop = await hand_shop(runtime)
    assert await recompute_due(runtime, shop.shop_id, 1_000)  # never computed
    outcome = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert outcome is not None
    read = int(outcome.read_at.timestamp())
    # A request whose window ended before that read was covered by it ...
    assert not await recompute_due(runtime, shop.shop_id, read - 60)
    # ... one whose window ends later may hold changes the read did not see.
    assert await recompute_due(runtime, shop.shop_id, read + 60)
    assert await recompute_due(runtime, shop.shop_id, None)
    assert datetime.fromtimestamp(read, UTC) <= outcome.read_at


async def score_rows(runtime: Runtime, shop_id: int) -> dict[int, tuple[Any, ...]]:
    """Each subscriber's stored score row: (its values, computed_at)."""
    sc = SubscriberScore.__table__
    values = [c for c in sc.c if c.name not in ("computed_at", "fingerprint")]
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(*values, sc.c.computed_at).where(sc.c.shop_id == shop_id)
        )
        return {row.subscriber_id: (tuple(row)[:-1], row.computed_at) for row in rows}


async def test_a_recompute_rewrites_only_the_score_rows_that_changed(runtime: Runtime) -> None:
    shop = await hand_shop(runtime)
    first = await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    assert first is not None and first.scores is not None
    assert (first.scores.written, first.scores.removed) == (4, 0)
    before = await score_rows(runtime, shop.shop_id)

    # Nothing happened since: the same day's recompute writes no score row.
    later = NOW + timedelta(minutes=5)
    again = await recompute_shop_now(runtime, shop.shop_id, now=later)
    assert again is not None and again.scores is not None
    assert (again.scores.written, again.scores.removed) == (0, 0)
    assert await score_rows(runtime, shop.shop_id) == before

    # Ada renews, and Dan's only contract is gone (he is no longer scored).
    async with transaction(runtime.sessionmaker, None) as tx:
        ada, dan = [
            await tx.session.scalar(
                select(Subscriber.id).where(
                    Subscriber.shop_id == shop.shop_id, Subscriber.customer_id == customer
                )
            )
            for customer in (501, 505)
        ]
        c_ada = await tx.session.scalar(select(Contract.id).where(Contract.subscriber_id == ada))
        await tx.session.execute(delete(Contract).where(Contract.subscriber_id == dan))
    assert ada is not None and dan is not None and c_ada is not None
    await shop.attempt(c_ada, at(2026, 3, 10, 1))
    latest = NOW + timedelta(minutes=10)
    third = await recompute_shop_now(runtime, shop.shop_id, now=latest)
    assert third is not None and third.scores is not None
    after = await score_rows(runtime, shop.shop_id)
    assert dan not in after and third.scores.removed == 1
    assert after[ada][0] != before[ada][0] and after[ada][1] == latest
    # A row was written exactly when its values moved; the others kept their first write.
    moved = {sid for sid in after if after[sid][0] != before[sid][0]}
    assert {sid for sid in after if after[sid][1] == latest} == moved
    assert {sid for sid in after if after[sid][1] == NOW} == set(after) - moved
    assert third.scores.written == len(moved)
