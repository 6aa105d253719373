"""The queue facade: enqueue a job by name with ids-only arguments.

Two backends behind one interface:
- `ArqQueue` (REDIS_URL set): Arq on Redis with JSON serialisation. Redis is only a wake-up;
  Postgres holds the durable state, and the sweeper re-enqueues anything a lost message missed.
- `InProcessQueue` (REDIS_URL unset): the same jobs run in this process, FIFO, with the same
  key-based de-duplication, for the demo and laptops.

Nothing else in the project imports Arq except `workers/`.

The request's correlation id (plugin.correlation) travels with the job as Arq's one keyword
argument, `correlation_id`: an id like the others, naming nothing. The worker binds it while the
job runs, so a request's log lines and its jobs' share it.

Retry policy is explicit: a job raises `TransientError` for a failure worth retrying (database
blip, Shopify 5xx or throttling); `run_try` (shared by both backends) turns it into a delayed
retry with backoff up to `RetryPolicy.max_tries`. Any other exception fails the job for good
(Arq's own semantics).

A job key means "at most one such job *waiting*": a second enqueue with the key is refused
while the first is queued, and accepted again once it has started. A job that drains work
(a shop's inbox) therefore never misses what arrives while it runs: that work queues the next
run. Both backends behave so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from plugin import correlation
from plugin.batching import Coalescer
from plugin.metrics import job_finished

log = logging.getLogger(__name__)

JobArg = int | str
JobHandler = Callable[..., Awaitable[Any]]


class TransientError(Exception):
    """A failure worth retrying later (the effect did not happen; the job is idempotent)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 5
    base_delay: float = 2.0
    max_delay: float = 300.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's hint (Retry-After) is a floor."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        jittered = random.uniform(ceiling / 2, ceiling)
        return max(jittered, hint or 0.0)


@dataclass(frozen=True)
class JobSpec:
    name: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 300.0


async def run_try(
    name: str,
    handler: JobHandler,
    ctx: dict[str, Any],
    args: tuple[Any, ...],
    spec: JobSpec,
    attempt: int,
    *,
    correlation_id: str | None = None,
    waited_s: float | None = None,
) -> float | None:
    """Run try number `attempt` of a job: None when it is done, or the wait before the next try
    when it failed transiently and tries remain. When tries are used up the TransientError is
    logged and raised; any other exception is raised as is.

    The try runs under the correlation id of the request that queued the job (a new one when
    none came with it), and is counted and logged once by `job_done`, whichever way it ends:
    both backends run their tries through here, so neither counts them a second time."""
    started = time.monotonic()
    outcome = "failed"
    with correlation.bound(correlation_id or correlation.new_id()):
        try:
            await handler(ctx, *args)
            outcome = "ok"
        except TransientError as exc:
            if attempt >= spec.retry.max_tries:
                log.error("job %s%r gave up after %d tries: %s", name, args, attempt, exc)
                raise
            outcome = "retry"
            delay = spec.retry.delay(attempt, exc.retry_after)
            log.warning(
                "job %s%r try %d failed transiently (%s); retry in %.1fs",
                name,
                args,
                attempt,
                exc,
                delay,
            )
            return delay
        finally:
            job_done(name, outcome, time.monotonic() - started, waited_s)
    return None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


def job_done(job: str, outcome: str, duration_s: float, waited_s: float | None) -> None:
    """Count a job run (plugin.metrics) and log it: one line per run, under the correlation id
    of the request that queued it, so a webhook's request and its job are found together."""
    job_finished(job, outcome, duration_s, waited_s)
    log.info(
        "job %s %s in %.1f ms",
        job,
        outcome,
        duration_s * 1000,
        extra={"job": job, "outcome": outcome, "duration_ms": round(duration_s * 1000, 2)},
    )


def check_args(args: tuple[Any, ...]) -> None:
    """Jobs take ids, never payloads or ORM objects."""
    for arg in args:
        if not isinstance(arg, int | str) or isinstance(arg, bool):
            raise TypeError(f"job arguments must be ids (int or str), got {type(arg).__name__}")


