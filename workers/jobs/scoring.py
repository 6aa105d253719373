"""Scoring jobs: the debounced per-shop recompute and the nightly recompute of every shop.

- `recompute_shop(shop_id, window_end)` is queued by `plugin.scoring.requests` (deferred by
  the debounce window, one job per shop and window). It skips itself when a recompute that
  read the data after its window ended is already stored, and when another process is
  recomputing the shop it asks again for the next window instead of running alongside.
- `recompute_all_shops` (nightly cron) queues one recompute per installed shop: the figures
  move with the calendar (windows, tenure) even on a day without events, and the day's
  snapshot is taken.
Register `CRONS` in the Arq worker's `cron_jobs`.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.cron import CronJob
from sqlalchemy import select

from plugin.customer_data.sync import SYNC_CUSTOMER_DATA
from plugin.failures import describe, is_transient
from plugin.models import Shop
from plugin.queue import JobHandler, JobSpec, RetryPolicy, TransientError
from plugin.runtime import Runtime
from plugin.scoring.recompute import ShopNotFound, recompute_due, recompute_shop_now
from plugin.scoring.requests import RECOMPUTE_ALL_SHOPS, RECOMPUTE_SHOP, enqueue_recompute

log = logging.getLogger(__name__)


async def recompute_shop(ctx: dict[str, Any], shop_id: int, window_end: int | None = None) -> None:
    runtime: Runtime = ctx["runtime"]
    shop_id = int(shop_id)
    window = None if window_end is None else int(window_end)
    try:
        if not await recompute_due(runtime, shop_id, window):
            log.debug("shop %s: already recomputed after window %s", shop_id, window)
            return
        outcome = await recompute_shop_now(runtime, shop_id, wait=False)
    except ShopNotFound:
        log.info("shop %s no longer exists; nothing to recompute", shop_id)
        return
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(describe(exc)) from exc
        raise
    if outcome is not None:
        # New scores: write what changed on the Shopify customers (and fire segment triggers).
        if outcome.reaches_shopify:
            await runtime.queue.enqueue(
                SYNC_CUSTOMER_DATA, shop_id, key=f"{SYNC_CUSTOMER_DATA}:{shop_id}"
            )
        return
    delay = runtime.settings.recompute_debounce_seconds
    await enqueue_recompute(runtime.queue, shop_id, delay_s=delay)
    log.info("shop %s is being recomputed elsewhere; asked again in %ss", shop_id, delay)


async def recompute_all_shops(ctx: dict[str, Any]) -> int:
    """Queue a recompute of every installed shop; returns how many were queued."""
    runtime: Runtime = ctx["runtime"]
    async with runtime.sessionmaker() as session:
        shop_ids = (
            await session.scalars(
                select(Shop.id).where(Shop.uninstalled_at.is_(None)).order_by(Shop.id)
            )
        ).all()
    queued = 0
    for shop_id in shop_ids:
        if await enqueue_recompute(runtime.queue, shop_id, delay_s=None):
            queued += 1
    log.info("nightly recompute queued for %d of %d installed shops", queued, len(shop_ids))
    return queued


JOBS: dict[str, JobHandler] = {
    RECOMPUTE_SHOP: recompute_shop,
    RECOMPUTE_ALL_SHOPS: recompute_all_shops,
}
JOB_SPECS = {
    # A million-subscriber shop takes minutes; a failure worth retrying (database blip) is
    # retried a few times, then the next request or the nightly run catches up.
    RECOMPUTE_SHOP: JobSpec(
        RECOMPUTE_SHOP,
        retry=RetryPolicy(max_tries=3, base_delay=30.0, max_delay=300.0),
        timeout_s=1800.0,
    ),
    RECOMPUTE_ALL_SHOPS: JobSpec(RECOMPUTE_ALL_SHOPS, timeout_s=300.0),
}

# Nightly, off the hour and off the other crons' minutes.
CRONS: list[CronJob] = [
    cron(
        recompute_all_shops,
        name=f"cron:{RECOMPUTE_ALL_SHOPS}",
        hour=4,
        minute=23,
        second=10,
        timeout=JOB_SPECS[RECOMPUTE_ALL_SHOPS].timeout_s,
    )
]
