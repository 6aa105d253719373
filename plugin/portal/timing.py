"""`Server-Timing: app;dur=<ms>` on portal responses: the time the app spent on the request,
from the first byte of the request reaching the route to the response headers. Browsers show it
in their developer tools; the portal benchmark reads it to report server time apart from the
load generator's own time on the same cores. It says nothing about the request's data."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                header = f"app;dur={elapsed_ms:.2f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", header)]
            await send(message)

        await self.app(scope, receive, send_timed)
