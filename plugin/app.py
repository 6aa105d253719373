"""create_app(): routes, middleware and lifespan. The one place the web tier is assembled."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from admin_ui.openapi import OPERATIONS as ADMIN_OPERATIONS
from admin_ui.page import demo_routes
from admin_ui.routes import ROUTES as ADMIN_ROUTES
from plugin.access_log import AccessLogMiddleware
from plugin.health import ROUTES as HEALTH_ROUTES
from plugin.logging_setup import configure_logging
from plugin.metrics_route import ROUTES as METRICS_ROUTES
from plugin.middleware import SecurityHeadersMiddleware
from plugin.openapi import build_document
from plugin.portal.common import error_body
from plugin.portal.openapi import OPERATIONS as PORTAL_OPERATIONS
from plugin.portal.routes import ROUTES as PORTAL_ROUTES
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime, build_runtime
from plugin.settings import Settings
from webhooks.routes import ROUTES as WEBHOOK_ROUTES
from workers.registry import JOB_SPECS, JOBS

log = logging.getLogger(__name__)


OPENAPI_DOCUMENT = build_document([*ADMIN_OPERATIONS, *PORTAL_OPERATIONS], version="0.1.0")


async def not_found(request: Request, _exc: Exception) -> Response:
    """No route: a JSON error under /api/ (as the APIs' own 404s), plain text elsewhere."""
    if request.url.path.startswith("/api/"):
        return JSONResponse(error_body("not_found", "no such route"), status_code=404)
    return PlainTextResponse("Not Found", status_code=404)


async def openapi_json(_request: Request) -> JSONResponse:
    """The description of the JSON APIs (plugin.openapi); public, like the routes' existence."""
    return JSONResponse(OPENAPI_DOCUMENT)


def all_routes() -> list[BaseRoute]:
    return [
        *HEALTH_ROUTES,
        *METRICS_ROUTES,
        Route("/api/openapi.json", openapi_json, methods=["GET"]),
        *WEBHOOK_ROUTES,
        *ADMIN_ROUTES,
        *PORTAL_ROUTES,
    ]


async def build_app_runtime(settings: Settings, **kwargs: Any) -> Runtime:
    """A runtime whose in-process queue (no REDIS_URL) runs the workers' jobs."""
    return await build_runtime(settings, jobs=JOBS, job_specs=JOB_SPECS, **kwargs)


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    demo_shop: str | None = None,
) -> Starlette:
    """Build the ASGI app. Pass `runtime` to share one with a test or the demo (not closed here).

    `demo_shop` (only `valuehealth demo` passes it) adds `/demo`, the admin page for that shop
    outside Shopify, with a local stand-in for App Bridge's session tokens. Never in `serve`.
    """
    routes = all_routes() + (demo_routes(demo_shop) if demo_shop else [])

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        owned = runtime is None
        rt = runtime or await build_app_runtime(settings or Settings.from_env())
        configure_logging(rt.settings.log_level)
        if owned:
            # A server process: keep everything loaded so far (numpy, scipy, SQLAlchemy...) out
            # of the garbage collector's full passes, which otherwise stall requests ~150 ms.
            gc.freeze()
        if isinstance(rt.queue, InProcessQueue):
            rt.queue.start()
        try:
            yield {"runtime": rt}
        finally:
            if owned:
                await rt.close()

    return Starlette(
        routes=routes,
        middleware=[Middleware(AccessLogMiddleware), Middleware(SecurityHeadersMiddleware)],
        lifespan=lifespan,
        exception_handlers={404: not_found},
    )
