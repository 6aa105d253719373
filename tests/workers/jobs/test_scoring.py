"""Scoring jobs: the debounced recompute (skips when already covered, yields to a recompute
running elsewhere), the nightly run, and the debounce through Arq on real Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, text

from plugin.customer_data.sync import SYNC_CUSTOMER_DATA
from plugin.db.transaction import transaction
from plugin.models import MetricSnapshot, ShopRecomputeState
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.scoring.recompute import recompute_shop_now
from plugin.scoring.requests import RECOMPUTE_SHOP, recompute_key, request_recompute, window_end
from tests.plugin.scoring.builders import ShopBuilder, at
from tests.workers.conftest import ArqEnv, run_burst
from workers.jobs.scoring import CRONS, recompute_all_shops, recompute_shop
from workers.registry import CRONS as REGISTERED_CRONS
from workers.registry import JOBS


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, _ctx: dict[str, Any], *args: Any) -> None:
        self.calls.append(args)


def spy_on(runtime: Runtime) -> Spy:
    recorder = Spy()
    assert isinstance(runtime.queue, InProcessQueue)
    runtime.queue.handlers[RECOMPUTE_SHOP] = recorder
    return recorder


async def small_shop(runtime: Runtime, domain: str = "jobs-shop.myshopify.com") -> ShopBuilder:
    shop = await ShopBuilder.create(runtime, domain)
    sub = await shop.subscriber(501)
    await shop.contract(sub, started=at(2026, 1, 5), amount="25.00")
    return shop


async def read_at(runtime: Runtime, shop_id: int) -> Any:
    async with runtime.sessionmaker() as session:
        return await session.scalar(
            select(ShopRecomputeState.computed_at).where(ShopRecomputeState.shop_id == shop_id)
        )


def test_jobs_and_nightly_cron_are_registered() -> None:
    assert JOBS[RECOMPUTE_SHOP] is recompute_shop
    assert [c.name for c in CRONS] == ["cron:recompute_all_shops"]
    assert all(c in REGISTERED_CRONS for c in CRONS)
    assert (CRONS[0].hour, CRONS[0].minute) == (4, 23)


async def test_job_recomputes_and_skips_a_request_already_covered(runtime: Runtime) -> None:
    shop = await small_shop(runtime)
    ctx = {"runtime": runtime}
    await recompute_shop(ctx, shop.shop_id, int(time.time()) + 3600)
    first = await read_at(runtime, shop.shop_id)
    assert first is not None
    # A request whose window closed before that read: covered, nothing recomputed.
    await recompute_shop(ctx, shop.shop_id, int(first.timestamp()) - 60)
    assert await read_at(runtime, shop.shop_id) == first
    # The nightly run (no window) always recomputes.
    await recompute_shop(ctx, shop.shop_id)
    assert await read_at(runtime, shop.shop_id) > first


async def test_job_for_an_erased_shop_does_nothing(runtime: Runtime) -> None:
    await recompute_shop({"runtime": runtime}, 424242, None)
    async with runtime.sessionmaker() as session:
        assert (await session.execute(select(MetricSnapshot))).first() is None


async def test_nightly_run_queues_every_installed_shop(runtime: Runtime) -> None:
    spy = spy_on(runtime)
    a = await small_shop(runtime, "a-nightly.myshopify.com")
    b = await small_shop(runtime, "b-nightly.myshopify.com")
    await ShopBuilder.create(runtime, "gone.myshopify.com", uninstalled_at=at(2026, 1, 1))
    assert await recompute_all_shops({"runtime": runtime}) == 2
    await runtime.queue.drain()  # type: ignore[attr-defined]
    assert sorted(call[0] for call in spy.calls) == [a.shop_id, b.shop_id]


async def test_a_shop_being_recomputed_elsewhere_is_asked_again_later(runtime: Runtime) -> None:
    if runtime.settings.uses_sqlite:
        pytest.skip("the cross-process lock is PostgreSQL's advisory lock")
    shop = await small_shop(runtime)
    spy = spy_on(runtime)
    async with runtime.engine.connect() as other:
        await other.execute(
            text("SELECT pg_advisory_lock(:ns, :shop)"), {"ns": 0x5648, "shop": shop.shop_id}
        )
        await other.commit()
        assert await recompute_shop_now(runtime, shop.shop_id, wait=False) is None
        await recompute_shop({"runtime": runtime}, shop.shop_id, None)
        assert await read_at(runtime, shop.shop_id) is None  # it did not run alongside
        await other.execute(
            text("SELECT pg_advisory_unlock(:ns, :shop)"), {"ns": 0x5648, "shop": shop.shop_id}
        )
        await other.commit()
    await runtime.queue.drain()  # type: ignore[attr-defined]
    assert [call[0] for call in spy.calls] == [shop.shop_id]


async def test_burst_through_arq_is_one_job_that_runs(arq_env: ArqEnv) -> None:
    runtime = arq_env.runtime
    shop = await small_shop(runtime, "arq-burst.myshopify.com")
    now = time.time()
    window = window_end(now, 1)
    key = recompute_key(shop.shop_id, window)
    try:
        for _ in range(25):
            async with transaction(runtime.sessionmaker, runtime.queue) as tx:
                request_recompute(tx, shop.shop_id, debounce_s=1, now=now)
        assert await arq_env.queued() == [key]
        [job_id] = await arq_env.queued_ids()
        score = await arq_env.redis.zscore(arq_env.queue_name, job_id)
        assert score is not None and score / 1000 >= now + 0.9  # deferred by the debounce
        await run_burst(arq_env)
        assert await arq_env.queued() == []
        stored = await read_at(runtime, shop.shop_id)
        assert stored is not None and stored.timestamp() >= now
        async with runtime.sessionmaker() as session:
            periods = (
                await session.scalars(
                    select(MetricSnapshot.period).where(MetricSnapshot.shop_id == shop.shop_id)
                )
            ).all()
        assert "latest" in periods
    finally:
        await arq_env.redis.delete(f"arq:job:{key}", f"arq:retry:{key}", f"arq:result:{key}")


async def test_new_scores_are_written_to_shopify_only_for_a_shop_with_a_token(
    runtime: Runtime,
) -> None:
    assert isinstance(runtime.queue, InProcessQueue)
    synced: list[tuple[Any, ...]] = []

    async def record(_ctx: dict[str, Any], *args: Any) -> None:
        synced.append(args)

    runtime.queue.handlers[SYNC_CUSTOMER_DATA] = record
    without = await small_shop(runtime, "no-token.myshopify.com")
    with_token = await ShopBuilder.create(
        runtime, "with-token.myshopify.com", access_token_enc="encrypted-token"
    )
    for shop_id in (without.shop_id, with_token.shop_id):
        await recompute_shop({"runtime": runtime}, shop_id, None)
    await runtime.queue.drain()
    assert synced == [(with_token.shop_id,)]
