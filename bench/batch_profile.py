"""Where a batch's time goes: `python -m bench.batch_profile [subscribers] [--cprofile FILE]`.

The worker bench's deliveries (`bench.worker`: the demo's simulated shop, 1 % duplicates,
shuffled) stored in a fresh database, then drained in this process by `drain_shop` slice after
slice as the worker's job runs it (no queue, no worker process), then the rows left for a retry
processed again until none is left. Prints CPU ms and SQL statements per event, by kind, then
per topic of the row being applied (`_TopicMeter`), then the wall time spent waiting on each
shape of statement; with `--cprofile`, a cProfile dump of the drain. Run it on the code before
and after a change in the same minutes: the figures move with the machine's load, the ratio
much less.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from bench.support import temporary_database
from bench.worker import (
    SECRET,
    SHOP,
    _delivery,
    _NoJobs,
    settings_for,
    shuffled_with_duplicates,
    sign,
    simulated,
)
from plugin.inbox import batches
from plugin.inbox.batches import drain_shop, process_rows
from plugin.runtime import build_runtime
from plugin.settings import Settings


class _TopicMeter:
    """Statements and CPU per topic of the row being applied: `apply_event` as the batch calls
    it, timed, with the statements it runs counted under its row's topic.

    The row's writes are flushed inside the measurement (the batch flushes right after each
    row anyway, so no statement is added): they count for the row that made them. Everything
    else (claims, savepoints, marks) counts as `(batch)`.
    """

    BATCH = "(batch)"

    def __init__(self) -> None:
        self.topic = self.BATCH
        self.rows: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.cpu: dict[str, float] = defaultdict(float)

    def count_statement(self, *_: Any) -> None:
        self.statements[self.topic] += 1

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """`batches.apply_event` wrapped for the duration."""
        apply_event = batches.apply_event

        async def measured(tx: Any, runtime: Any, shop: Any, row: Any) -> str:
            self.topic, started = row.topic, time.process_time()
            try:
                status = await apply_event(tx, runtime, shop, row)
                await tx.session.flush()
                return status
            finally:
                self.rows[row.topic] += 1
                self.cpu[row.topic] += time.process_time() - started
                self.topic = self.BATCH

        batches.apply_event = measured  # type: ignore[assignment]
        try:
            yield
        finally:
            batches.apply_event = apply_event

    def report(self, rows: int) -> str:
        """One line per topic, most statements first; the batch's own share per row last."""
        lines = [f"{'topic':<42} {'rows':>6} {'stmts/row':>10} {'CPU ms/row':>11}"]
        for topic, applied in sorted(self.rows.items(), key=lambda item: -self.statements[item[0]]):
            lines.append(
                f"{topic:<42} {applied:>6} {self.statements[topic] / applied:>10.2f} "
                f"{self.cpu[topic] / applied * 1000:>11.2f}"
            )
        lines.append(
            f"{self.BATCH + ' per row':<42} {rows:>6} {self.statements[self.BATCH] / rows:>10.2f}"
        )
        return "\n".join(lines)


class _StatementTimes:
    """Wall time from sending each statement to its result, by statement shape (its first
    words): where the batch waits on the database."""

    SHOWN = 12

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.count: Counter[str] = Counter()

    def started(self, conn: Any, *_: Any) -> None:
        conn.info["vh_statement_started"] = time.perf_counter()

    def finished(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        shape = " ".join(statement.split()[:12])
        self.seconds[shape] += time.perf_counter() - conn.info.pop("vh_statement_started")
        self.count[shape] += 1

    def report(self, wall: float) -> str:
        total = sum(self.seconds.values())
        lines = [f"waiting on statements: {total:.1f} s of {wall:.1f} s; the longest shapes:"]
        for shape, seconds in self.seconds.most_common(self.SHOWN):
            lines.append(f"{seconds:7.2f} s {self.count[shape]:6} × {shape[:110]}")
        return "\n".join(lines)


async def drain(url: str, sent: list[Any], profile_to: str | None) -> None:
    runtime = await build_runtime(Settings.from_env(settings_for(url)), queue=_NoJobs())
    try:
        for item in sent:
            await runtime.inbox.store(_delivery(sign(item, SHOP, SECRET)))
        async with runtime.engine.connect() as conn:
            shop_id = (await conn.execute(text("SELECT id FROM shops"))).scalar_one()
        statements: Counter[str] = Counter()

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements[statement.split(None, 1)[0].upper()] += 1

        meter = _TopicMeter()
        shapes = _StatementTimes()
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", shapes.started)
        event.listen(runtime.engine.sync_engine, "after_cursor_execute", shapes.finished)
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", meter.count_statement)
        profiler = cProfile.Profile() if profile_to else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        rows = 0
        with meter.measuring():
            while claimed := await drain_shop(runtime, shop_id):
                rows += claimed
            for _ in range(5):  # the rows a batch left for a retry (an event before its contract)
                async with runtime.engine.connect() as conn:
                    left = list(
                        (
                            await conn.execute(
                                text("SELECT id FROM webhook_inbox WHERE status = 'pending'")
                            )
                        ).scalars()
                    )
                if not left:
                    break
                rows += (await process_rows(runtime, left)).claimed
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_to or "")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        per_event = {kind: round(n / rows, 2) for kind, n in statements.most_common()}
        print(
            f"{rows:,} rows applied in {wall:.1f} s ({rows / wall:,.0f} rows/s), "
            f"{cpu / rows * 1000:.2f} ms CPU per row; statements per row "
            f"{sum(statements.values()) / rows:.2f} {per_event}; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        print(meter.report(rows), flush=True)
        print(shapes.report(wall), flush=True)
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_profile")
    parser.add_argument("subscribers", type=int, nargs="?", default=150)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cprofile", help="write a cProfile dump of the drain here")
    args = parser.parse_args()
    events = simulated(args.subscribers, SHOP, args.seed)
    sent = shuffled_with_duplicates(
        events, duplicates=0.01, window=500, rng=random.Random(args.seed)
    )
    print(f"deliveries: {len(sent):,}", flush=True)
    with temporary_database("vh_bench_batch") as url:
        asyncio.run(drain(url, sent, args.cprofile))


if __name__ == "__main__":
    main()
