"""Coalescer: concurrent calls share batches; each caller gets its own result or error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from plugin.batching import Coalescer


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def flush(self, _session: object, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_each_caller_gets_its_own_result_or_error() -> None:
    recorder = Recorder()
    batcher: Coalescer[int, int] = Coalescer(recorder.flush, max_batch=100, max_in_flight=1)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    assert results[0::2] == [0, 20, 40]
    assert [str(e) for e in results[1::2]] == ["odd 1", "odd 3", "odd 5"]
    assert recorder.batches == [[0, 1, 2, 3, 4, 5]]  # submitted together: one batch


async def test_batches_grow_while_a_flush_is_in_flight_and_respect_max_batch() -> None:
    recorder = Recorder(delay=0.02)
    batcher: Coalescer[int, int] = Coalescer(recorder.flush, max_batch=3, max_in_flight=1)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.005)  # the first flush is running now
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(2, 16, 2)]
    assert await asyncio.gather(first, *rest) == [i * 10 for i in range(0, 16, 2)]
    assert recorder.batches == [[0], [2, 4, 6], [8, 10, 12], [14]]


async def test_a_failing_flush_fails_its_batch_only() -> None:
    calls = 0

    async def flush(_session: object, items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    batcher: Coalescer[int, int] = Coalescer(flush, max_batch=10, max_in_flight=1)
    with pytest.raises(ConnectionError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    recorder = Recorder(delay=0.05)
    batcher: Coalescer[int, int] = Coalescer(recorder.flush, max_batch=10, max_in_flight=1)
    doomed = asyncio.create_task(batcher.submit(0))
    kept = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.01)
    doomed.cancel()
    assert await kept == 20
    assert doomed.cancelled()
    assert recorder.batches == [[0, 2]]


async def test_a_session_serves_back_to_back_batches_and_is_reopened_after_a_failure() -> None:
    opened: list[int] = []
    closed: list[int] = []

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[int]:
        opened.append(len(opened))
        try:
            yield opened[-1]
        finally:
            closed.append(opened[-1])

    used: list[tuple[int, list[int]]] = []

    async def flush(session: int, items: list[int]) -> list[int]:
        used.append((session, list(items)))
        await asyncio.sleep(0.01)
        if 13 in items:
            raise ConnectionError("connection broke")
        return items

    batcher: Coalescer[int, int] = Coalescer(
        flush, max_batch=2, max_in_flight=1, open_session=session
    )
    results = await asyncio.gather(
        *(batcher.submit(i) for i in (1, 2, 3, 4, 13, 6, 7)), return_exceptions=True
    )
    assert results[:4] == [1, 2, 3, 4] and results[6] == 7
    assert isinstance(results[4], ConnectionError) and isinstance(results[5], ConnectionError)
    # One session for the run of batches up to the failure, a fresh one after it.
    assert used == [(0, [1, 2]), (0, [3, 4]), (0, [13, 6]), (1, [7])]
    assert opened == closed == [0, 1]


async def test_a_session_that_cannot_open_fails_the_waiting_batch_only() -> None:
    attempts = 0

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[None]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("connection refused")
        yield None

    async def flush(_session: None, items: list[int]) -> list[int]:
        return items

    batcher: Coalescer[int, int] = Coalescer(
        flush, max_batch=10, max_in_flight=1, open_session=session
    )
    with pytest.raises(OSError, match="refused"):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2
