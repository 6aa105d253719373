"""Periodic upkeep of the inbox: the sweeper and the pruner.

Redis is only a wake-up; PostgreSQL is the durable log. A wake-up can be lost (Redis restarted
without persistence, enqueue failed after commit, a job expired after a long outage), so the
sweeper wakes every shop that still has a due pending row received before
`sweeper_after_seconds`. The wake-up's key keeps a shop whose job is already queued from being
queued twice.

Both scan the inbox across shops: they are operational upkeep of one table, not a read of any
shop's data; the pruner deletes rows by primary key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, delete, func, or_, select

from plugin.inbox.wakeups import wake
from plugin.models import InboxStatus, WebhookInbox
from plugin.models.base import utcnow
from plugin.runtime import Runtime

log = logging.getLogger(__name__)

# Shops woken per run, so one sweep stays short after a long outage; the next minute takes more.
SWEEP_BATCH = 1000
# Per DELETE statement, so pruning never holds long locks on the inbox.
PRUNE_BATCH = 5000

_INBOX = cast(Table, WebhookInbox.__table__)


async def sweep(runtime: Runtime) -> int:
    """Wake the shops with due pending rows older than the grace period, the longest waiting
    first; returns how many wake-ups were queued anew."""
    now = utcnow()
    cutoff = now - timedelta(seconds=runtime.settings.sweeper_after_seconds)
    oldest = func.min(_INBOX.c.received_at)
    query = (
        select(_INBOX.c.shop_id)
        .where(
            _INBOX.c.status == InboxStatus.PENDING,
            _INBOX.c.received_at < cutoff,
            or_(_INBOX.c.retry_at.is_(None), _INBOX.c.retry_at <= now),
        )
        .group_by(_INBOX.c.shop_id)
        .order_by(oldest, _INBOX.c.shop_id)
        .limit(SWEEP_BATCH)
    )
    async with runtime.sessionmaker() as session:
        shop_ids = (await session.scalars(query)).all()
    queued = 0
    for shop_id in shop_ids:
        if await wake(runtime.queue, int(shop_id)):
            queued += 1
    if queued:
        log.warning(
            "sweeper woke %d of %d shops with pending inbox rows older than %ds",
            queued,
            len(shop_ids),
            runtime.settings.sweeper_after_seconds,
        )
    return queued


async def prune(runtime: Runtime) -> int:
    """Delete handled and ignored rows received before the retention period; returns how many.

    Failed and pending rows are kept whatever their age: they are work not yet done.
    """
    cutoff = utcnow() - timedelta(days=runtime.settings.inbox_retention_days)
    # Oldest ids first: old rows sit at the start of the primary key, so each batch is found
    # by a short index walk rather than a scan of the whole table.
    batch = (
        select(_INBOX.c.id)
        .where(
            _INBOX.c.status.in_([InboxStatus.HANDLED, InboxStatus.IGNORED]),
            _INBOX.c.received_at < cutoff,
        )
        .order_by(_INBOX.c.id)
        .limit(PRUNE_BATCH)
    )
    removed = 0
    while True:
        async with runtime.sessionmaker() as session, session.begin():
            result = await session.execute(delete(_INBOX).where(_INBOX.c.id.in_(batch)))
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
