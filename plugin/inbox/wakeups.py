"""Waking the worker for a shop's inbox: the one job name, the one job key.

A wake-up names a shop, not a row: the job claims that shop's pending rows in batches. The
queue keeps at most one *queued* wake-up per shop (its key is released when the job starts),
so a delivery stored while the shop's job runs queues the next one, and no wake-up is lost
between the job's last claim and its end. Redis is only a wake-up: when it is down, the
sweeper (`plugin.inbox.upkeep`) finds the pending rows.
"""

from __future__ import annotations

import logging

from plugin.db.transaction import Tx
from plugin.queue import Queue

log = logging.getLogger(__name__)

# The job that drains one shop's inbox (registered in workers/registry.py).
PROCESS_INBOX = "process_inbox"


def inbox_job_key(shop_id: int, *, retry: bool = False) -> str:
    """The queue key of a shop's inbox job; a delayed retry has a key of its own so that it
    never swallows (or is swallowed by) an immediate wake-up."""
    return f"inbox:{shop_id}:retry" if retry else f"inbox:{shop_id}"


async def wake(queue: Queue, shop_id: int, *, delay_s: float | None = None) -> bool:
    """Queue the shop's inbox job unless one is already waiting. A failure (Redis down) is
    logged, not raised: the rows are durable and the sweeper wakes the shop later."""
    key = inbox_job_key(shop_id, retry=delay_s is not None)
    try:
        return await queue.enqueue(PROCESS_INBOX, shop_id, key=key, delay_s=delay_s)
    except Exception:
        log.warning("wake-up of shop %s failed; left for the sweeper", shop_id, exc_info=True)
        return False


def wake_after_commit(tx: Tx, shop_id: int) -> None:
    """Ask for the shop's inbox job once the transaction that stored its rows commits."""
    tx.enqueue_after_commit(PROCESS_INBOX, shop_id, key=inbox_job_key(shop_id))
