"""Jobs the workspace starts: the import of a shop's existing subscriptions (onboarding)."""

from __future__ import annotations

from typing import Any

from plugin.onboarding import BACKFILL_JOB, run_backfill
from plugin.queue import JobSpec, RetryPolicy
from plugin.runtime import Runtime


async def backfill_shop_job(ctx: dict[str, Any], run_id: int) -> None:
    runtime: Runtime = ctx["runtime"]
    await run_backfill(runtime, int(run_id))


JOBS = {BACKFILL_JOB: backfill_shop_job}
JOB_SPECS = {
    # The run records its own failure for the merchant to retry: no automatic retries, and a
    # long timeout (Shopify's bulk operation on a large shop takes minutes).
    BACKFILL_JOB: JobSpec(BACKFILL_JOB, retry=RetryPolicy(max_tries=1), timeout_s=3600.0),
}
