"""The initiatives service on both databases: validation, status moves, shop scoping, and the
effect read from stored daily snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from plugin.db.transaction import transaction
from plugin.initiatives.effect import initiative_effect
from plugin.initiatives.service import (
    InitiativeNotFound,
    create_initiative,
    get_initiative,
    list_initiatives,
    update_initiative,
)
from plugin.initiatives.validation import InitiativeInvalid, parse_fields
from plugin.models import Initiative, Shop
from plugin.runtime import Runtime
from plugin.scoring.metrics_doc import empty_overview
from plugin.scoring.store import DAY, SnapshotRow, store_snapshots

TODAY = date(2026, 4, 15)
VALID: dict[str, Any] = {
    "title": "Card updater e-mails",
    "hypothesis": "Reminding subscribers to update an expiring card lifts billing success.",
    "driver": "billing",
    "target_metric": "billing_success_rate",
    "expected_direction": "up",
    "expected_change": 0.02,
    "owner": "Dana",
}


async def make_shops(runtime: Runtime) -> tuple[int, int]:
    async with transaction(runtime.sessionmaker, None) as tx:
        a, b = Shop(domain="init-a.myshopify.com"), Shop(domain="init-b.myshopify.com")
        tx.session.add_all([a, b])
        await tx.session.flush()
        return a.id, b.id


async def create(runtime: Runtime, shop_id: int, **fields: Any) -> Initiative:
    async with transaction(runtime.sessionmaker, None) as tx:
        return await create_initiative(tx.session, shop_id, {**VALID, **fields}, TODAY)


async def update(runtime: Runtime, shop_id: int, initiative_id: int, **fields: Any) -> Initiative:
    async with transaction(runtime.sessionmaker, None) as tx:
        return await update_initiative(tx.session, shop_id, initiative_id, fields, TODAY)


async def count(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Initiative)) or 0)


async def test_create_defaults_and_lifecycle(runtime: Runtime) -> None:
    shop_id, _ = await make_shops(runtime)
    created = await create(runtime, shop_id, title="  Card updater e-mails  ")
    assert created.title == "Card updater e-mails"  # trimmed
    assert (created.status, created.window_days, created.starts_on) == ("idea", 30, None)

    planned = await update(runtime, shop_id, created.id, status="planned")
    assert planned.status == "planned" and planned.starts_on is None
    running = await update(runtime, shop_id, created.id, status="running")
    assert running.starts_on == TODAY  # started today unless told otherwise
    done = await update(runtime, shop_id, created.id, status="done")
    assert (done.starts_on, done.ends_on) == (TODAY, TODAY)

    with pytest.raises(InitiativeInvalid) as refused:
        await update(runtime, shop_id, created.id, status="running")
    assert refused.value.field == "status"
    assert "cannot move from done to running" in refused.value.message


async def test_running_with_a_past_start_and_date_order(runtime: Runtime) -> None:
    shop_id, _ = await make_shops(runtime)
    started = await create(runtime, shop_id, status="running", starts_on="2026-03-01")
    assert started.starts_on == date(2026, 3, 1)
    with pytest.raises(InitiativeInvalid) as early_end:
        await update(runtime, shop_id, started.id, ends_on="2026-02-01")
    assert early_end.value.field == "ends_on"
    with pytest.raises(InitiativeInvalid) as future:
        await create(runtime, shop_id, status="running", starts_on="2026-05-01")
    assert future.value.field == "starts_on"
    with pytest.raises(InitiativeInvalid) as done_unstarted:
        await create(runtime, shop_id, status="done")
    assert done_unstarted.value.field == "starts_on"

    # A refused change leaves the stored initiative as it was.
    async with runtime.sessionmaker() as session:
        again = await get_initiative(session, shop_id, started.id)
    assert again.ends_on is None and again.status == "running"
    assert await count(runtime) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 201),
        ("title", 5),
        ("hypothesis", "   "),
        ("driver", "other"),
        ("driver", "happiness"),
        ("target_metric", "nps"),
        ("target_metric", "retention.cohorts"),
        ("expected_direction", "sideways"),
        ("expected_change", 0),
        ("expected_change", -1),
        ("expected_change", "2"),
        ("expected_change", True),
        ("expected_change", float("nan")),
        ("owner", None),
        ("status", "paused"),
        ("starts_on", "2026-13-01"),
        ("starts_on", "01/03/2026"),
        ("window_days", 6),
        ("window_days", 181),
        ("window_days", 30.5),
        ("colour", "blue"),
    ],
)
def test_invalid_fields_are_named(field: str, value: Any) -> None:
    with pytest.raises(InitiativeInvalid) as refused:
        parse_fields({**VALID, field: value}, creating=True)
    assert refused.value.field == field


async def test_invalid_input_stores_nothing(runtime: Runtime) -> None:
    shop_id, _ = await make_shops(runtime)
    with pytest.raises(InitiativeInvalid):
        await create(runtime, shop_id, driver="happiness")
    assert await count(runtime) == 0


async def test_expected_change_must_fit_the_metrics_unit(runtime: Runtime) -> None:
    shop_id, _ = await make_shops(runtime)
    with pytest.raises(InitiativeInvalid) as share:  # "2" meant 2 points of a share
        await create(runtime, shop_id, expected_change=2)
    assert share.value.field == "expected_change" and "0.02" in share.value.message
    nps = await create(runtime, shop_id, target_metric="nps.score", expected_change=8)
    with pytest.raises(InitiativeInvalid) as points:
        await update(runtime, shop_id, nps.id, expected_change=250)
    assert points.value.field == "expected_change"
    # Switching the metric re-checks the size already stored.
    with pytest.raises(InitiativeInvalid) as switched:
        await update(runtime, shop_id, nps.id, target_metric="billing_success_rate")
    assert switched.value.field == "expected_change"
    money = await create(runtime, shop_id, target_metric="mrr.amount", expected_change=500)
    assert money.expected_change == 500


async def test_missing_required_field(runtime: Runtime) -> None:
    shop_id, _ = await make_shops(runtime)
    data = {k: v for k, v in VALID.items() if k != "owner"}
    async with transaction(runtime.sessionmaker, None) as tx:
        with pytest.raises(InitiativeInvalid) as refused:
            await create_initiative(tx.session, shop_id, data, TODAY)
    assert refused.value.field == "owner"


async def test_initiatives_are_scoped_to_their_shop(runtime: Runtime) -> None:
    shop_a, shop_b = await make_shops(runtime)
    mine = await create(runtime, shop_a)
    await create(runtime, shop_b, title="Theirs")
    async with runtime.sessionmaker() as session:
        assert [i.id for i in await list_initiatives(session, shop_a)] == [mine.id]
        with pytest.raises(InitiativeNotFound):
            await get_initiative(session, shop_b, mine.id)
    with pytest.raises(InitiativeNotFound):
        await update(runtime, shop_b, mine.id, title="Taken over")
    async with runtime.sessionmaker() as session:
        assert (await get_initiative(session, shop_a, mine.id)).title == VALID["title"]


async def test_effect_is_read_from_stored_daily_snapshots(runtime: Runtime) -> None:
    """The same numbers as the pure test, through the JSON-path reads of both databases."""
    shop_a, shop_b = await make_shops(runtime)
    start = date(2026, 3, 1)
    initiative = await create(runtime, shop_a, status="running", starts_on=start.isoformat())

    def doc(on: date, x: int, n: int) -> SnapshotRow:
        d = empty_overview("init-a.myshopify.com")
        d["window"] = {"start": (on - timedelta(days=29)).isoformat(), "end": on.isoformat()}
        d["billing_success_rate"] = x / n
        d["details"] = {"billing_success_rate": {"numerator": x, "denominator": n}}
        return SnapshotRow(DAY, on, d)

    rows = [doc(start - timedelta(days=1), 360, 400), doc(start + timedelta(days=29), 380, 400)]
    async with transaction(runtime.sessionmaker, None) as tx:
        await store_snapshots(tx.session, shop_a, datetime(2026, 4, 1, tzinfo=UTC), rows)
        # Another shop's snapshots on the same days must not be read.
        await store_snapshots(
            tx.session,
            shop_b,
            datetime(2026, 4, 1, tzinfo=UTC),
            [doc(start - timedelta(days=1), 1, 400), doc(start + timedelta(days=29), 399, 400)],
        )
    async with runtime.sessionmaker() as session:
        effect = await initiative_effect(session, shop_a, initiative, TODAY)
    assert effect.before == pytest.approx(0.9) and effect.after == pytest.approx(0.95)
    assert effect.z == pytest.approx(2.68462, abs=1e-5)
    assert effect.verdict == "real_change"