class Queue(Protocol):
    async def enqueue(
        self, job: str, *args: JobArg, key: str | None = None, delay_s: float | None = None
    ) -> bool:
        """Queue a job; returns False when a job with the same key is already queued."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


# Arq's enqueue (arq.connections.ArqRedis.enqueue_job) as one atomic script: refuse when the
# key's waiting marker exists, else store the job under a fresh job id, add it to the queue
# and set the marker (which the worker clears when the job starts, see `release_key`). Arq's
# version takes three round trips (WATCH, EXISTS, MULTI/EXEC); this one pipelines with its
# neighbours. Without a key, KEYS[1] is the job's own key (always new).
_ENQUEUE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) > 0 then return 0 end
redis.call('PSETEX', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
if KEYS[1] ~= KEYS[2] then redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[4]) end
return 1
"""
# Clear a key's waiting marker if it still names this job (a later enqueue may have set it).
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# A keyed job's id is its key, this separator and a random part: unique per enqueue.
_JOB_ID_SEPARATOR = "#"


def waiting_marker(queue_name: str, key: str) -> str:
    """The Redis key that says a job with `key` is waiting on the queue `queue_name`."""
    return f"{queue_name}:waiting:{key}"


def job_key_of(job_id: str) -> str | None:
    """The key a job was enqueued with, from its job id (None for a job without key)."""
    key, separator, _ = job_id.rpartition(_JOB_ID_SEPARATOR)
    return key if separator else None


async def release_key(redis: Any, queue_name: str, job_id: str) -> None:
    """Called by the worker when a job starts: its key accepts a new enqueue from now on."""
    key = job_key_of(job_id)
    if key is not None:
        await redis.eval(_RELEASE_SCRIPT, 1, waiting_marker(queue_name, key), job_id)


# How long an enqueued job may wait to start, past its due time (Arq's default).
_JOB_EXPIRES_EXTRA_MS = 86_400_000

_Enqueue = tuple[str, tuple[JobArg, ...], str | None, float | None, str | None]


class ArqQueue:
    """Arq-compatible enqueueing; concurrent enqueues share one Redis round trip."""

    def __init__(self, redis_url: str, *, queue_name: str | None = None) -> None:
        self._redis_url = redis_url
        self._queue_name = queue_name or "arq:queue"
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._batches: Coalescer[_Enqueue, bool] = Coalescer(
            self._enqueue_batch, max_batch=256, max_in_flight=2
        )

    async def _get_pool(self) -> Any:
        async with self._pool_lock:
            if self._pool is None:
                from arq import create_pool
                from arq.connections import RedisSettings

                redis_settings = RedisSettings.from_dsn(self._redis_url)
                # Enqueueing sits on request paths (a webhook must answer within 5 s): fail at
                # once instead of Arq's five one-second retries; the sweeper re-enqueues what
                # was missed.
                redis_settings.conn_retries = 0
                self._pool = await create_pool(
                    redis_settings,
                    job_serializer=dumps,
                    job_deserializer=loads,
                    default_queue_name=self._queue_name,
                )
        return self._pool

    async def enqueue(
        self, job: str, *args: JobArg, key: str | None = None, delay_s: float | None = None
    ) -> bool:
        check_args(args)
        return await self._batches.submit((job, args, key, delay_s, correlation.current()))

    async def _enqueue_batch(
        self, _session: None, items: list[_Enqueue]
    ) -> list[bool | BaseException]:
        from arq.constants import job_key_prefix
        from arq.jobs import serialize_job

        pool = await self._get_pool()
        pipe = pool.pipeline(transaction=False)
        for job, args, key, delay_s, correlation_id in items:
            random_part = uuid.uuid4().hex
            job_id = random_part if key is None else f"{key}{_JOB_ID_SEPARATOR}{random_part}"
            now_ms = int(time.time() * 1000)
            defer_ms = int((delay_s or 0) * 1000)
            kwargs = {"correlation_id": correlation_id} if correlation_id else {}
            data = serialize_job(job, args, kwargs, None, now_ms, serializer=dumps)
            pipe.eval(
                _ENQUEUE_SCRIPT,
                3,
                job_key_prefix + job_id if key is None else waiting_marker(self._queue_name, key),
                job_key_prefix + job_id,
                self._queue_name,
                defer_ms + _JOB_EXPIRES_EXTRA_MS,
                data,
                now_ms + defer_ms,
                job_id,
            )
        results = await pipe.execute(raise_on_error=False)
        return [r if isinstance(r, BaseException) else bool(r) for r in results]

    async def ping(self) -> bool:
        pool = await self._get_pool()
        return bool(await pool.ping())

    async def drop(self) -> int:
        """Delete this queue and every key it made: the jobs still queued, their waiting
        markers, the workers' health key (tests and benchmarks on a shared Redis). How many
        jobs were still queued."""
        from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

        pool = await self._get_pool()
        job_ids = [m.decode() for m in await pool.zrange(self._queue_name, 0, -1)]
        prefixes = (job_key_prefix, retry_key_prefix, in_progress_key_prefix)
        keys = [prefix + job_id for job_id in job_ids for prefix in prefixes]
        keys += [k async for k in pool.scan_iter(match=waiting_marker(self._queue_name, "*"))]
        keys += [self._queue_name, f"{self._queue_name}:health-check"]
        for start in range(0, len(keys), 4000):
            await pool.delete(*keys[start : start + 4000])
        return len(job_ids)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


