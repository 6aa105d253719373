"""Debounce: a burst of requests inside transactions queues one recompute per shop and window,
only after commit, deferred by the window; a rolled-back transaction queues nothing."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.db.transaction import transaction
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.scoring.requests import (
    DEFAULT_DEBOUNCE_S,
    RECOMPUTE_SHOP,
    recompute_key,
    request_recompute,
    window_end,
)
from plugin.settings import Settings

T = 1_773_000_015.0  # a fixed instant, 15 s into a 30 s window


def test_windows_split_time_into_debounce_sized_slots() -> None:
    assert DEFAULT_DEBOUNCE_S == Settings.recompute_debounce_seconds == 30
    assert window_end(T, 30) == 1_773_000_030
    assert window_end(T + 14.9, 30) == 1_773_000_030
    assert window_end(T + 15, 30) == 1_773_000_060  # the next window starts on its boundary
    assert recompute_key(7, 1_773_000_030) == "recompute:7:1773000030"


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, _ctx: dict[str, Any], *args: Any) -> None:
        self.calls.append(args)


@pytest.fixture
def spy(runtime: Runtime) -> Spy:
    recorder = Spy()
    assert isinstance(runtime.queue, InProcessQueue)
    runtime.queue.handlers[RECOMPUTE_SHOP] = recorder
    return recorder


async def test_a_burst_queues_one_recompute_per_shop(runtime: Runtime, spy: Spy) -> None:
    for i in range(40):
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            request_recompute(tx, 1, now=T + i * 0.25)  # ten seconds of events
            if i % 4 == 0:
                request_recompute(tx, 2, now=T + i * 0.25)
    assert spy.calls == []  # deferred: nothing runs before the queue drains
    await runtime.queue.drain()  # type: ignore[attr-defined]
    assert sorted(spy.calls) == [(1, 1_773_000_030), (2, 1_773_000_030)]


async def test_requests_in_later_windows_get_their_own_job(runtime: Runtime, spy: Spy) -> None:
    for at in (T, T + 10, T + 20, T + 40):
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            request_recompute(tx, 1, now=at)
    await runtime.queue.drain()  # type: ignore[attr-defined]
    assert spy.calls == [(1, 1_773_000_030), (1, 1_773_000_060)]


async def test_nothing_is_queued_when_the_transaction_rolls_back(
    runtime: Runtime, spy: Spy
) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            request_recompute(tx, 1, now=T)
            raise RuntimeError("the event failed")
    await runtime.queue.drain()  # type: ignore[attr-defined]
    assert spy.calls == []


async def test_the_request_is_deferred_by_the_debounce(runtime: Runtime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        request_recompute(tx, 5, debounce_s=12, now=T)
    (job,) = tx.jobs
    assert (job.name, job.args, job.key, job.delay_s) == (
        RECOMPUTE_SHOP,
        (5, 1_773_000_024),
        "recompute:5:1773000024",
        12.0,
    )
