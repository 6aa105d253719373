"""The daily billing run of every shop, at the shop's own billing hour.

- `schedule_billing` (cron, hourly) queues `bill_shop` for each installed shop whose local
  time has just reached its billing hour, for that local day (job key per shop and day).
- `bill_shop(shop_id, day)` runs `plugin.billing.run.bill_shop`: charges the cycles due,
  works the dunning cases due. Idempotent by construction (derived idempotency keys), so a
  retry after a crash or a duplicate job charges nothing twice.
Register `CRONS` in the Arq worker's `cron_jobs`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from arq import cron
from arq.cron import CronJob
from sqlalchemy import select

from plugin.billing.run import BillingUnavailable, bill_shop
from plugin.billing.settings import billing_settings
from plugin.failures import describe, is_transient
from plugin.models import Shop
from plugin.models.base import utcnow
from plugin.queue import JobHandler, JobSpec, RetryPolicy, TransientError
from plugin.runtime import Runtime
from plugin.scoring.localtime import shop_zone
from plugin.shopify.errors import ShopifyAuthError

log = logging.getLogger(__name__)

BILL_SHOP = "bill_shop"
SCHEDULE_BILLING = "schedule_billing"


def bill_key(shop_id: int, day: date) -> str:
    return f"{BILL_SHOP}:{shop_id}:{day.isoformat()}"


async def bill_shop_job(ctx: dict[str, Any], shop_id: int, day: str) -> None:
    runtime: Runtime = ctx["runtime"]
    async with runtime.sessionmaker() as session:
        domain = await session.scalar(select(Shop.domain).where(Shop.id == int(shop_id)))
    if domain is None:
        log.info("shop %s no longer exists; nothing to bill", shop_id)
        return
    try:
        result = await bill_shop(runtime, domain, date.fromisoformat(day))
    except (BillingUnavailable, ShopifyAuthError) as exc:
        log.warning("shop %s not billed for %s: %s", shop_id, day, exc)
        return
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(describe(exc)) from exc
        raise
    log.info(
        "shop %s billed for %s: %d charged, %d retried, %d final actions",
        shop_id,
        day,
        result.charged,
        result.retried,
        len(result.final_actions),
    )


async def schedule_billing(ctx: dict[str, Any]) -> int:
    """Queue today's run of each shop whose billing hour it now is; returns how many."""
    runtime: Runtime = ctx["runtime"]
    now = utcnow()
    async with runtime.sessionmaker() as session:
        shops = (
            await session.scalars(
                select(Shop).where(
                    Shop.uninstalled_at.is_(None), Shop.access_token_enc.is_not(None)
                )
            )
        ).all()
    queued = 0
    for shop in shops:
        local = now.astimezone(shop_zone(shop.timezone))
        if local.hour != billing_settings(shop).billing_hour:
            continue
        key = bill_key(shop.id, local.date())
        if await runtime.queue.enqueue(BILL_SHOP, shop.id, local.date().isoformat(), key=key):
            queued += 1
    if queued:
        log.info("queued the billing run of %d shops", queued)
    return queued


JOBS: dict[str, JobHandler] = {BILL_SHOP: bill_shop_job, SCHEDULE_BILLING: schedule_billing}
JOB_SPECS = {
    # Throttling beyond the client's own waits and database blips retry a few times; the
    # next day's run (with its look-back) catches up whatever is still left after that.
    BILL_SHOP: JobSpec(
        BILL_SHOP,
        retry=RetryPolicy(max_tries=4, base_delay=60.0, max_delay=900.0),
        timeout_s=3600.0,
    ),
    SCHEDULE_BILLING: JobSpec(SCHEDULE_BILLING, timeout_s=120.0),
}

# Hourly, off the hour and off the other crons' minutes: every timezone's billing hour.
CRONS: list[CronJob] = [
    cron(
        schedule_billing,
        name=f"cron:{SCHEDULE_BILLING}",
        minute=7,
        second=40,
        timeout=JOB_SPECS[SCHEDULE_BILLING].timeout_s,
    )
]
