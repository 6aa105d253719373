"""The demo's snapshots of the past are computed once the whole history is in, each from the
data as of its own day: month-end snapshots for every complete month, daily ones for the
recent past (trends and the measured effect of initiatives need them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from plugin.demo.replay import DEMO_TIMEZONE, build_demo
from plugin.demo.simulation import DemoConfig
from plugin.initiatives.effect import initiative_effect
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Initiative,
    MetricSnapshot,
    ShopRecomputeState,
)
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.scoring.reads import trend
from plugin.scoring.store import DAY, MONTH

END = datetime(2026, 3, 1, tzinfo=UTC)
ZONE = ZoneInfo(DEMO_TIMEZONE)
# History from 2025-09-01: complete months 2025-09 to 2026-01 before the shop's "today"
# (2026-02-28 in New York at END), and more days than DAYS of it.
CONFIG = DemoConfig(subscribers=40, months=6, seed=5, end=END)
DAYS = 100


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZONE).astimezone(UTC)


async def _attempts_of_window(runtime: Runtime, shop_id: int, doc: dict) -> dict[str, int]:
    """Billing attempts in the snapshot's window (the shop's days), counted from the table."""
    first = date.fromisoformat(doc["window"]["start"])
    last = date.fromisoformat(doc["window"]["end"])
    async with runtime.sessionmaker() as session:
        rows = dict(
            (
                await session.execute(
                    select(BillingAttempt.status, func.count())
                    .where(
                        BillingAttempt.shop_id == shop_id,
                        BillingAttempt.occurred_at >= _local_start(first),
                        BillingAttempt.occurred_at < _local_start(last + timedelta(days=1)),
                    )
                    .group_by(BillingAttempt.status)
                )
            ).all()
        )
    return {
        "numerator": rows.get(BillingAttemptStatus.SUCCESS, 0),
        "denominator": sum(rows.values()),
    }


async def _snapshots(runtime: Runtime, shop_id: int, period: str) -> dict[date, dict]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(MetricSnapshot.period_start, MetricSnapshot.metrics).where(
                MetricSnapshot.shop_id == shop_id, MetricSnapshot.period == period
            )
        )
        return {row[0]: row[1] for row in rows}


async def test_month_snapshots_come_from_the_complete_history(runtime: Runtime) -> None:
    # A running queue would run a recompute as soon as no other job is waiting: during the
    # replay that would store month-ends of a half-replayed history, dated as if complete.
    assert isinstance(runtime.queue, InProcessQueue)
    runtime.queue.start()
    summary = await build_demo(runtime, CONFIG, now=END, daily_snapshots=DAYS)

    async with runtime.sessionmaker() as session:
        recomputed = await session.scalar(
            select(func.count())
            .select_from(ShopRecomputeState)
            .where(ShopRecomputeState.shop_id == summary.shop_id)
        )
    assert recomputed == 0  # no recompute ran on a partial history, none is left queued
    months = await _snapshots(runtime, summary.shop_id, MONTH)
    expected = [date(2025, m, 1) for m in (9, 10, 11, 12)] + [date(2026, 1, 1)]
    assert sorted(months) == expected == list(summary.month_snapshots)
    for first_day, doc in months.items():
        month_end = (first_day + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        assert doc["as_of"] == month_end.isoformat()
        # Every attempt of the month's window is there: the figure saw the whole history.
        counted = await _attempts_of_window(runtime, summary.shop_id, doc)
        assert doc["details"]["billing_success_rate"] == counted
    assert sum(doc["details"]["billing_success_rate"]["denominator"] for doc in months.values())


async def test_daily_snapshots_cover_the_recent_past(runtime: Runtime) -> None:
    summary = await build_demo(runtime, CONFIG, now=END, daily_snapshots=DAYS)

    today = END.astimezone(ZONE).date()  # the shop's day when the history ends
    past = [today - timedelta(days=k) for k in range(DAYS, 0, -1)]
    days = await _snapshots(runtime, summary.shop_id, DAY)
    assert sorted(days) == past == list(summary.day_snapshots)
    for day in (past[0], past[len(past) // 2], past[-1]):
        doc = days[day]
        assert doc["as_of"] == day.isoformat()  # as of that day, not of today
        counted = await _attempts_of_window(runtime, summary.shop_id, doc)
        assert doc["details"]["billing_success_rate"] == counted
    # Active subscribers grow with the history: each day saw only what had happened by then.
    assert days[past[0]]["subscribers"]["active"] < days[past[-1]]["subscribers"]["active"]

    async with runtime.sessionmaker() as session:
        points = await trend(session, summary.shop_id, "subscribers.active", DAY, past[0], today)
        assert [day for day, _ in points] == past
        # An initiative started 45 days ago, measured over 30 days either side.
        initiative = Initiative(
            shop_id=summary.shop_id,
            target_metric="billing_success_rate",
            starts_on=today - timedelta(days=45),
            window_days=30,
            expected_direction="up",
            expected_change=0.01,
        )
        effect = await initiative_effect(session, summary.shop_id, initiative, today)
    # Both sides are measured on daily snapshots covering all 30 days (whether 40 subscribers'
    # payment failures are enough for the significance test is another matter).
    assert effect.verdict != "measuring"
    assert (effect.days_before, effect.days_after) == (30, 30)
    assert effect.before is not None and effect.after is not None
