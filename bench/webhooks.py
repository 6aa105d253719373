"""Webhook ingest benchmark: `python -m bench webhooks [--duration S] [--rate R] ...`.

1. Serves a bare Starlette endpoint (reads the body, answers 200) and then the real app
   (`plugin.app:create_app` with its runtime, PostgreSQL in a database made and dropped for the
   run, Redis for the queue under a queue name of the run's own), each in one uvicorn process
   on a loopback port, with the same uvicorn options.
2. Drives both with signed, Shopify-shaped deliveries (HMAC-SHA256 of the raw body, every
   X-Shopify-* header): a closed loop (saturation throughput) and an open loop at a fixed rate
   (latency at the target load). About 1% of deliveries are sent again, as Shopify's retries
   do. The CPU each process used during a phase is reported: the two cores are shared by the
   server, the load generator (this process), PostgreSQL and Redis.
3. Drains the queue with a burst worker (`python -m workers --burst --queue NAME`), measures
   events/s, and checks that nothing was lost or doubled: one inbox row per distinct delivery,
   every row handled exactly once, and the domain state holds each contract once, one status
   event per distinct delivery, and each contract's status from its latest event.

Redis keys the run made (its queue, its jobs, their waiting markers) are deleted at the end;
the markers are named after the queue, so another run on a shared server never meets them.
`BENCH_LOG_LEVEL=INFO` shows the server's and the worker's logs (Arq's line per job with its
time); the default is WARNING.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hmac
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bench.loadgen import LoadResult, build_request, closed_loop, open_loop
from bench.support import (
    QUEUE_NAME_ENV,
    REDIS_URL,
    REPO,
    CpuMeter,
    CpuShare,
    drop_queue,
    run_queue_name,
    spread_sequences,
    start_served_bench,
    temporary_database,
    uvicorn_process,
)
from plugin.db.engine import make_engine, make_sessionmaker
from plugin.demo.payloads import contract as contract_payload
from plugin.models import Contract, ContractStatusEvent, InboxStatus, WebhookInbox

SHOP = "bench-shop.myshopify.com"
# Per contract, in the order Shopify would fire them.
LIFECYCLE = (
    ("subscription_contracts/create", "active"),
    ("subscription_contracts/pause", "paused"),
    ("subscription_contracts/activate", "active"),
)
STEP = {topic: step for step, (topic, _) in enumerate(LIFECYCLE)}
TARGET_RATE = 1500.0
TARGET_P99_S = 0.050


Meta = tuple[str, int, str]  # webhook id, contract id, topic


@dataclass
class Deliveries:
    """Signed deliveries, built ahead of each load phase so that signing and serialising cost
    nothing while it is measured; `sent` lists what was actually sent (duplicates included)."""

    host: str
    port: int
    secret: bytes
    duplicate_share: float
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    sent: list[Meta] = field(default_factory=list)
    _built: list[tuple[Meta, bytes]] = field(default_factory=list)
    _next_contract: int = 1_000_000

    def prepare(self, count: int) -> Iterator[bytes]:
        """Build `count` requests now; the iterator records each as sent when it yields it."""
        start = len(self._built)
        while len(self._built) < start + count:
            if self._built and self.rng.random() < self.duplicate_share:
                # Shopify retrying a delivery: the very same request again.
                self._built.append(self.rng.choice(self._built))
                continue
            contract_id, self._next_contract = self._next_contract, self._next_contract + 1
            for step, (topic, status) in enumerate(LIFECYCLE):
                webhook_id = str(uuid.uuid4())
                request = self._build(webhook_id, topic, contract_id, status, step)
                self._built.append(((webhook_id, contract_id, topic), request))
        return self._consume(self._built[start : start + count])

    def _consume(self, entries: list[tuple[Meta, bytes]]) -> Iterator[bytes]:
        for meta, request in entries:
            self.sent.append(meta)
            yield request

    def _build(
        self, webhook_id: str, topic: str, contract_id: int, status: str, step: int
    ) -> bytes:
        payload = contract_payload(
            contract_id=contract_id,
            customer_id=contract_id + 5_000_000,
            status=status,
            currency="EUR",
            interval="month",
            interval_count=1,
            max_cycles=None,
            origin_order_id=contract_id + 9_000_000,
            revision_id=step + 1,
        )
        body = json.dumps(payload).encode()
        fired = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=step * 30, seconds=contract_id)
        signature = base64.b64encode(hmac.digest(self.secret, body, "sha256")).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": fired.isoformat().replace("+00:00", "Z"),
        }
        return build_request(self.host, self.port, "/webhooks", headers, body)


# The most requests a closed-loop phase can use per second of its duration; beyond it the phase
# simply ends early (the real endpoint is far from it; the bare one repeats one request).
CLOSED_LOOP_RATE_CAP = 5000


def bare_requests(host: str, port: int) -> Callable[[int], Iterator[bytes]]:
    """The same bytes on the wire as a real delivery, for the bare endpoint."""
    template = next(Deliveries(host, port, b"unused", 0.0).prepare(1))
    return lambda _count: itertools.repeat(template)


def _quiet_collector() -> None:
    """Keep the generator's own garbage collection from pausing it mid-phase (a pause would
    show up as server latency): what exists now is never collected."""
    gc.collect()
    gc.freeze()


Phases = tuple[tuple[LoadResult, CpuShare], tuple[LoadResult, CpuShare]]


async def drive(
    label: str,
    port: int,
    server_pid: int,
    prepare: Callable[[int], Iterator[bytes]],
    args: argparse.Namespace,
) -> Phases:
    """Warm up, then the closed loop, then the open loop; each measured with its CPU use."""
    cap = int(CLOSED_LOOP_RATE_CAP * args.duration)
    await closed_loop(
        f"{label} warm-up",
        "127.0.0.1",
        port,
        prepare(CLOSED_LOOP_RATE_CAP),
        concurrency=args.concurrency,
        duration_s=1,
    )
    meter = CpuMeter(server_pid)
    requests = prepare(cap)
    _quiet_collector()
    meter.start()
    saturated = await closed_loop(
        f"{label} closed loop, {args.concurrency} conns",
        "127.0.0.1",
        port,
        requests,
        concurrency=args.concurrency,
        duration_s=args.duration,
    )
    saturated_cpu = meter.stop()
    print(saturated.summary(), flush=True)
    requests = prepare(int(args.rate * args.duration))
    _quiet_collector()
    meter.start()
    paced = await open_loop(
        f"{label} open loop at {args.rate:,.0f}/s",
        "127.0.0.1",
        port,
        requests,
        rate=args.rate,
        duration_s=args.duration,
        connections=args.connections,
    )
    paced_cpu = meter.stop()
    print(paced.summary(), flush=True)
    return (saturated, saturated_cpu), (paced, paced_cpu)


@dataclass
class Drain:
    elapsed_s: float
    events: int
    events_per_s: float
    cpu: CpuShare


def run_worker_burst(env: dict[str, str], queue_name: str) -> tuple[float, CpuShare]:
    """The real worker command, until its queue is empty; (wall seconds, CPU per process)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "workers", "--burst", "--queue", queue_name]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    meter = CpuMeter(process.pid, label="worker")
    meter.start()
    try:
        while process.poll() is None:
            meter.poll()  # the worker's database connections close before it exits
            time.sleep(0.2)
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    # The worker has exited: its CPU time is now among this process's children's.
    cpu = meter.stop(children=resource.getrusage(resource.RUSAGE_CHILDREN))
    if returncode != 0:
        raise RuntimeError(f"the worker exited with {returncode}")
    return time.perf_counter() - started, cpu


