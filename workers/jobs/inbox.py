"""The inbox's jobs: drain a shop's inbox, sweep lost wake-ups, prune old rows.

`process_inbox(shop_id)` is woken after a delivery commits (key `inbox:{shop_id}`, at most one
waiting per shop). It runs batches (`plugin.inbox.batches`) for a time slice, then queues itself
again behind other shops' jobs, so one shop's backlog never starves another. A batch records
each row's own failure on the row; a failure of the batch itself (database down) retries the
job with backoff, its rows left pending.
"""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.cron import CronJob

from plugin.failures import describe, is_transient
from plugin.inbox import PROCESS_INBOX, upkeep
from plugin.inbox.batches import drain_shop
from plugin.queue import JobHandler, JobSpec, RetryPolicy, TransientError
from plugin.runtime import Runtime

SWEEP_INBOX = "sweep_inbox"
PRUNE_INBOX = "prune_inbox"


async def process_inbox(ctx: dict[str, Any], shop_id: int) -> int:
    runtime: Runtime = ctx["runtime"]
    try:
        return await drain_shop(runtime, int(shop_id))
    except Exception as exc:
        if is_transient(exc) and not isinstance(exc, TransientError):
            raise TransientError(describe(exc)) from exc
        raise


async def sweep_inbox(ctx: dict[str, Any]) -> int:
    return await upkeep.sweep(ctx["runtime"])


async def prune_inbox(ctx: dict[str, Any]) -> int:
    return await upkeep.prune(ctx["runtime"])


JOBS: dict[str, JobHandler] = {
    PROCESS_INBOX: process_inbox,
    SWEEP_INBOX: sweep_inbox,
    PRUNE_INBOX: prune_inbox,
}
JOB_SPECS: dict[str, JobSpec] = {
    # A batch that failed whole (database blip) retries from 2 s to 2 min; the sweeper takes
    # over after. shop/redact deletes a whole shop in one transaction, hence the long timeout.
    PROCESS_INBOX: JobSpec(
        PROCESS_INBOX,
        retry=RetryPolicy(max_tries=8, base_delay=2.0, max_delay=120.0),
        timeout_s=600.0,
    ),
    SWEEP_INBOX: JobSpec(SWEEP_INBOX, timeout_s=60.0),
    PRUNE_INBOX: JobSpec(PRUNE_INBOX, timeout_s=900.0),
}
# The sweeper every minute; the pruner once a day (03:17 worker time, off the hour).
CRONS: list[CronJob] = [
    cron(sweep_inbox, name=f"cron:{SWEEP_INBOX}", second=0, timeout=60.0),
    cron(
        prune_inbox,
        name=f"cron:{PRUNE_INBOX}",
        hour=3,
        minute=17,
        second=0,
        timeout=JOB_SPECS[PRUNE_INBOX].timeout_s,
    ),
]
