"""Monthly review digest jobs: the cron of the 1st, one build per shop, the email.

Two workers may both run the cron (or a build): the digest row is unique per shop and month,
so one pack is stored and one email asked for.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from arq import cron
from arq.cron import CronJob

from plugin.db.transaction import transaction
from plugin.models.base import utcnow
from plugin.queue import JobHandler, JobSpec, RetryPolicy, TransientError
from plugin.review.digest import (
    BUILD_MONTHLY_REVIEWS,
    BUILD_REVIEW_DIGEST,
    EMAIL_REVIEW_DIGEST,
    email_digest,
    queue_monthly_reviews,
    store_digest,
)
from plugin.runtime import Runtime

log = logging.getLogger(__name__)


async def build_monthly_reviews(ctx: dict[str, Any]) -> int:
    """Queue one digest build per installed shop for the month that just ended."""
    runtime: Runtime = ctx["runtime"]
    return await queue_monthly_reviews(runtime, utcnow())


async def build_review_digest(ctx: dict[str, Any], shop_id: int, month: str) -> int | None:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        digest = await store_digest(tx.session, int(shop_id), str(month), utcnow())
        if digest is None:
            return None
        tx.enqueue_after_commit(
            EMAIL_REVIEW_DIGEST, digest.id, key=f"{EMAIL_REVIEW_DIGEST}:{digest.id}"
        )
        log.info("shop %s: review digest of %s stored", shop_id, month)
        return digest.id


async def email_review_digest(ctx: dict[str, Any], digest_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    try:
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            return await email_digest(runtime, tx.session, int(digest_id))
    except (OSError, smtplib.SMTPException) as exc:
        # The server is down or refused for now: the digest stays unmailed, retried later.
        raise TransientError(f"review email not sent ({type(exc).__name__})") from exc


JOBS: dict[str, JobHandler] = {
    BUILD_MONTHLY_REVIEWS: build_monthly_reviews,
    BUILD_REVIEW_DIGEST: build_review_digest,
    EMAIL_REVIEW_DIGEST: email_review_digest,
}
JOB_SPECS = {
    BUILD_MONTHLY_REVIEWS: JobSpec(BUILD_MONTHLY_REVIEWS, timeout_s=300.0),
    BUILD_REVIEW_DIGEST: JobSpec(
        BUILD_REVIEW_DIGEST,
        retry=RetryPolicy(max_tries=5, base_delay=30.0, max_delay=600.0),
        timeout_s=300.0,
    ),
    EMAIL_REVIEW_DIGEST: JobSpec(
        EMAIL_REVIEW_DIGEST,
        retry=RetryPolicy(max_tries=6, base_delay=60.0, max_delay=1800.0),
        timeout_s=120.0,
    ),
}
# The 1st of each month, early UTC morning; a shop west of UTC is still on the last day of
# the month then, so it runs again at noon for them (a second run builds nothing twice).
CRONS: list[CronJob] = [
    cron(
        build_monthly_reviews,
        name=f"cron:{BUILD_MONTHLY_REVIEWS}",
        day=1,
        hour={6, 14},
        minute=41,
        second=5,
        timeout=JOB_SPECS[BUILD_MONTHLY_REVIEWS].timeout_s,
    )
]
