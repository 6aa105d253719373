"""Customer data jobs: write changed value data on Shopify customers after each recompute,
and confirm a bulk run once Shopify finished it."""

from __future__ import annotations

import logging
from typing import Any

from plugin.customer_data.sync import (
    FINISH_CUSTOMER_SYNC,
    FINISH_POLL_S,
    SYNC_CUSTOMER_DATA,
    finish_bulk_run,
    sync_customer_data,
)
from plugin.db.transaction import transaction
from plugin.queue import JobHandler, JobSpec, RetryPolicy
from plugin.runtime import Runtime

log = logging.getLogger(__name__)


async def sync_customer_data_job(ctx: dict[str, Any], shop_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        outcome = await sync_customer_data(runtime, tx, int(shop_id))
    log.info(
        "shop %s customer data: %s (%d written, %d refused, %d segment triggers)",
        shop_id,
        outcome.status,
        outcome.written,
        outcome.refused,
        outcome.segment_triggers,
    )
    return outcome.status


async def finish_customer_sync_job(ctx: dict[str, Any], run_id: int) -> str | None:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        status = await finish_bulk_run(runtime, tx, int(run_id))
        if status == "running":  # poll again later (a new job: this one's key is taken)
            tx.enqueue_after_commit(FINISH_CUSTOMER_SYNC, int(run_id), delay_s=FINISH_POLL_S)
    return status


JOBS: dict[str, JobHandler] = {
    SYNC_CUSTOMER_DATA: sync_customer_data_job,
    FINISH_CUSTOMER_SYNC: finish_customer_sync_job,
}
JOB_SPECS = {
    # Throttled past the client's patience, or Shopify down: retry with backoff; the next
    # recompute syncs again anyway.
    SYNC_CUSTOMER_DATA: JobSpec(
        SYNC_CUSTOMER_DATA,
        retry=RetryPolicy(max_tries=5, base_delay=30.0, max_delay=600.0),
        timeout_s=900.0,
    ),
    FINISH_CUSTOMER_SYNC: JobSpec(
        FINISH_CUSTOMER_SYNC,
        retry=RetryPolicy(max_tries=5, base_delay=30.0, max_delay=600.0),
        timeout_s=600.0,
    ),
}
