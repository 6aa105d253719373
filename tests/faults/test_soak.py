"""Soak: five minutes of mixed traffic against real processes (`valuehealth serve`, the worker,
our own PostgreSQL cluster and redis-server): signed webhooks (20/s, a third duplicated),
survey answers through the extension API (2/s, 200 customers) and admin reads (5/s).

Checked: each process's memory (RSS) after a one-minute warm-up stays within 10 % of what it
was at the end of the warm-up; the inbox backlog stays bounded and drains to zero; no 5xx.
Printed: p50/p95/p99 latencies per kind of request, memory, backlog (docs/benchmarks.md
records a run). Marked `faults` with the fault tests: minutes long, run by `.ci/run`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plugin.app import build_app_runtime
from tests.conftest import make_settings
from tests.faults.conftest import Stack
from tests.faults.harness import deliveries
from tests.support.tenants import Customer, Tenants, seed

pytestmark = pytest.mark.faults

DURATION_S = float(os.environ.get("VH_SOAK_SECONDS", "300"))
WARM_UP_S = min(60.0, DURATION_S / 5)
CUSTOMERS = 200


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def seed_customers(database_url: str) -> tuple[Tenants, list[Customer]]:
    """The tenants' shops, and 200 more customers of shop A with a pending invitation each."""
    from tests.support.tenants import _customer

    runtime = await build_app_runtime(make_settings(database_url))
    try:
        t = await seed(runtime)
        customers = [
            await _customer(runtime, t.a1.shop_id, t.a1.shop, 90_000_000_000 + i)
            for i in range(CUSTOMERS)
        ]
        return t, customers
    finally:
        await runtime.close()


async def test_five_minutes_of_mixed_traffic(stack: Stack) -> None:
    s = stack
    t, customers = await seed_customers(s.database_url)
    items = deliveries(int(DURATION_S * 20 / 2) + 10, seed=7)
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    memory: list[tuple[float, int, int]] = []
    backlog: list[int] = []
    engine = create_async_engine(s.database_url)
    rng = random.Random(11)
    deadline = time.monotonic() + DURATION_S
    started = time.monotonic()

    async with httpx.AsyncClient(base_url=s.url, timeout=10) as client:

        async def call(kind: str, method: str, url: str, **kwargs: object) -> None:
            begin = time.perf_counter()
            response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            latencies[kind].append(time.perf_counter() - begin)
            statuses[kind][response.status_code] += 1

        running: set[asyncio.Task[None]] = set()

        async def every(rate: float, make: object) -> None:
            while time.monotonic() < deadline:
                task = asyncio.create_task(make())  # type: ignore[operator]
                running.add(task)
                task.add_done_callback(running.discard)
                await asyncio.sleep(1 / rate)

        sent = iter(items)

        async def webhook() -> None:
            d = next(sent)
            await call("webhook", "POST", "/webhooks", content=d.body, headers=d.headers)
            if rng.random() < 1 / 3:
                await call("webhook", "POST", "/webhooks", content=d.body, headers=d.headers)

        async def answer() -> None:
            # A fresh session token per request, as the extension gets (they live a minute).
            headers = t.customer(rng.choice(customers)) | {"Accept": "application/json"}
            body = {"score": rng.randrange(11), "comment": "soak"}
            await call("survey answer", "POST", "/api/portal/nps", json=body, headers=headers)

        async def admin_read() -> None:
            path = rng.choice(
                ["/api/admin/overview", "/api/admin/subscribers", "/api/admin/trends?metric=mrr"]
            )
            await call("admin read", "GET", path, headers=t.staff(t.a1.shop))

        async def sample() -> None:
            while time.monotonic() < deadline:
                assert s.web.process is not None and s.worker.process is not None
                memory.append(
                    (
                        time.monotonic() - started,
                        rss_bytes(s.web.process.pid),
                        rss_bytes(s.worker.process.pid),
                    )
                )
                async with engine.connect() as conn:
                    backlog.append(
                        int(
                            await conn.scalar(
                                text("SELECT count(*) FROM webhook_inbox WHERE status <> 'handled'")
                            )
                            or 0
                        )
                    )
                await asyncio.sleep(5)

        await asyncio.gather(
            every(20 / (4 / 3), webhook), every(2, answer), every(5, admin_read), sample()
        )
        await asyncio.gather(*running)  # the last requests
    drain_deadline = time.monotonic() + 120
    while True:
        async with engine.connect() as conn:
            left = int(
                await conn.scalar(
                    text("SELECT count(*) FROM webhook_inbox WHERE status <> 'handled'")
                )
                or 0
            )
        if left == 0 or time.monotonic() > drain_deadline:
            break
        await asyncio.sleep(2)
    await engine.dispose()

    after_warm_up = [m for m in memory if m[0] >= WARM_UP_S]
    base_web, base_worker = after_warm_up[0][1], after_warm_up[0][2]
    peak_web = max(m[1] for m in after_warm_up)
    peak_worker = max(m[2] for m in after_warm_up)
    print(f"\nsoak: {DURATION_S:.0f} s, warm-up {WARM_UP_S:.0f} s; machine shared with others")
    for kind, values in sorted(latencies.items()):
        print(
            f"  {kind:14} n={len(values):6}  p50 {percentile(values, 0.5) * 1000:7.1f} ms"
            f"  p95 {percentile(values, 0.95) * 1000:7.1f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:7.1f} ms  statuses {dict(statuses[kind])}"
        )
    print(
        f"  memory web {base_web / 2**20:.0f} → peak {peak_web / 2**20:.0f} MiB,"
        f" worker {base_worker / 2**20:.0f} → peak {peak_worker / 2**20:.0f} MiB;"
        f" backlog max {max(backlog)}, after drain {left}"
    )
    for kind in statuses:
        # No 5xx, and no credential refused: every request was a valid one.
        assert all(code < 500 and code != 401 for code in statuses[kind]), (kind, statuses[kind])
    assert peak_web <= base_web * 1.10
    assert peak_worker <= base_worker * 1.10
    assert left == 0
    assert max(backlog) < 20 * 60  # under a minute of webhooks at the offered rate
