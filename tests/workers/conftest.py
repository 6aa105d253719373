"""Arq on real Redis and PostgreSQL: a queue name per test, Redis keys cleaned up afterwards."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as redis
from arq.worker import Worker
from sqlalchemy import select, text

from plugin.inbox import event_job_key
from plugin.models import WebhookInbox
from plugin.queue import JobHandler, JobSpec
from plugin.runtime import Runtime, build_runtime
from plugin.settings import Settings
from tests.conftest import empty_tables, make_settings
from workers.worker import worker_settings

ARQ_KEY_PREFIXES = ("arq:job:", "arq:retry:", "arq:in-progress:", "arq:result:")


@dataclass
class ArqEnv:
    settings: Settings
    queue_name: str
    runtime: Runtime  # the web side: enqueues through ArqQueue on `queue_name`
    redis: redis.Redis

    async def queued(self) -> list[str]:
        return [m.decode() for m in await self.redis.zrange(self.queue_name, 0, -1)]


@pytest.fixture
async def arq_env(pg_url: str, redis_url: str) -> AsyncIterator[ArqEnv]:
    queue_name = f"vh-test-worker-{uuid.uuid4().hex[:8]}"
    settings = make_settings(pg_url, REDIS_URL=redis_url)
    runtime = await build_runtime(settings, queue_name=queue_name)
    client = redis.Redis.from_url(redis_url)
    # Job keys (`event:{id}`) are global in Redis, not per queue: start the inbox ids somewhere
    # no other test run uses, so a leftover key from a killed run can never hide a job.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("SELECT setval('webhook_inbox_id_seq', :start)"),
            {"start": random.randrange(10**6, 10**12)},
        )
    env = ArqEnv(settings, queue_name, runtime, client)
    try:
        yield env
    finally:
        async with runtime.sessionmaker() as session:
            ids = (await session.scalars(select(WebhookInbox.id))).all()
        keys = [p + event_job_key(i) for i in ids for p in ARQ_KEY_PREFIXES]
        await client.delete(queue_name, f"{queue_name}:health-check", *keys)
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
