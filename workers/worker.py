"""The Arq worker behind `valuehealth worker [--burst]`.

- Jobs come from `workers.registry.JOBS`, serialised as JSON (plugin.queue.dumps/loads), ids only.
- A job that raises `TransientError` is retried after `spec.retry.delay(try, retry_after)` until
  `spec.retry.max_tries`; then the worker logs and gives up, leaving the inbox row pending for
  the sweeper (or a human). Any other exception fails the job for good, as Arq does.
- Results are not kept: effects live in the database, and a kept result would stop the sweeper
  from re-enqueueing the same job key for an hour. A cron run's result is the exception: it
  is kept for `CRON_TICK_KEPT_S` as the mark that its tick was taken (see `once_per_tick`).
- Liveness: every `HEALTH_CHECK_INTERVAL_S` the worker writes a summary to the Redis key
  `<queue name>:health-check` (default `arq:queue:health-check`) with a time to live of the
  interval plus one second. A probe that finds the key missing (`redis-cli GET
  arq:queue:health-check`, or `python -m workers --check`) knows the worker is stuck or gone.
- Start-up builds the Runtime into ctx["runtime"] and refuses to run against a database that
  is not at the migration head.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

from arq import Retry
from arq.connections import RedisSettings, create_pool
from arq.cron import CronJob
from arq.worker import Function, Worker, func

from plugin.db.migrate import require_head
from plugin.logging_setup import configure_logging
from plugin.queue import JobHandler, JobSpec, dumps, loads, release_key, run_try
from plugin.runtime import Runtime, build_runtime
from plugin.settings import Settings, SettingsError
from workers.metrics_server import start_metrics_server
from workers.registry import CRONS, JOB_SPECS, JOBS

log = logging.getLogger(__name__)

DEFAULT_QUEUE_NAME = "arq:queue"
HEALTH_CHECK_SUFFIX = ":health-check"
HEALTH_CHECK_INTERVAL_S = 30
# Jobs run concurrently per worker process; below the engine's pool (10 + 10 overflow) so a
# job never waits for a connection.
MAX_JOBS = 10
# Arq looks for due jobs once per poll and, by default, sleeps 0.5 s between polls even when
# the queue is full: the worker then idles between batches and drains about 40 events/s. A
# 50 ms poll keeps its jobs slots busy; an idle poll is one ZRANGEBYSCORE on Redis.
POLL_DELAY_S = 0.05
# How long a cron run's result marks its tick as taken: far longer than a worker's loop is
# ever late, and a key per tick costs little (1,440 a day for the minute sweeper).
CRON_TICK_KEPT_S = 3600


def arq_function(name: str, handler: JobHandler, spec: JobSpec, queue_name: str) -> Function:
    """`handler` as an Arq function: its key is released as it starts (a new enqueue with the
    key is accepted from then on), and `run_try` turns TransientError into a delayed Retry, up
    to max_tries."""

    async def run(ctx: dict[str, Any], *args: Any, correlation_id: str | None = None) -> None:
        await release_key(ctx["redis"], queue_name, str(ctx.get("job_id") or ""))
        # Arq's score is when the job was due (ms since the epoch): the wait is queueing latency.
        due_ms = ctx.get("score")
        waited = time.time() - due_ms / 1000 if isinstance(due_ms, int | float) else None
        delay = await run_try(
            name,
            handler,
            ctx,
            args,
            spec,
            int(ctx.get("job_try") or 1),
            correlation_id=correlation_id,
            waited_s=waited,
        )
        if delay is not None:
            raise Retry(defer=delay)

    run.__qualname__ = run.__name__ = name
    return func(
        run, name=name, timeout=spec.timeout_s, max_tries=spec.retry.max_tries, keep_result=0
    )


def once_per_tick(job: CronJob) -> CronJob:
    """`job` with its result kept, so that each tick runs once however many workers there are.

    Every worker queues each tick under one job id (`<cron name>:<tick>`), and Arq refuses an
    id only while a queued job or a kept result holds it. A worker whose loop was busy past
    the tick (CPU-bound batches, a loaded machine) queues it after another worker has already
    run it; with no result kept, that second job is accepted and runs once Arq's marker of
    the first run (a minute) expires: the tick twice (python-arq/arq#196)."""
    return dataclasses.replace(job, keep_result_s=CRON_TICK_KEPT_S, keep_result_forever=False)


def worker_settings(
    settings: Settings,
    *,
    burst: bool = False,
    queue_name: str | None = None,
    jobs: Mapping[str, JobHandler] | None = None,
    specs: Mapping[str, JobSpec] | None = None,
    crons: bool = True,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Arq WorkerSettings (keyword arguments of `arq.worker.Worker`) built from our Settings.

    `jobs`/`specs` default to the registry; tests pass their own.
    """
    if not settings.redis_url:
        raise SettingsError(
            "REDIS_URL is required for `valuehealth worker` "
            "(without it, jobs run in-process in the web server)"
        )
    jobs = JOBS if jobs is None else jobs
    specs = JOB_SPECS if specs is None else specs
    name = queue_name or DEFAULT_QUEUE_NAME

    async def on_startup(ctx: dict[str, Any]) -> None:
        runtime = await build_runtime(settings, queue_name=name)
        try:
            await require_head(runtime.engine, settings.database_url)
        except BaseException:
            await runtime.close()
            raise
        ctx["runtime"] = runtime
        if settings.metrics_port:
            ctx["metrics_server"] = await start_metrics_server(settings.metrics_port)
        log.info("worker ready on queue %s with jobs: %s", name, ", ".join(sorted(jobs)))

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        metrics_server = ctx.pop("metrics_server", None)
        if metrics_server is not None:
            metrics_server.close()
        runtime: Runtime | None = ctx.pop("runtime", None)
        if runtime is not None:
            await runtime.close()

    return {
        "functions": [arq_function(n, h, specs.get(n, JobSpec(n)), name) for n, h in jobs.items()],
        "cron_jobs": [once_per_tick(c) for c in CRONS] if crons else [],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": name,
        "burst": burst,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "job_serializer": dumps,
        "job_deserializer": loads,
        "keep_result": 0,
        "max_jobs": MAX_JOBS,
        "poll_delay": POLL_DELAY_S,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "handle_signals": handle_signals,
    }


def build_worker(settings: Settings, **options: Any) -> Worker:
    """An Arq Worker from `worker_settings(settings, **options)`; call inside an event loop for
    `await worker.async_run()`, or outside one for `worker.run()`."""
    return Worker(**worker_settings(settings, **options))


def run_worker(
    settings: Settings, *, burst: bool = False, crons: bool = True, queue_name: str | None = None
) -> None:
    """Run the worker until stopped (SIGINT/SIGTERM), or until the queue is empty with `burst`.
    Without `crons` it runs queued jobs only (e.g. workers added for a backlog, or a benchmark
    that measures event processing alone).

    A burst worker drains the queue and leaves the crons to the long-running workers: Arq
    claims each cron run by a key shared by every worker on the Redis server, so a burst run
    that happened to start on the minute would take a sweep or nightly recompute from them.

    Raises `DatabaseNotMigrated` when the database is not at head, `SettingsError` without Redis.
    """
    configure_logging(settings.log_level)
    with contextlib.suppress(ImportError):
        # uvloop (with uvicorn[standard]) cuts the event loop's own cost per query; optional.
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())
    build_worker(settings, burst=burst, queue_name=queue_name, crons=crons and not burst).run()


async def worker_alive(settings: Settings, *, queue_name: str | None = None) -> str | None:
    """The worker's last health summary, or None when no worker has reported within the
    health-check interval (what a liveness probe checks)."""
    if not settings.redis_url:
        raise SettingsError("REDIS_URL is required to check the worker")
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    redis_settings.conn_retries = 0
    pool = await create_pool(redis_settings)
    try:
        key = (queue_name or DEFAULT_QUEUE_NAME) + HEALTH_CHECK_SUFFIX
        value = await asyncio.wait_for(pool.get(key), timeout=5)
    finally:
        await pool.aclose()
    return value.decode() if value else None
