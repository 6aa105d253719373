"""The worker's Prometheus endpoint: `GET /metrics` on 127.0.0.1:`METRICS_PORT`.

A worker has no HTTP server of its own, and the figures it keeps (jobs run and failed, their
latency, recompute durations) live in its process. It binds loopback only, so only the machine
(a Prometheus agent or sidecar next to it) can scrape it; there is nothing to authenticate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from plugin.metrics import REGISTRY

log = logging.getLogger(__name__)

_MAX_REQUEST_HEAD = 8192


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        request_line = head[:_MAX_REQUEST_HEAD].split(b"\r\n", 1)[0].split()
        if len(request_line) >= 2 and request_line[0] == b"GET" and request_line[1] == b"/metrics":
            body = REGISTRY.render().encode()
            status, media = b"200 OK", b"text/plain; version=0.0.4; charset=utf-8"
        else:
            body, status, media = b"Not Found\n", b"404 Not Found", b"text/plain"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: "
            + media
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def start_metrics_server(port: int) -> asyncio.Server:
    server = await asyncio.start_server(_answer, "127.0.0.1", port, limit=_MAX_REQUEST_HEAD)
    log.info("worker metrics on http://127.0.0.1:%d/metrics", port)
    return server
