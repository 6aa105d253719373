"""What a process holds for its lifetime: settings, engine, sessions, queue, HTTP client.

The web app keeps it in Starlette's lifespan state; the Arq worker keeps it in the job ctx.
Handlers and jobs receive it explicitly; nothing is a module-level global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from plugin.db.engine import SessionMaker, make_engine, make_sessionmaker
from plugin.inbox.deliveries import InboxWriter
from plugin.queue import ArqQueue, InProcessQueue, JobHandler, JobSpec, Queue
from plugin.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    queue: Queue
    http: httpx.AsyncClient
    extras: dict[str, Any] = field(default_factory=dict)
    # The inbox's writer for this engine (its shop cache and insert batcher live with it).
    inbox: InboxWriter = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = InboxWriter(self.engine)

    async def close(self) -> None:
        # Extras that hold connections (e.g. the survey rate limiter's Redis) close with us.
        for extra in self.extras.values():
            aclose = getattr(extra, "aclose", None)
            if aclose is not None:
                await aclose()
        await self.queue.close()
        await self.http.aclose()
        await self.engine.dispose()


async def build_runtime(
    settings: Settings,
    *,
    jobs: dict[str, JobHandler] | None = None,
    job_specs: dict[str, JobSpec] | None = None,
    queue: Queue | None = None,
    http: httpx.AsyncClient | None = None,
    queue_name: str | None = None,
) -> Runtime:
    """Build a runtime. Without REDIS_URL, `jobs` run in-process through the same facade."""
    engine = make_engine(settings.database_url)
    ctx: dict[str, Any] = {}
    if queue is None:
        if settings.redis_url:
            queue = ArqQueue(settings.redis_url, queue_name=queue_name)
        else:
            queue = InProcessQueue(jobs or {}, ctx, job_specs)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        queue=queue,
        http=http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)),
    )
    ctx["runtime"] = runtime
    return runtime
