"""Periodic upkeep of the webhook inbox: the sweeper and the pruner.

Redis is only a wake-up; PostgreSQL is the durable log. A message can be lost (Redis restarted
without persistence, enqueue failed after commit, a job expired after a long outage), so the
sweeper re-enqueues every row still pending after `sweeper_after_seconds`. It uses the row's
job key, so a row whose job is still queued or running is not queued twice.

Both jobs scan the inbox across shops: they are operational upkeep of one table, not a read of
any shop's data, and they touch rows only by primary key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from plugin.inbox import event_job_key
from plugin.models import InboxStatus, WebhookInbox
from plugin.models.base import utcnow
from plugin.queue import JobSpec
from plugin.runtime import Runtime
from plugin.topics import PROCESS_EVENT

log = logging.getLogger(__name__)

SWEEP_INBOX = "sweep_inbox"
PRUNE_INBOX = "prune_inbox"

# Per run, so one sweep stays short even after a long outage; the next minute takes the rest.
SWEEP_BATCH = 1000
# Per DELETE statement, so pruning never holds long locks on the inbox.
PRUNE_BATCH = 5000

CRON_SPECS = {
    SWEEP_INBOX: JobSpec(SWEEP_INBOX, timeout_s=60.0),
    PRUNE_INBOX: JobSpec(PRUNE_INBOX, timeout_s=900.0),
}


async def sweep_inbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue pending rows older than the grace period, oldest first; returns how many were
    queued anew (rows whose job is still in the queue are left alone)."""
    runtime: Runtime = ctx["runtime"]
    cutoff = utcnow() - timedelta(seconds=runtime.settings.sweeper_after_seconds)
    inbox = WebhookInbox.__table__
    async with runtime.sessionmaker() as session:
        ids = (
            await session.scalars(
                select(inbox.c.id)
                .where(inbox.c.status == InboxStatus.PENDING, inbox.c.received_at < cutoff)
                .order_by(inbox.c.received_at, inbox.c.id)
                .limit(SWEEP_BATCH)
            )
        ).all()
    queued = 0
    for inbox_id in ids:
        if await runtime.queue.enqueue(PROCESS_EVENT, inbox_id, key=event_job_key(inbox_id)):
            queued += 1
    if queued:
        log.warning(
            "sweeper re-enqueued %d of %d pending inbox rows older than %ds",
            queued,
            len(ids),
            runtime.settings.sweeper_after_seconds,
        )
    return queued


async def prune_inbox(ctx: dict[str, Any]) -> int:
    """Delete handled and ignored rows received before the retention period; returns how many.

    Failed and pending rows are kept whatever their age: they are work not yet done.
    """
    runtime: Runtime = ctx["runtime"]
    cutoff = utcnow() - timedelta(days=runtime.settings.inbox_retention_days)
    inbox = WebhookInbox.__table__
    # Oldest ids first: old rows sit at the start of the primary key, so each batch is found
    # by a short index walk rather than a scan of the whole table.
    batch = (
        select(inbox.c.id)
        .where(
            inbox.c.status.in_([InboxStatus.HANDLED, InboxStatus.IGNORED]),
            inbox.c.received_at < cutoff,
        )
        .order_by(inbox.c.id)
        .limit(PRUNE_BATCH)
    )
    removed = 0
    while True:
        async with runtime.sessionmaker() as session, session.begin():
            result = await session.execute(delete(inbox).where(inbox.c.id.in_(batch)))
        count = int(getattr(result, "rowcount", 0) or 0)
        removed += count
        if count < PRUNE_BATCH:
            break
    if removed:
        log.info(
            "pruned %d inbox rows older than %d days",
            removed,
            runtime.settings.inbox_retention_days,
        )
    return removed


JOBS = {SWEEP_INBOX: sweep_inbox, PRUNE_INBOX: prune_inbox}
