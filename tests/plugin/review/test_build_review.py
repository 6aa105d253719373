"""`build_review` on stored month snapshots (both databases): what it reads, what it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from plugin.db.transaction import transaction
from plugin.initiatives.service import create_initiative, update_initiative
from plugin.models import Shop
from plugin.review import (
    ReviewError,
    ReviewNotAvailable,
    available_months,
    build_review,
    render,
)
from plugin.runtime import Runtime
from plugin.scoring.store import DAY, MONTH, SnapshotRow, store_snapshots
from tests.plugin.review.conftest import SHOP, february, march

NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)


async def setup_shop(runtime: Runtime) -> tuple[int, int]:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop, other = Shop(domain=SHOP), Shop(domain="other-review.myshopify.com")
        tx.session.add_all([shop, other])
        await tx.session.flush()
        await store_snapshots(
            tx.session,
            shop.id,
            NOW,
            [
                SnapshotRow(MONTH, date(2026, 2, 1), february()),
                SnapshotRow(MONTH, date(2026, 3, 1), march()),
            ],
        )
        return shop.id, other.id


async def test_review_of_a_stored_month(runtime: Runtime) -> None:
    shop_id, other_id = await setup_shop(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        # Billing daily snapshots around the initiative's start (2026-03-01, 30 days each side).
        days = []
        for on, counts in ((date(2026, 2, 28), (360, 400)), (date(2026, 3, 30), (380, 400))):
            doc = march(billing=counts)
            doc["window"] = {"start": (on - timedelta(days=29)).isoformat(), "end": on.isoformat()}
            days.append(SnapshotRow(DAY, on, doc))
        await store_snapshots(tx.session, shop_id, NOW, days)
        fields = {
            "title": "Card updater e-mails",
            "hypothesis": "Reminders lift billing success.",
            "driver": "billing",
            "target_metric": "billing_success_rate",
            "expected_direction": "up",
            "expected_change": 0.02,
            "owner": "Dana",
            "status": "running",
            "starts_on": "2026-03-01",
        }
        today = date(2026, 4, 10)
        mine = await create_initiative(tx.session, shop_id, fields, today)
        await update_initiative(tx.session, shop_id, mine.id, {"status": "done"}, today)
        await create_initiative(tx.session, other_id, {**fields, "title": "Not ours"}, today)

    async with runtime.sessionmaker() as session:
        pack = await build_review(session, shop_id, "2026-03", now=NOW)
        assert await available_months(session, shop_id) == ["2026-03", "2026-02"]
        assert await available_months(session, other_id) == []

    assert pack.shop == SHOP and pack.month == "2026-03" and pack.previous_month == "2026-02"
    nps = next(r for s in pack.sections for r in s.rows if r.metric == "nps.score")
    assert (nps.value, nps.previous) == (35.0, 10.0)
    [item] = pack.initiatives
    assert item.title == "Card updater e-mails" and item.status == "done"
    # Measured as of the month's end: 360/400 before the start, 380/400 after.
    assert item.verdict == "real_change"
    assert (item.before, item.after) == (pytest.approx(0.9), pytest.approx(0.95))
    assert any(text.startswith("Initiative “Card updater e-mails”") for text in pack.changes)
    assert "Card updater e-mails" in render(pack, "html")


async def test_a_month_without_a_snapshot_is_a_clear_error(runtime: Runtime) -> None:
    shop_id, other_id = await setup_shop(runtime)
    async with runtime.sessionmaker() as session:
        with pytest.raises(ReviewNotAvailable, match="no figures for 2026-01"):
            await build_review(session, shop_id, "2026-01", now=NOW)
        # Another shop's months are not this shop's.
        with pytest.raises(ReviewNotAvailable):
            await build_review(session, other_id, "2026-03", now=NOW)
        # The first month has no previous one: the pack says so instead of comparing.
        first = await build_review(session, shop_id, "2026-02", now=NOW)
    assert first.previous_month is None
    assert "no snapshot of 2026-01 to compare with" in first.notes


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-03", "march", "2026-03-01"])
async def test_a_malformed_month_is_refused(runtime: Runtime, month: str) -> None:
    async with runtime.sessionmaker() as session:
        with pytest.raises(ReviewError) as refused:
            await build_review(session, 1, month, now=NOW)
    assert not isinstance(refused.value, ReviewNotAvailable)