async def verify(
    database_url: str, deliveries: Deliveries, wall_s: float, cpu: CpuShare
) -> tuple[Drain, list[str]]:
    """Compare the database with what was sent; the problems found (empty: none)."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    problems: list[str] = []
    try:
        async with sessions() as session:
            by_status = dict(
                (
                    await session.execute(
                        select(WebhookInbox.status, func.count()).group_by(WebhookInbox.status)
                    )
                ).all()
            )
            first, last = (
                await session.execute(
                    select(func.min(WebhookInbox.handled_at), func.max(WebhookInbox.handled_at))
                )
            ).one()
            stored_ids = set((await session.scalars(select(WebhookInbox.webhook_id))).all())
            not_once = await session.scalar(select(func.count()).where(WebhookInbox.attempts != 1))
            statuses = dict(
                (await session.execute(select(Contract.contract_id, Contract.status))).all()
            )
            status_events = await session.scalar(
                select(func.count()).select_from(ContractStatusEvent)
            )
    finally:
        await engine.dispose()
    rows = sum(by_status.values())
    distinct = {webhook_id for webhook_id, _, _ in deliveries.sent}
    latest: dict[int, int] = {}
    for _, contract_id, topic in deliveries.sent:
        latest[contract_id] = max(latest.get(contract_id, -1), STEP[topic])
    if rows != len(distinct) or stored_ids != distinct:
        problems.append(
            f"{rows} inbox rows for {len(distinct)} distinct deliveries "
            f"({len(distinct - stored_ids)} lost, {len(stored_ids - distinct)} unknown)"
        )
    handled = by_status.get(InboxStatus.HANDLED, 0)
    if handled != rows:
        problems.append(f"not all rows handled: {by_status}")
    if not_once:
        problems.append(f"{not_once} rows processed more than once or not at all")
    if len(statuses) != len(latest):
        problems.append(f"{len(statuses)} contracts stored for {len(latest)} sent")
    if status_events != len(distinct):
        problems.append(f"{status_events} contract status events for {len(distinct)} deliveries")
    wrong = sum(1 for cid, step in latest.items() if statuses.get(cid) != str(LIFECYCLE[step][1]))
    if wrong:
        problems.append(f"{wrong} contracts not in the status of their latest event")
    span = (last - first).total_seconds() if first and last else wall_s
    return Drain(wall_s, handled, handled / span if span else 0.0, cpu), problems


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks", description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests/s")
    parser.add_argument("--connections", type=int, default=128, help="open-loop connection pool")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share sent again")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not start_served_bench():
        return 2

    with uvicorn_process("bench.bare_app:app", {}) as (port, process):
        bare = asyncio.run(
            drive("bare endpoint", port, process.pid, bare_requests("127.0.0.1", port), args)
        )

    secret = Fernet.generate_key()[:32]
    queue_name = run_queue_name("webhooks")
    with temporary_database() as database_url:
        sequences_start = asyncio.run(spread_sequences(database_url))
        env = {
            "SHOPIFY_API_KEY": "bench-api-key",
            "SHOPIFY_API_SECRET": secret.decode(),
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            QUEUE_NAME_ENV: queue_name,
        }
        print(f"queue: {queue_name} on {REDIS_URL}; row ids from {sequences_start}", flush=True)
        try:
            with uvicorn_process("bench.support:ServedApp", env, factory=True) as (port, proc):
                deliveries = Deliveries("127.0.0.1", port, secret, args.duplicates)
                real = asyncio.run(drive("webhooks", port, proc.pid, deliveries.prepare, args))
            print("draining the queue with one burst worker ...", flush=True)
            wall, cpu = run_worker_burst({**os.environ, **env}, queue_name)
            drain, problems = asyncio.run(verify(database_url, deliveries, wall, cpu))
        finally:
            left = asyncio.run(drop_queue(REDIS_URL, queue_name))
        if left:
            problems.append(f"{left} jobs were left in the queue after the drain")

    distinct = len({webhook_id for webhook_id, _, _ in deliveries.sent})
    report(bare, real, drain, problems, len(deliveries.sent), distinct)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if problems else 0


def report(
    bare: Phases,
    real: Phases,
    drain: Drain,
    problems: list[str],
    sent: int,
    distinct: int,
) -> None:
    print()
    print(f"{'':40}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for phases in (bare, real):
        for result, _ in phases:
            print(
                f"{result.label:40.40}{result.throughput:>9,.0f}"
                f"{result.percentile(0.5) * 1000:>8.1f}{result.percentile(0.99) * 1000:>8.1f}"
                f"{max(result.latencies_s) * 1000:>8.1f}"
            )
    (bare_sat, _), (bare_paced, _) = bare
    (sat, _), (paced, _) = real
    print(f"ratio webhooks / bare, closed loop: {sat.throughput / bare_sat.throughput:.2f}")
    print(
        "p99 webhooks / bare, open loop: "
        f"{paced.percentile(0.99) / bare_paced.percentile(0.99):.1f}x"
    )
    print("CPU (cores) per process during each phase:")
    for phases in (bare, real):
        for result, cpu in phases:
            print(f"  {result.label:40.40} {cpu.summary()}")
    non_200 = {k: v for k, v in (sat.statuses + paced.statuses).items() if k != 200}
    print(f"non-200 answers: {non_200 or 'none'}")
    target_met = sat.throughput >= TARGET_RATE and paced.percentile(0.99) < TARGET_P99_S
    print(
        f"target (>= {TARGET_RATE:,.0f}/s, p99 < {TARGET_P99_S * 1000:.0f} ms at that rate): "
        f"{'met' if target_met else 'NOT met'}"
    )
    print(
        f"worker: {drain.events} events handled, {drain.events_per_s:,.0f} events/s "
        f"(first to last handled; burst run {drain.elapsed_s:.1f}s wall incl. start-up)"
    )
    print(f"  CPU (cores) during the drain: {drain.cpu.summary()}")
    print(
        f"deliveries: {sent} sent, {distinct} distinct ({sent - distinct} sent again); "
        f"lost or doubled: {'; '.join(problems) or 'none'}"
    )
