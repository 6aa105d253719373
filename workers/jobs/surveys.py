"""Survey upkeep jobs: release due NPS invitations (and announce each to Shopify Flow), expire
unanswered ones, settle cancel-reason answers whose cancellation never came.

Each cron runs in one transaction at the current time; they scan all shops (operational upkeep,
rows touched by primary key) and are idempotent: a second run finds nothing left to do.
Register `CRONS` in the Arq worker's `cron_jobs`.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.cron import CronJob

from plugin.db.transaction import transaction
from plugin.models.base import utcnow
from plugin.queue import JobHandler, JobSpec, RetryPolicy
from plugin.runtime import Runtime
from plugin.surveys.announce import announce_invitation
from plugin.surveys.cancellations import finalise_cancel_answers
from plugin.surveys.invitations import expire_invitations, release_due

log = logging.getLogger(__name__)

RELEASE_NPS_INVITATIONS = "release_nps_invitations"
EXPIRE_NPS_INVITATIONS = "expire_nps_invitations"
FINALISE_CANCEL_ANSWERS = "finalise_cancel_answers"
ANNOUNCE_NPS_INVITATION = "announce_nps_invitation"


def announce_key(invitation_id: int) -> str:
    return f"{ANNOUNCE_NPS_INVITATION}:{invitation_id}"


async def release_nps_invitations(ctx: dict[str, Any]) -> int:
    """Send every invitation whose time has come; each is then announced to Flow."""
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        released = await release_due(tx.session, now=utcnow())
        for invitation in released:
            tx.enqueue_after_commit(
                ANNOUNCE_NPS_INVITATION, invitation.id, key=announce_key(invitation.id)
            )
    if released:
        log.info("released %d NPS invitations", len(released))
    return len(released)


async def expire_nps_invitations(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        expired = await expire_invitations(tx.session, now=utcnow())
    if expired:
        log.info("expired %d unanswered NPS invitations", expired)
    return expired


async def finalise_cancel_reasons(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        settled = await finalise_cancel_answers(tx.session, now=utcnow())
    if settled:
        log.info("settled %d cancel-reason answers without a cancellation", settled)
    return settled


async def announce_nps_invitation(ctx: dict[str, Any], invitation_id: int) -> None:
    """Fire the "NPS survey ready" Flow trigger for one released invitation."""
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        # The transaction holds a refreshed offline token, if the client had to refresh it.
        await announce_invitation(runtime, tx.session, int(invitation_id))


JOBS: dict[str, JobHandler] = {
    RELEASE_NPS_INVITATIONS: release_nps_invitations,
    EXPIRE_NPS_INVITATIONS: expire_nps_invitations,
    FINALISE_CANCEL_ANSWERS: finalise_cancel_reasons,
    ANNOUNCE_NPS_INVITATION: announce_nps_invitation,
}
JOB_SPECS = {
    RELEASE_NPS_INVITATIONS: JobSpec(RELEASE_NPS_INVITATIONS, timeout_s=120.0),
    EXPIRE_NPS_INVITATIONS: JobSpec(EXPIRE_NPS_INVITATIONS, timeout_s=120.0),
    FINALISE_CANCEL_ANSWERS: JobSpec(FINALISE_CANCEL_ANSWERS, timeout_s=120.0),
    # Shopify throttled or down: retry for about ten minutes, then the survey just waits in the
    # portal (the invitation is pending either way).
    ANNOUNCE_NPS_INVITATION: JobSpec(
        ANNOUNCE_NPS_INVITATION,
        retry=RetryPolicy(max_tries=6, base_delay=5.0, max_delay=300.0),
        timeout_s=60.0,
    ),
}

# Arq cron entries (off the minute marks the inbox crons use).
CRONS: list[CronJob] = [
    cron(
        release_nps_invitations,
        name=f"cron:{RELEASE_NPS_INVITATIONS}",
        minute=set(range(0, 60, 5)),
        second=20,
        timeout=JOB_SPECS[RELEASE_NPS_INVITATIONS].timeout_s,
    ),
    cron(
        expire_nps_invitations,
        name=f"cron:{EXPIRE_NPS_INVITATIONS}",
        minute=7,
        second=40,
        timeout=JOB_SPECS[EXPIRE_NPS_INVITATIONS].timeout_s,
    ),
    cron(
        finalise_cancel_reasons,
        name=f"cron:{FINALISE_CANCEL_ANSWERS}",
        minute=37,
        second=40,
        timeout=JOB_SPECS[FINALISE_CANCEL_ANSWERS].timeout_s,
    ),
]
