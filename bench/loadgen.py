"""A cheap HTTP/1.1 load generator for loopback benchmarks.

It shares the machine's cores with the server under test, so it does as little as it can: the
requests are pre-built bytes, connections are kept alive, and a response is parsed only as far
as its status and Content-Length. Two modes:
- closed loop: `concurrency` connections each send the next request as soon as the last
  answered (finds the saturation throughput);
- open loop: requests are due at a fixed rate whatever the server does; latency is measured
  from when a request was due, so a stalled server cannot hide its queueing (no coordinated
  omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

# A benchmark must end even if the server dies or hangs: a request unanswered this long fails it.
REQUEST_TIMEOUT_S = 30.0


@dataclass
class LoadResult:
    label: str
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        return (
            f"{self.label}: {self.count} requests in {self.elapsed_s:.2f}s = "
            f"{self.throughput:,.0f} req/s, p50 {self.percentile(0.50) * 1000:.1f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.1f} ms, max {max(self.latencies_s) * 1000:.1f} ms,"
            f" statuses {dict(sorted(self.statuses.items()))}"
        )


def build_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.Transport | None = None
        self._lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        start = head.find(b"content-length:")
        length = 0
        if start >= 0:
            stop = head.find(b"\r\n", start)
            length = int(head[start + 15 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        status = int(head[9:12])
        del self._buffer[:total]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    async def send(self, request: bytes) -> int:
        """The response's status; raises if the connection is gone or the server stalls."""
        if self._lost is not None:
            raise self._lost
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await asyncio.wait_for(self._waiter, REQUEST_TIMEOUT_S)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(host: str, port: int) -> _Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return protocol


async def closed_loop(
    label: str,
    host: str,
    port: int,
    requests: Iterator[bytes],
    *,
    concurrency: int,
    duration_s: float,
) -> LoadResult:
    """Keep `concurrency` requests in flight for `duration_s` or until `requests` runs out."""
    connections = [await _connect(host, port) for _ in range(concurrency)]
    result = LoadResult(label, 0.0)
    clock = time.perf_counter
    started = clock()
    deadline = started + duration_s

    async def drive(connection: _Connection) -> None:
        # The deadline is checked before a request is taken: every request taken is sent.
        while (sent := clock()) < deadline:
            request = next(requests, None)
            if request is None:
                return
            status = await connection.send(request)
            result.latencies_s.append(clock() - sent)
            result.statuses[status] += 1

    try:
        await asyncio.gather(*(drive(c) for c in connections))
    finally:
        result.elapsed_s = clock() - started
        for connection in connections:
            connection.close()
    return result


async def open_loop(
    label: str,
    host: str,
    port: int,
    requests: Iterator[bytes],
    *,
    rate: float,
    duration_s: float,
    connections: int,
) -> LoadResult:
    """Send one request every 1/`rate` s for `duration_s`, over up to `connections` sockets."""
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await _connect(host, port))
    result = LoadResult(label, 0.0)
    clock = time.perf_counter
    started = clock()
    total = int(rate * duration_s)
    in_flight: set[asyncio.Task[None]] = set()

    failures: list[BaseException] = []

    async def one(connection: _Connection, request: bytes, due: float) -> None:
        try:
            status = await connection.send(request)
        except Exception as exc:
            failures.append(exc)  # the connection is not returned: it is broken
            return
        result.latencies_s.append(clock() - due)
        result.statuses[status] += 1
        idle.put_nowait(connection)

    try:
        for i, request in zip(range(total), requests, strict=False):
            due = started + i / rate
            wait = due - clock()
            if wait > 0.001:
                await asyncio.sleep(wait)
            if failures:
                raise failures[0]
            connection = await asyncio.wait_for(idle.get(), REQUEST_TIMEOUT_S)
            task = asyncio.create_task(one(connection, request, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        if failures:
            raise failures[0]
    finally:
        result.elapsed_s = clock() - started
        while not idle.empty():
            idle.get_nowait().close()
    return result