# job, its ids, its de-duplication key, the correlation id, when it was queued (monotonic)
_Queued = tuple[str, tuple[JobArg, ...], str | None, str | None, float]


class InProcessQueue:
    """Runs jobs in this process, one at a time, in the order they were queued.

    Delayed jobs run once no immediate work is left, which preserves the debounce effect
    (a burst of events, then one recompute) without wall-clock waits in the demo.
    """

    def __init__(
        self,
        handlers: Mapping[str, JobHandler] | None = None,
        ctx: dict[str, Any] | None = None,
        specs: Mapping[str, JobSpec] | None = None,
    ) -> None:
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self.specs: dict[str, JobSpec] = dict(specs or {})
        self.ctx: dict[str, Any] = ctx if ctx is not None else {}
        self._now: deque[_Queued] = deque()
        self._later: deque[_Queued] = deque()
        self._keys: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.failures: list[tuple[str, tuple[JobArg, ...], BaseException]] = []

    async def enqueue(
        self, job: str, *args: JobArg, key: str | None = None, delay_s: float | None = None
    ) -> bool:
        check_args(args)
        if job not in self.handlers:
            raise KeyError(f"no job named {job!r}")
        if key is not None:
            if key in self._keys:
                return False
            self._keys.add(key)
        (self._later if delay_s else self._now).append(
            (job, args, key, correlation.current(), time.monotonic())
        )
        self._idle.clear()
        self._wake.set()
        return True

    async def ping(self) -> bool:
        return True

    def start(self) -> None:
        """Run jobs in the background (the web server without Redis)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="inprocess-queue")

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.run_pending()

    async def drain(self) -> None:
        """Run every queued job, including those queued by jobs, until none is left."""
        if self._task is not None:
            self._wake.set()
            await self._idle.wait()
        else:
            await self.run_pending()

    async def run_pending(self) -> None:
        while self._now or self._later:
            job, args, key, correlation_id, queued_at = (self._now or self._later).popleft()
            if key is not None:
                self._keys.discard(key)
            # One id for all the tries of a job that came without one.
            await self._run(job, args, correlation_id or correlation.new_id(), queued_at)
        self._idle.set()

    async def _run(
        self, job: str, args: tuple[JobArg, ...], correlation_id: str, queued_at: float
    ) -> None:
        spec = self.specs.get(job, JobSpec(job))
        handler = self.handlers[job]

        async def timed(ctx: dict[str, Any], *job_args: Any) -> None:
            await asyncio.wait_for(handler(ctx, *job_args), spec.timeout_s)

        waited_s = time.monotonic() - queued_at
        for attempt in range(1, spec.retry.max_tries + 1):
            try:
                delay = await run_try(
                    job,
                    timed,
                    self.ctx,
                    args,
                    spec,
                    attempt,
                    correlation_id=correlation_id,
                    waited_s=waited_s,
                )
            except TransientError as exc:
                self.failures.append((job, args, exc))
                return
            except Exception as exc:
                log.exception("job %s%r failed", job, args)
                self.failures.append((job, args, exc))
                return
            if delay is None:
                return
            # In-process retries are for laptops and the demo: keep the wait short.
            await asyncio.sleep(min(delay, 1.0))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
