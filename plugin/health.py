"""GET /healthz (process up) and GET /readyz (database, Redis, webhook backlog).

/readyz answers 200 when the database and the queue answer, 503 otherwise, with each check in
the JSON body. The backlog (pending inbox rows, age of the oldest) is reported but does not make
the web tier unready: taking it out of rotation would refuse webhooks and make a backlog worse.
It is marked `stale` once the oldest row is older than twice the sweeper's grace period, which
means the workers are not keeping up or not running; alert on that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import func, select, text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from plugin.models import InboxStatus, WebhookInbox
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime

log = logging.getLogger(__name__)

# A probe must answer fast even when a dependency hangs.
CHECK_TIMEOUT_S = 2.0


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.state.runtime
    database, queue, backlog = await asyncio.gather(
        _check("database", _ping_database(runtime)),
        _check("redis", _ping_queue(runtime)),
        _check("backlog", inbox_backlog(runtime)),
    )
    ready = database["status"] == "ok" and queue["status"] in {"ok", "not configured"}
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {"database": database, "redis": queue, "backlog": backlog},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def _check(name: str, probe: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"status": "error", "error": f"no answer within {CHECK_TIMEOUT_S:g}s"}
    except Exception as exc:
        log.warning("readiness check %s failed", name, exc_info=True)
        # The exception type only: messages can carry connection strings.
        return {"status": "error", "error": type(exc).__name__}


async def _ping_database(runtime: Runtime) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return {"status": "ok"}


async def _ping_queue(runtime: Runtime) -> dict[str, Any]:
    if isinstance(runtime.queue, InProcessQueue):
        return {"status": "not configured", "detail": "REDIS_URL unset: jobs run in-process"}
    if not await runtime.queue.ping():
        return {"status": "error", "error": "ping refused"}
    return {"status": "ok"}


async def inbox_backlog(runtime: Runtime) -> dict[str, Any]:
    # Across shops on purpose: this is the health of one table, served by its partial index.
    inbox = WebhookInbox.__table__
    query = select(func.count(), func.min(inbox.c.received_at)).where(
        inbox.c.status == InboxStatus.PENDING
    )
    async with runtime.sessionmaker() as session:
        pending, oldest = (await session.execute(query)).one()
    age = 0.0 if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
    return {
        "status": "stale" if age > 2 * runtime.settings.sweeper_after_seconds else "ok",
        "pending": int(pending),
        "oldest_pending_age_s": round(age, 1),
    }


ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
