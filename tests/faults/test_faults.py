"""Faults with real processes, under a steady stream of signed webhooks (duplicates, shuffled
order, retries of anything not answered 200, as Shopify does):

- Redis killed for 30 s, then started again (empty: its queue is gone);
- the worker SIGKILLed in the middle of its work, restarted 5 s later;
- the database stopped for 20 s, then started again.

After each, once the inbox is drained: every delivery answered 200 was applied exactly once in
effect (one inbox row, handled; one contract; no status event twice), none is missing, and the
web tier answered 503 (never 500, never a 200 for what it could not store) meanwhile. The
counts are printed. Our own redis-server and PostgreSQL cluster, on free ports.

Minutes long: marked `faults`; `.ci/run` runs them (`make test` runs the whole suite).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import Stack
from tests.faults.harness import Outcome, deliveries, drained, stream

pytestmark = pytest.mark.faults

CONTRACTS = 300  # 600 deliveries, ~800 requests with duplicates, at 20 a second
RATE = 20.0


async def run_with_fault(
    s: Stack,
    name: str,
    fault: Callable[[], None],
    heal: Callable[[], None],
    *,
    fault_at: float,
    heal_at: float,
    seed: int,
) -> Outcome:
    items = deliveries(CONTRACTS, seed=seed)
    started = time.monotonic()
    sending = asyncio.create_task(
        stream(s.url, items, rate=RATE, seed=seed, retry_until=started + 150)
    )
    await asyncio.sleep(fault_at)
    await asyncio.to_thread(fault)
    await asyncio.sleep(heal_at - fault_at)
    await asyncio.to_thread(heal)
    await sending
    outcome = await drained(s.database_url, items, within_s=150)
    print(
        f"\n{name}: {len(items)} deliveries, {sum(outcome.answers.values())} requests,"
        f" answers {dict(sorted(outcome.answers.items()))};"
        f" accepted {outcome.accepted}, inbox rows {outcome.inbox_rows},"
        f" handled {outcome.handled}, contracts {outcome.contracts},"
        f" duplicated status events {outcome.duplicate_history}, missing {outcome.missing};"
        f" worker restarts by the supervisor {s.worker.restarts};"
        f" {time.monotonic() - started:.0f} s"
    )
    return outcome


def check(outcome: Outcome, *, expect_503: bool) -> None:
    assert outcome.missing == 0
    assert outcome.accepted == CONTRACTS * 2  # every delivery got its 200 in the end
    assert outcome.inbox_rows == outcome.accepted == outcome.handled
    assert outcome.contracts == CONTRACTS
    assert outcome.duplicate_history == 0
    assert set(outcome.answers) <= {200, 503, 0}, outcome.answers  # never a 500 or 4xx
    if expect_503:
        assert outcome.answers[503] > 0


async def test_redis_down_for_30_seconds(stack: Stack) -> None:
    outcome = await run_with_fault(
        stack,
        "redis down 30 s",
        stack.redis.stop,
        stack.redis.start,
        fault_at=5,
        heal_at=35,
        seed=1,
    )
    # Redis is only the wake-up: the web tier stored every delivery and answered 200.
    check(outcome, expect_503=False)


async def test_worker_killed_mid_batch_and_restarted(stack: Stack) -> None:
    outcome = await run_with_fault(
        stack,
        "worker SIGKILLed",
        stack.worker.kill,
        stack.worker.start,
        fault_at=8,
        heal_at=13,
        seed=2,
    )
    check(outcome, expect_503=False)


async def test_database_unreachable_then_back(stack: Stack) -> None:
    outcome = await run_with_fault(
        stack,
        "database down 20 s",
        stack.cluster.stop,
        stack.cluster.start,
        fault_at=5,
        heal_at=25,
        seed=3,
    )
    check(outcome, expect_503=True)
