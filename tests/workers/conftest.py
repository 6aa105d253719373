"""Arq on real Redis and PostgreSQL: a queue name per test, Redis keys cleaned up afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as redis
from arq.worker import Worker

from plugin.queue import ArqQueue, JobHandler, JobSpec, job_key_of
from plugin.runtime import Runtime, build_runtime
from plugin.settings import Settings
from tests.conftest import empty_tables, make_settings
from workers.worker import worker_settings


@dataclass
class ArqEnv:
    settings: Settings
    queue_name: str
    runtime: Runtime  # the web side: enqueues through ArqQueue on `queue_name`
    redis: redis.Redis

    async def queued_ids(self) -> list[str]:
        return [m.decode() for m in await self.redis.zrange(self.queue_name, 0, -1)]

    async def queued(self) -> list[str]:
        """The queued jobs by key (their id when they have none)."""
        return [job_key_of(job_id) or job_id for job_id in await self.queued_ids()]

    async def lose_queued_jobs(self) -> None:
        """What a Redis restart without persistence does to the queue."""
        await self.queue().drop()

    def queue(self) -> ArqQueue:
        assert isinstance(self.runtime.queue, ArqQueue)
        return self.runtime.queue


@pytest.fixture
async def arq_env(pg_url: str, redis_url: str) -> AsyncIterator[ArqEnv]:
    queue_name = f"vh-test-worker-{uuid.uuid4().hex[:8]}"
    settings = make_settings(pg_url, REDIS_URL=redis_url)
    runtime = await build_runtime(settings, queue_name=queue_name)
    client = redis.Redis.from_url(redis_url)
    env = ArqEnv(settings, queue_name, runtime, client)
    try:
        yield env
    finally:
        await env.queue().drop()
        await client.aclose()
        await empty_tables(runtime)
        await runtime.close()


def make_worker(
    env: ArqEnv,
    *,
    jobs: Mapping[str, JobHandler] | None = None,
    specs: Mapping[str, JobSpec] | None = None,
    burst: bool = True,
    settings: Settings | None = None,
) -> Worker:
    options: dict[str, Any] = worker_settings(
        settings or env.settings,
        burst=burst,
        queue_name=env.queue_name,
        jobs=jobs,
        specs=specs,
        crons=False,
        handle_signals=False,
    )
    # Tests poll faster than production's 50 ms so retries with short delays finish quickly.
    return Worker(**{**options, "poll_delay": 0.02})


async def run_burst(env: ArqEnv, **kwargs: Any) -> Worker:
    """Run a burst worker until the queue is empty (delayed retries included)."""
    worker = make_worker(env, **kwargs)
    try:
        await asyncio.wait_for(worker.async_run(), timeout=60)
    finally:
        await worker.close()
    return worker
