"""The transaction boundary: one per request or job. Services take the session and never commit.

Jobs requested inside the transaction are enqueued only after it commits, so a worker can never
see an id whose row is not yet visible. If enqueueing fails after commit (Redis down), the row is
still in Postgres and the sweeper re-enqueues it: nothing accepted is lost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.engine import SessionMaker
from plugin.queue import JobArg, Queue, check_args

log = logging.getLogger(__name__)


@dataclass
class PendingJob:
    name: str
    args: tuple[JobArg, ...]
    key: str | None = None
    delay_s: float | None = None


@dataclass
class Tx:
    session: AsyncSession
    jobs: list[PendingJob] = field(default_factory=list)

    def enqueue_after_commit(
        self, name: str, *args: JobArg, key: str | None = None, delay_s: float | None = None
    ) -> None:
        check_args(args)
        self.jobs.append(PendingJob(name, args, key, delay_s))


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker, queue: Queue | None) -> AsyncIterator[Tx]:
    async with sessionmaker() as session:
        tx = Tx(session)
        async with session.begin():
            yield tx
    if queue is None:
        return
    for job in tx.jobs:
        try:
            await queue.enqueue(job.name, *job.args, key=job.key, delay_s=job.delay_s)
        except Exception:
            # Committed already; the sweeper will pick the work up from the database.
            log.warning(
                "enqueue of %s%r failed after commit; left for the sweeper",
                job.name,
                job.args,
                exc_info=True,
            )
