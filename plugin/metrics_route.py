"""`GET /metrics`: this web process's metrics and the inbox backlog, for Prometheus.

Protected: it answers only `Authorization: Bearer $METRICS_TOKEN` (compared in constant time),
and is a 404 when the setting is unset, so an app without it exposes nothing. The backlog is
read from the database at scrape time (one indexed query, as /readyz does); when the database
does not answer, the backlog gauges are left out and `valuehealth_database_up` is 0.
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.health import CHECK_TIMEOUT_S, inbox_backlog
from plugin.metrics import REGISTRY
from plugin.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _authorized(request: Request, expected: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    expected = runtime.settings.metrics_token.get()
    if not expected:
        return PlainTextResponse("Not Found", status_code=404)
    if not _authorized(request, expected):
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    gauges: list[tuple[str, str, float]] = []
    try:
        backlog = await asyncio.wait_for(inbox_backlog(runtime), CHECK_TIMEOUT_S)
    except Exception:
        gauges.append(("valuehealth_database_up", "1 when the database answered.", 0))
    else:
        gauges += [
            ("valuehealth_database_up", "1 when the database answered.", 1),
            (
                "valuehealth_inbox_backlog_rows",
                "Webhook inbox rows not yet handled (all shops).",
                backlog["pending"],
            ),
            (
                "valuehealth_inbox_backlog_oldest_age_seconds",
                "Age of the oldest inbox row not yet handled; 0 when none.",
                backlog["oldest_pending_age_s"],
            ),
        ]
    body = REGISTRY.render(gauges)
    return Response(body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


ROUTES: list[BaseRoute] = [Route("/metrics", metrics, methods=["GET"])]
