"""The Arq worker on real Redis: registry wiring, retries, failures, timeouts, start-up checks."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import create_pool
from arq.utils import to_unix_ms
from arq.worker import Worker
from sqlalchemy import select

from plugin.app import create_app
from plugin.customer_data.sync import FINISH_CUSTOMER_SYNC, SYNC_CUSTOMER_DATA
from plugin.db.migrate import DatabaseNotMigrated
from plugin.flow.outbox import FIRE_FLOW_TRIGGER, SWEEP_FLOW_TRIGGERS
from plugin.inbox import PROCESS_INBOX
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.onboarding import BACKFILL_JOB
from plugin.queue import JobSpec, RetryPolicy, TransientError, dumps, loads
from plugin.review.digest import BUILD_MONTHLY_REVIEWS, BUILD_REVIEW_DIGEST, EMAIL_REVIEW_DIGEST
from plugin.runtime import Runtime
from plugin.settings import SettingsError
from tests.conftest import make_settings
from tests.support import servers
from tests.support.asgi import asgi_client
from tests.support.signing import signed_webhook
from tests.workers.conftest import ArqEnv, make_worker, run_burst
from workers import worker as worker_module
from workers.jobs.billing import BILL_SHOP, SCHEDULE_BILLING
from workers.jobs.inbox import PRUNE_INBOX, SWEEP_INBOX
from workers.jobs.scoring import RECOMPUTE_ALL_SHOPS
from workers.jobs.surveys import (
    EXPIRE_NPS_INVITATIONS,
    FINALISE_CANCEL_ANSWERS,
    RELEASE_NPS_INVITATIONS,
)
from workers.registry import CRONS, JOB_SPECS, JOBS
from workers.worker import worker_alive, worker_settings

FAST_RETRY = RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.02)


def test_worker_settings_come_from_the_registry_and_settings(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", REDIS_URL="redis://h:6390/2")
    options = worker_settings(settings)
    functions = {f.name: f for f in options["functions"]}
    assert set(functions) == set(JOBS)
    assert {PROCESS_INBOX, SWEEP_INBOX, PRUNE_INBOX} <= set(functions)
    for name, function in functions.items():
        spec = JOB_SPECS.get(name, JobSpec(name))
        assert function.timeout_s == spec.timeout_s
        assert function.max_tries == spec.retry.max_tries
        assert function.keep_result_s == 0
    crons = {c.name: c for c in options["cron_jobs"]}
    assert crons[f"cron:{SWEEP_INBOX}"].minute is None  # every minute
    assert crons[f"cron:{SWEEP_INBOX}"].second == 0
    assert (crons[f"cron:{PRUNE_INBOX}"].hour, crons[f"cron:{PRUNE_INBOX}"].minute) == (3, 17)
    # The areas' periodic jobs run too: nightly recompute, invitation release and expiry,
    # finalising cancel answers, hourly billing, Flow triggers' sweep, monthly reviews.
    assert {c.name for c in CRONS} <= set(crons)
    assert {
        f"cron:{RECOMPUTE_ALL_SHOPS}",
        f"cron:{RELEASE_NPS_INVITATIONS}",
        f"cron:{EXPIRE_NPS_INVITATIONS}",
        f"cron:{FINALISE_CANCEL_ANSWERS}",
        f"cron:{SCHEDULE_BILLING}",
        f"cron:{SWEEP_FLOW_TRIGGERS}",
        f"cron:{BUILD_MONTHLY_REVIEWS}",
    } <= set(crons)
    # Every area's jobs come from the one registry, the ones its crons and pages queue too.
    assert {
        BILL_SHOP,
        BACKFILL_JOB,
        SYNC_CUSTOMER_DATA,
        FINISH_CUSTOMER_SYNC,
        FIRE_FLOW_TRIGGER,
        BUILD_REVIEW_DIGEST,
        EMAIL_REVIEW_DIGEST,
    } <= set(functions)
    redis_settings = options["redis_settings"]
    assert (redis_settings.host, redis_settings.port, redis_settings.database) == ("h", 6390, 2)
    assert options["queue_name"] == "arq:queue"
    assert options["job_serializer"](["x", 1]) == b'["x",1]'
    assert options["health_check_interval"] > 0


@pytest.mark.parametrize(
    ("burst", "asked", "crons"),
    [(False, True, True), (True, True, False), (False, False, False), (True, False, False)],
)
def test_only_long_running_workers_asked_to_run_the_crons_run_them(
    burst: bool, asked: bool, crons: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arq claims a cron run by a key every worker on the server shares: a burst run must not
    take a sweep or a nightly recompute from the workers that stay up; `--no-crons` runs none."""
    built: list[dict[str, Any]] = []

    class Built:
        def run(self) -> None:
            pass

    def build(_settings: Any, **options: Any) -> Built:
        built.append(options)
        return Built()

    monkeypatch.setattr(worker_module, "build_worker", build)
    monkeypatch.setattr(asyncio, "set_event_loop", lambda _loop: None)  # keep the test's loop
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", REDIS_URL="redis://h:6390/2")
    worker_module.run_worker(settings, burst=burst, crons=asked, queue_name="q")
    assert built == [{"burst": burst, "queue_name": "q", "crons": crons}]
    assert bool(worker_settings(settings, **built[0])["cron_jobs"]) is crons


