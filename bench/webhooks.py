"""Webhook ingest benchmark: `python -m bench webhooks [--duration S] [--rate R] ...`.

1. Serves a bare Starlette endpoint (reads the body, answers 200) and then the real app
   (`plugin.app:create_app`, PostgreSQL in a database made for the run, Redis for the queue),
   each in one uvicorn process on a loopback port, with the same uvicorn options.
2. Drives both with signed, Shopify-shaped deliveries: a closed loop (saturation throughput)
   and an open loop at a fixed rate (latency at the target load). About 1% of deliveries are
   sent twice, as Shopify's retries do.
3. Drains the queue with a burst worker (`python -m workers --burst`), measures events/s, and
   checks that nothing was lost or doubled: one inbox row per distinct delivery, every row
   handled, and the domain state holds each contract and each status event exactly once.

The load generator runs on the same cores as the server, PostgreSQL and Redis; it is kept cheap
(pre-signed requests, keep-alive, a raw asyncio client) but its CPU is not free.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hmac
import itertools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bench.loadgen import LoadResult, build_request, closed_loop, open_loop
from bench.support import (
    PG_ADMIN_URL,
    REDIS_URL,
    REPO,
    machine,
    reachable,
    temporary_database,
    uvicorn_options,
    uvicorn_server,
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
REDIS_DATABASE = 13
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


async def drive(
    label: str, port: int, prepare: Callable[[int], Iterator[bytes]], args: argparse.Namespace
) -> tuple[LoadResult, LoadResult]:
    cap = int(CLOSED_LOOP_RATE_CAP * args.duration)
    await closed_loop(
        f"{label} warm-up",
        "127.0.0.1",
        port,
        prepare(CLOSED_LOOP_RATE_CAP),
        concurrency=args.concurrency,
        duration_s=1,
    )
    requests = prepare(cap)
    _quiet_collector()
    saturated = await closed_loop(
        f"{label} closed loop, {args.concurrency} connections",
        "127.0.0.1",
        port,
        requests,
        concurrency=args.concurrency,
        duration_s=args.duration,
    )
    print(saturated.summary(), flush=True)
    requests = prepare(int(args.rate * args.duration))
    _quiet_collector()
    paced = await open_loop(
        f"{label} open loop at {args.rate:,.0f}/s",
        "127.0.0.1",
        port,
        requests,
        rate=args.rate,
        duration_s=args.duration,
        connections=args.connections,
    )
    print(paced.summary(), flush=True)
    return saturated, paced


@dataclass
class Drain:
    elapsed_s: float
    events: int
    events_per_s: float


def run_worker_burst(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workers", "--burst"], cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


async def verify(
    database_url: str, deliveries: Deliveries, wall_s: float
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
            processed_twice = await session.scalar(
                select(func.count()).where(WebhookInbox.attempts != 1)
            )
            contracts = await session.scalar(select(func.count()).select_from(Contract))
            status_events = await session.scalar(
                select(func.count()).select_from(ContractStatusEvent)
            )
    finally:
        await engine.dispose()
    rows = sum(by_status.values())
    distinct = len({webhook_id for webhook_id, _, _ in deliveries.sent})
    sent_contracts = len({contract for _, contract, _ in deliveries.sent})
    if rows != distinct:
        problems.append(f"{rows} inbox rows for {distinct} distinct deliveries")
    if by_status.get(InboxStatus.HANDLED, 0) != rows:
        problems.append(f"not all rows handled: {by_status}")
    if processed_twice:
        problems.append(f"{processed_twice} rows processed more than once or not at all")
    if contracts != sent_contracts:
        problems.append(f"{contracts} contracts stored for {sent_contracts} sent")
    if status_events != distinct:
        problems.append(f"{status_events} contract status events for {distinct} deliveries")
    span = (last - first).total_seconds() if first and last else wall_s
    handled = by_status.get(InboxStatus.HANDLED, 0)
    return Drain(wall_s, handled, handled / span if span else 0.0), problems


def bench_redis_url() -> str:
    """BENCH_REDIS_URL on a Redis database of its own: the app and worker use Arq's default
    queue name, which must not meet jobs from anything else sharing the server."""
    return urlsplit(REDIS_URL)._replace(path=f"/{REDIS_DATABASE}").geturl()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks", description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests/s")
    parser.add_argument("--connections", type=int, default=128, help="open-loop connection pool")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share sent twice")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    redis = urlsplit(REDIS_URL)
    postgres = urlsplit(PG_ADMIN_URL)
    for name, host, port in (
        ("PostgreSQL (BENCH_POSTGRES_URL)", postgres.hostname, postgres.port or 5432),
        ("Redis (BENCH_REDIS_URL)", redis.hostname, redis.port or 6379),
    ):
        if not reachable(host or "127.0.0.1", port):
            print(f"{name} is not reachable at {host}:{port}", file=sys.stderr)
            return 2
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work skews the figures)")
    print(f"uvicorn: 1 process, {' '.join(uvicorn_options())}", flush=True)

    with uvicorn_server("bench.bare_app:app", {}) as port:
        bare = asyncio.run(drive("bare endpoint", port, bare_requests("127.0.0.1", port), args))

    secret = Fernet.generate_key()[:32]
    with temporary_database() as database_url:
        env = {
            "SHOPIFY_API_KEY": "bench-api-key",
            "SHOPIFY_API_SECRET": secret.decode(),
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": bench_redis_url(),
            "LOG_LEVEL": "WARNING",
        }
        with uvicorn_server("plugin.app:create_app", env, factory=True) as port:
            deliveries = Deliveries("127.0.0.1", port, secret, args.duplicates)
            real = asyncio.run(drive("webhooks", port, deliveries.prepare, args))
        worker_env = {**os.environ, **env}
        wall = run_worker_burst(worker_env)
        drain, problems = asyncio.run(verify(database_url, deliveries, wall))

    distinct = len({webhook_id for webhook_id, _, _ in deliveries.sent})
    report(bare, real, drain, problems, len(deliveries.sent), distinct)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if problems else 0


def report(
    bare: tuple[LoadResult, LoadResult],
    real: tuple[LoadResult, LoadResult],
    drain: Drain,
    problems: list[str],
    sent: int,
    distinct: int,
) -> None:
    (bare_sat, bare_paced), (sat, paced) = bare, real
    print()
    print(f"{'':34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for result in (bare_sat, sat, bare_paced, paced):
        print(
            f"{result.label:34.34}{result.throughput:>10,.0f}"
            f"{result.percentile(0.5) * 1000:>9.1f}{result.percentile(0.99) * 1000:>9.1f}"
        )
    print(f"ratio webhooks / bare (closed loop): {sat.throughput / bare_sat.throughput:.2f}")
    non_200 = {k: v for k, v in (sat.statuses + paced.statuses).items() if k != 200}
    print(f"non-200 answers: {non_200 or 'none'}")
    target_met = sat.throughput >= TARGET_RATE and paced.percentile(0.99) <= TARGET_P99_S
    print(
        f"target (>= {TARGET_RATE:,.0f}/s, p99 < {TARGET_P99_S * 1000:.0f} ms at that rate): "
        f"{'met' if target_met else 'NOT met'}"
    )
    print(
        f"worker: {drain.events} events handled, {drain.events_per_s:,.0f} events/s "
        f"(burst run {drain.elapsed_s:.1f}s wall, incl. start-up)"
    )
    print(
        f"deliveries: {sent} sent, {distinct} distinct; "
        f"lost or doubled: {'; '.join(problems) or 'none'}"
    )
