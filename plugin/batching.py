"""Coalesce concurrent calls into batches, so one round trip serves every caller waiting.

Used on the webhook hot path (inbox inserts, queue wake-ups): under load, the cost of a round
trip (a system call each way, the driver's bookkeeping) dominates the work itself, and a batch
pays it once. A lone call is not delayed: it is flushed on the next turn of the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# One result per item, in order: a value, or the exception that item's caller should get.
Flush = Callable[[Any, list[T]], Awaitable[Sequence[R | BaseException]]]


def _no_session() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


class Coalescer(Generic[T, R]):
    """`await submit(item)` returns that item's result from `flush(session, batch)`.

    At most `max_in_flight` flushes run at once, each taking up to `max_batch` waiting items;
    items that arrive meanwhile form the next batch, so batches grow with load. `open_session`
    (e.g. a pooled connection) is entered once for a run of back-to-back batches and left when
    no item waits, or after a batch failed (the resource may be broken).

    A caller that is cancelled does not cancel its batch (the others still need it); its result
    is dropped. If a flush is itself cancelled (shutdown), the callers of its batch are too.
    """

    def __init__(
        self,
        flush: Flush[T, R],
        *,
        max_batch: int,
        max_in_flight: int,
        open_session: Callable[[], AbstractAsyncContextManager[Any]] = _no_session,
    ) -> None:
        self._flush = flush
        self._open_session = open_session
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: deque[tuple[T, asyncio.Future[R]]] = deque()
        # Counted inside `_drain` itself, not by a done-callback: a callback runs a turn later,
        # and an item submitted in between would find no flush coming for it.
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while running

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._in_flight < self._max_in_flight:
            self._in_flight += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                manager = self._open_session()
                try:
                    session = await manager.__aenter__()
                except Exception as exc:
                    # No session (say, the database is down): the next batch gets the error.
                    batch = self._take()
                    self._settle(batch, [exc] * len(batch))
                    continue
                try:
                    while self._waiting and await self._flush_one(session):
                        pass
                finally:
                    with contextlib.suppress(Exception):
                        # Its batches are settled already; a failing release changes nothing.
                        await manager.__aexit__(None, None, None)
        finally:
            self._in_flight -= 1

    async def _flush_one(self, session: Any) -> bool:
        """Flush the next batch; False when it failed as a whole."""
        batch = self._take()
        try:
            results = await self._flush(session, [item for item, _ in batch])
        except Exception as exc:
            self._settle(batch, [exc] * len(batch))
            return False
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        self._settle(batch, results)
        return True

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        size = min(len(self._waiting), self._max_batch)
        return [self._waiting.popleft() for _ in range(size)]

    @staticmethod
    def _settle(
        batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R | BaseException]
    ) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
