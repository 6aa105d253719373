"""The inbox's jobs: the shop's drain, the sweeper and the pruner, on both databases and with
the real worker on Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from plugin.inbox import PROCESS_INBOX, Delivery, inbox_job_key, record_delivery, upkeep
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime, build_runtime
from tests.conftest import empty_tables, make_settings
from tests.workers.conftest import ArqEnv, run_burst
from workers.jobs.inbox import prune_inbox, sweep_inbox

REPO = Path(__file__).resolve().parents[3]
SHOP = "cron-test.myshopify.com"
OLD = timedelta(minutes=10)


async def add_row(
    runtime: Runtime,
    webhook_id: str,
    *,
    age: timedelta,
    status: str = InboxStatus.PENDING,
    scopes: tuple[str, ...] = ("read_orders",),
    shop: str = SHOP,
) -> int:
    """An inbox row as the webhook stores it, `age` old, without enqueueing anything."""
    delivery = Delivery(
        shop, "app/scopes_update", webhook_id, None, "2026-10", None, {"current": list(scopes)}
    )
    async with runtime.sessionmaker() as session, session.begin():
        stored = await record_delivery(session, delivery)
        assert stored is not None
        inbox_id = stored.inbox_id
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id)
            .values(received_at=utcnow() - age, status=status)
        )
    return inbox_id


async def statuses(runtime: Runtime) -> dict[int, str]:
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(select(WebhookInbox.id, WebhookInbox.status))).all()
    return dict(rows)  # type: ignore[arg-type]


@pytest.fixture
async def recording_runtime(db_url: str) -> AsyncIterator[tuple[Runtime, list[int]]]:
    """A runtime whose in-process queue records the shops it is asked to drain."""
    seen: list[int] = []

    async def record(_ctx: dict[str, Any], shop_id: int) -> None:
        seen.append(shop_id)

    runtime = await build_runtime(
        make_settings(db_url), queue=InProcessQueue({PROCESS_INBOX: record})
    )
    try:
        yield runtime, seen
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def shop_of_row(runtime: Runtime, inbox_id: int) -> int:
    async with runtime.sessionmaker() as session:
        row = await session.get(WebhookInbox, inbox_id)
    assert row is not None
    return row.shop_id


async def test_sweep_wakes_shops_with_old_pending_rows_longest_waiting_first_in_bounds(
    recording_runtime: tuple[Runtime, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, seen = recording_runtime
    monkeypatch.setattr(upkeep, "SWEEP_BATCH", 2)
    middle = await add_row(runtime, "middle", age=timedelta(minutes=20), shop="m.myshopify.com")
    oldest = await add_row(runtime, "oldest", age=timedelta(minutes=30), shop="o.myshopify.com")
    newest = await add_row(runtime, "newest", age=timedelta(minutes=10), shop="n.myshopify.com")
    await add_row(runtime, "also-oldest-shop", age=timedelta(minutes=1), shop="o.myshopify.com")
    await add_row(runtime, "young", age=timedelta(seconds=30), shop="y.myshopify.com")
    await add_row(runtime, "handled", age=OLD, status=InboxStatus.HANDLED)
    await add_row(runtime, "ignored", age=OLD, status=InboxStatus.IGNORED)
    await add_row(runtime, "failed", age=OLD, status=InboxStatus.FAILED)
    ctx = {"runtime": runtime}

    assert await sweep_inbox(ctx) == 2
    # Still queued: the same shops are not queued twice.
    assert await sweep_inbox(ctx) == 0
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    assert seen == [await shop_of_row(runtime, oldest), await shop_of_row(runtime, middle)]

    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.shop_id.in_(seen))
            .values(status=InboxStatus.HANDLED)
        )
    assert await sweep_inbox(ctx) == 1
    await runtime.queue.drain()
    assert seen[2:] == [await shop_of_row(runtime, newest)]


async def test_sweep_leaves_rows_waiting_for_their_retry_time(
    recording_runtime: tuple[Runtime, list[int]],
) -> None:
    runtime, _ = recording_runtime
    row = await add_row(runtime, "backing-off", age=OLD)
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == row)
            .values(retry_at=utcnow() + timedelta(minutes=1))
        )
    assert await sweep_inbox({"runtime": runtime}) == 0


async def test_sweep_grace_period_comes_from_settings(
    recording_runtime: tuple[Runtime, list[int]],
) -> None:
    runtime, seen = recording_runtime
    row = await add_row(
        runtime, "r", age=timedelta(seconds=runtime.settings.sweeper_after_seconds - 20)
    )
    assert await sweep_inbox({"runtime": runtime}) == 0
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == row)
            .values(
                received_at=utcnow() - timedelta(seconds=runtime.settings.sweeper_after_seconds + 1)
            )
        )
    assert await sweep_inbox({"runtime": runtime}) == 1
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    assert seen == [await shop_of_row(runtime, row)]


async def test_prune_deletes_only_old_handled_and_ignored_rows(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upkeep, "PRUNE_BATCH", 2)  # several batches
    retention = timedelta(days=runtime.settings.inbox_retention_days)
    expired = retention + timedelta(hours=1)
    gone = [
        await add_row(runtime, f"h{i}", age=expired, status=InboxStatus.HANDLED) for i in range(4)
    ]
    gone.append(await add_row(runtime, "i", age=expired, status=InboxStatus.IGNORED))
    kept = {
        await add_row(runtime, "failed", age=expired, status=InboxStatus.FAILED),
        await add_row(runtime, "pending", age=expired),
        await add_row(runtime, "recent", age=retention - timedelta(hours=1), status="handled"),
    }
    assert await prune_inbox({"runtime": runtime}) == len(gone)
    assert set(await statuses(runtime)) == kept
    assert await prune_inbox({"runtime": runtime}) == 0


async def test_sweeper_recovers_an_event_whose_queue_message_was_lost(arq_env: ArqEnv) -> None:
    """Accepted and enqueued, then Redis loses the message (restart without persistence): the
    sweeper re-enqueues it and the real worker processes it."""
    runtime = arq_env.runtime
    async with runtime.sessionmaker() as session, session.begin():
        stored = await record_delivery(
            session,
            Delivery(SHOP, "app/scopes_update", "lost", None, None, None, {"current": ["a"]}),
        )
    assert stored is not None
    inbox_id, shop_id = stored.inbox_id, stored.shop_id
    assert await runtime.queue.enqueue(PROCESS_INBOX, shop_id, key=inbox_job_key(shop_id))
    await arq_env.lose_queued_jobs()
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id)
            .values(received_at=utcnow() - OLD)
        )

    assert await run_burst(arq_env) is not None  # nothing to do: the message is gone
    assert (await statuses(runtime))[inbox_id] == InboxStatus.PENDING

    assert await sweep_inbox({"runtime": runtime}) == 1
    assert await arq_env.queued() == [inbox_job_key(shop_id)]
    worker = await run_burst(arq_env)
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert (await statuses(runtime))[inbox_id] == InboxStatus.HANDLED
    async with runtime.sessionmaker() as session:
        shop = (await session.scalars(select(Shop))).one()
    assert shop.scopes == "a"
    assert await sweep_inbox({"runtime": runtime}) == 0


@pytest.mark.parametrize("moment", ["before-commit", "after-commit"])
async def test_worker_killed_mid_job_still_processes_the_event_once_in_effect(
    arq_env: ArqEnv, tmp_path: Path, moment: str
) -> None:
    runtime = arq_env.runtime
    inbox_id = await add_row(runtime, "killed", age=OLD, scopes=("read_killed",))
    shop_id = await shop_of_row(runtime, inbox_id)
    assert await runtime.queue.enqueue(PROCESS_INBOX, shop_id, key=inbox_job_key(shop_id))

    marker = tmp_path / "at-the-moment"
    settings = arq_env.settings
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SHOPIFY_API_KEY": settings.api_key,
        "SHOPIFY_API_SECRET": settings.api_secret.get(),
        "TOKEN_ENCRYPTION_KEY": settings.token_encryption_key.get(),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "LOG_LEVEL": "WARNING",
    }
    worker_process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.workers.killable_worker",
        moment,
        arq_env.queue_name,
        str(marker),
        cwd=REPO,
        env=env,
    )
    try:
        for _ in range(600):
            if marker.exists() or worker_process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the worker never reached the moment to be killed at"
    finally:
        worker_process.send_signal(signal.SIGKILL)
        await worker_process.wait()

    expected_now = InboxStatus.PENDING if moment == "before-commit" else InboxStatus.HANDLED
    assert (await statuses(runtime))[inbox_id] == expected_now
    # The dead worker's claim on the job lapses (see killable_worker); until then nobody runs it.
    [job_id] = await arq_env.queued_ids()
    for _ in range(100):
        if not await arq_env.redis.exists(f"arq:in-progress:{job_id}"):
            break
        await asyncio.sleep(0.05)

    # The job had started, so its key took new wake-ups again: the sweeper wakes the shop when
    # the row is still pending. Two jobs may run for it (one finding the shop busy comes back
    # once it is free); the drain lock and the row's status let one apply it.
    swept = await sweep_inbox({"runtime": runtime})
    assert swept == (1 if moment == "before-commit" else 0)
    worker = await run_burst(arq_env)
    assert worker.jobs_complete >= 1 + swept and worker.jobs_failed == 0

    async with runtime.sessionmaker() as session:
        row = await session.get(WebhookInbox, inbox_id)
        shop = (await session.scalars(select(Shop))).one()
    assert row is not None and row.status == InboxStatus.HANDLED
    # Processed exactly once in effect: one successful processing recorded, the effect present.
    assert row.attempts == 1
    assert shop.scopes == "read_killed"
    assert await sweep_inbox({"runtime": runtime}) == 0
    assert await arq_env.queued() == []
