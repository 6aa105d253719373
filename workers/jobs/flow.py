"""Flow trigger jobs: fire one recorded firing; sweep firings a lost job left pending.

Firings are recorded by plugin.flow (in the transaction of the change they report) and queued
after commit. Throttling is waited out by the GraphQL client; when it gives up, TransientError
retries the job with backoff, and after that the sweeper picks the firing up again.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.cron import CronJob

from plugin.db.transaction import transaction
from plugin.flow.outbox import (
    FIRE_FLOW_TRIGGER,
    SWEEP_FLOW_TRIGGERS,
    fire_event,
    fire_key,
    stale_pending,
)
from plugin.models.base import utcnow
from plugin.queue import JobHandler, JobSpec, RetryPolicy
from plugin.runtime import Runtime

log = logging.getLogger(__name__)


async def fire_flow_trigger(ctx: dict[str, Any], event_id: int) -> str | None:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        # One transaction: the sent mark, and a refreshed offline token if one was needed.
        return await fire_event(runtime, tx.session, int(event_id))


async def sweep_flow_triggers(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    async with runtime.sessionmaker() as session:
        ids = await stale_pending(session, utcnow())
    for event_id in ids:
        await runtime.queue.enqueue(FIRE_FLOW_TRIGGER, event_id, key=fire_key(event_id))
    if ids:
        log.info("re-queued %d pending Flow trigger firings", len(ids))
    return len(ids)


JOBS: dict[str, JobHandler] = {
    FIRE_FLOW_TRIGGER: fire_flow_trigger,
    SWEEP_FLOW_TRIGGERS: sweep_flow_triggers,
}
JOB_SPECS = {
    # Throttled or down: retry for about ten minutes; the sweeper takes over after that.
    FIRE_FLOW_TRIGGER: JobSpec(
        FIRE_FLOW_TRIGGER,
        retry=RetryPolicy(max_tries=6, base_delay=5.0, max_delay=300.0),
        timeout_s=60.0,
    ),
    SWEEP_FLOW_TRIGGERS: JobSpec(SWEEP_FLOW_TRIGGERS, timeout_s=120.0),
}
CRONS: list[CronJob] = [
    cron(
        sweep_flow_triggers,
        name=f"cron:{SWEEP_FLOW_TRIGGERS}",
        minute=set(range(2, 60, 5)),
        second=50,
        timeout=JOB_SPECS[SWEEP_FLOW_TRIGGERS].timeout_s,
    )
]