def test_worker_needs_redis(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        worker_settings(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db"))


async def test_burst_worker_runs_queued_jobs_with_the_runtime(arq_env: ArqEnv) -> None:
    seen: list[tuple[int, Any]] = []

    async def probe(ctx: dict[str, Any], n: int) -> None:
        assert isinstance(ctx["runtime"], Runtime)
        seen.append((n, ctx["runtime"].settings.redis_url))

    for n in range(5):
        assert await arq_env.runtime.queue.enqueue("probe", n)
    worker = await run_burst(arq_env, jobs={"probe": probe})
    assert sorted(seen) == [(n, arq_env.settings.redis_url) for n in range(5)]
    assert (worker.jobs_complete, worker.jobs_failed) == (5, 0)
    assert await arq_env.queued() == []


async def test_transient_error_is_retried_with_backoff_then_succeeds(arq_env: ArqEnv) -> None:
    tries: list[int] = []

    async def flaky(ctx: dict[str, Any], _n: int) -> None:
        tries.append(ctx["job_try"])
        if ctx["job_try"] < 3:
            raise TransientError("Shopify throttled", retry_after=0.05)

    await arq_env.runtime.queue.enqueue("flaky", 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    worker = await run_burst(
        arq_env, jobs={"flaky": flaky}, specs={"flaky": JobSpec("flaky", retry=FAST_RETRY)}
    )
    assert tries == [1, 2, 3]
    assert (worker.jobs_complete, worker.jobs_retried, worker.jobs_failed) == (1, 2, 0)
    # Both retries waited at least the server's Retry-After hint.
    assert loop.time() - started >= 0.1


async def test_transient_error_gives_up_after_max_tries(arq_env: ArqEnv) -> None:
    tries: list[int] = []

    async def down(ctx: dict[str, Any], _n: int) -> None:
        tries.append(ctx["job_try"])
        raise TransientError("still down")

    await arq_env.runtime.queue.enqueue("down", 1)
    worker = await run_burst(
        arq_env, jobs={"down": down}, specs={"down": JobSpec("down", retry=FAST_RETRY)}
    )
    assert tries == [1, 2, 3]
    assert (worker.jobs_complete, worker.jobs_retried, worker.jobs_failed) == (0, 2, 1)
    assert await arq_env.queued() == []


async def test_other_exceptions_fail_for_good_without_retry(arq_env: ArqEnv) -> None:
    tries: list[int] = []

    async def broken(ctx: dict[str, Any], _n: int) -> None:
        tries.append(ctx["job_try"])
        raise ValueError("a bug")

    await arq_env.runtime.queue.enqueue("broken", 1)
    worker = await run_burst(
        arq_env, jobs={"broken": broken}, specs={"broken": JobSpec("broken", retry=FAST_RETRY)}
    )
    assert tries == [1]
    assert (worker.jobs_complete, worker.jobs_retried, worker.jobs_failed) == (0, 0, 1)


async def test_job_timeout_comes_from_its_spec(arq_env: ArqEnv) -> None:
    async def slow(_ctx: dict[str, Any], _n: int) -> None:
        await asyncio.sleep(30)

    await arq_env.runtime.queue.enqueue("slow", 1)
    spec = JobSpec("slow", retry=FAST_RETRY, timeout_s=0.2)
    worker = await run_burst(arq_env, jobs={"slow": slow}, specs={"slow": spec})
    assert worker.jobs_failed == 1


async def test_webhook_to_worker_end_to_end(arq_env: ArqEnv) -> None:
    """POST /webhooks enqueues on Redis; the real process_inbox in a burst worker handles it."""
    body, headers = signed_webhook("app/scopes_update", {"current": ["read_orders", "read_x"]})
    async with asgi_client(create_app(runtime=arq_env.runtime)) as client:
        assert (await client.post("/webhooks", content=body, headers=headers)).status_code == 200
    assert len(await arq_env.queued()) == 1
    worker = await run_burst(arq_env)
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    async with arq_env.runtime.sessionmaker() as session:
        row = (await session.scalars(select(WebhookInbox))).one()
        shop = await session.get(Shop, row.shop_id)
    assert row.status == InboxStatus.HANDLED and row.handled_at is not None
    assert shop is not None and shop.scopes == "read_orders,read_x"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_worker_refuses_a_database_not_at_head(
    backend: str, arq_env: ArqEnv, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url, drop = f"sqlite+aiosqlite:///{tmp_path}/empty.db", None
    else:
        url = await asyncio.to_thread(servers.create_database)
        drop = url
    try:
        settings = replace(arq_env.settings, database_url=url)
        worker = make_worker(arq_env, jobs={"noop": _noop}, settings=settings)
        try:
            with pytest.raises(DatabaseNotMigrated, match="valuehealth migrate"):
                await worker.async_run()
        finally:
            await worker.close()
    finally:
        if drop:
            await asyncio.to_thread(servers.drop_database, drop)


async def _noop(_ctx: dict[str, Any]) -> None:
    return None


async def test_health_key_is_written_while_running_and_removed_on_stop(arq_env: ArqEnv) -> None:
    assert await worker_alive(arq_env.settings, queue_name=arq_env.queue_name) is None
    worker = make_worker(arq_env, jobs={"noop": _noop}, burst=False)
    task = asyncio.create_task(worker.async_run())
    try:
        summary = None
        for _ in range(100):
            summary = await worker_alive(arq_env.settings, queue_name=arq_env.queue_name)
            if summary:
                break
            await asyncio.sleep(0.05)
        assert summary is not None and "j_complete=" in summary
        ttl = await arq_env.redis.pttl(f"{arq_env.queue_name}:health-check")
        assert 0 < ttl <= (worker.health_check_interval + 1) * 1000
    finally:
        await worker.close()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await worker_alive(arq_env.settings, queue_name=arq_env.queue_name) is None


async def test_facade_enqueue_keeps_arq_semantics(arq_env: ArqEnv) -> None:
    """plugin.queue.ArqQueue writes Arq's keys itself (one pipelined script per batch): Arq's
    worker must run what it queued, once per key, deferred when asked."""
    key = f"facade-{uuid.uuid4().hex}"
    queue = arq_env.runtime.queue
    ran: list[int] = []

    async def probe(_ctx: dict[str, Any], n: int) -> None:
        ran.append(n)

    assert await queue.enqueue("probe", 1, key=key)
    concurrent = await asyncio.gather(
        *(queue.enqueue("probe", n) for n in range(10, 30)), queue.enqueue("probe", 2, key=key)
    )
    assert concurrent == [True] * 20 + [False]  # the key is taken while its job is queued
    loop = asyncio.get_running_loop()
    enqueued_at = time.time()
    assert await queue.enqueue("probe", 3, delay_s=0.5)
    scores = dict(await arq_env.redis.zrange(arq_env.queue_name, 0, -1, withscores=True))
    assert len(scores) == 22
    assert max(scores.values()) / 1000 >= enqueued_at + 0.45

    started = loop.time()
    worker = await run_burst(arq_env, jobs={"probe": probe})
    assert sorted(ran) == sorted([1, 3, *range(10, 30)])
    assert ran[-1] == 3 and loop.time() - started >= 0.45
    assert worker.jobs_complete == 22
    # Done and not kept: the key is free again, as the sweeper needs it to be.
    assert await queue.enqueue("probe", 4, key=key)


async def test_a_key_takes_a_new_job_once_its_job_has_started(arq_env: ArqEnv) -> None:
    """A shop's inbox job may run while a delivery for the shop arrives: that delivery's
    wake-up must queue the next run, not be refused because the key's job is running."""
    key = f"started-{uuid.uuid4().hex}"
    queue = arq_env.runtime.queue
    ran: list[int] = []
    accepted: list[bool] = []

    async def probe(_ctx: dict[str, Any], n: int) -> None:
        ran.append(n)
        if n == 1:
            accepted.append(await queue.enqueue("probe", 2, key=key))
            accepted.append(await queue.enqueue("probe", 3, key=key))  # 2 is waiting

    assert await queue.enqueue("probe", 1, key=key)
    assert not await queue.enqueue("probe", 9, key=key)
    await run_burst(arq_env, jobs={"probe": probe})
    assert (ran, accepted) == ([1, 2], [True, False])


async def test_a_cron_tick_runs_once_when_a_second_worker_comes_to_it_late(
    arq_env: ArqEnv,
) -> None:
    """Every worker queues each tick of a cron under one job id (`<cron name>:<tick>`), and
    Arq refuses the id while it names a queued job or a kept result. A worker whose loop was
    busy past the tick comes to it after another worker has run it: without a kept result its
    enqueue is accepted and the tick runs a second time (once Arq's minute-long marker of
    the first run expires). The crons keep their result, so the late worker finds the tick
    taken and queues nothing."""
    runs: list[str] = []

    async def probe(ctx: dict[str, Any]) -> None:
        runs.append(ctx["job_id"])

    options = worker_settings(
        arq_env.settings, queue_name=arq_env.queue_name, jobs={}, handle_signals=False
    )
    sweep = next(c for c in options["cron_jobs"] if c.name == f"cron:{SWEEP_INBOX}")
    # A name of this test's own: cron job ids are shared by every queue on the Redis server.
    cron = replace(sweep, name=f"cron:probe-{uuid.uuid4().hex[:8]}", coroutine=probe)
    pool = await create_pool(
        options["redis_settings"], job_serializer=dumps, job_deserializer=loads
    )
    on_time, late = (
        Worker(**{**options, "cron_jobs": [replace(cron)], "redis_pool": pool}) for _ in "ab"
    )
    tick = datetime.now(tz=on_time.timezone).replace(microsecond=0) - timedelta(seconds=1)
    for worker in (on_time, late):
        worker.cron_jobs[0].next_run = tick  # both at the same tick, just due
    job_id = f"{cron.name}:{to_unix_ms(tick)}"
    try:
        await on_time.run_cron(datetime.now(tz=on_time.timezone), 0.5)
        await on_time.start_jobs([job_id.encode()])
        await asyncio.gather(*on_time.tasks.values())
        assert runs == [job_id]

        await late.run_cron(datetime.now(tz=late.timezone), 0.5)
        assert await arq_env.queued_ids() == []
    finally:
        await pool.delete(*(f"arq:{kind}:{job_id}" for kind in ("job", "result", "in-progress")))
        await pool.aclose()
