"""Every job the workers run, by name (the queue facade enqueues by these names)."""

from arq.cron import CronJob

from plugin.queue import JobHandler, JobSpec, RetryPolicy
from plugin.topics import PROCESS_EVENT
from workers import cron
from workers.jobs import scoring, surveys, workspace
from workers.jobs.events import process_event

JOBS: dict[str, JobHandler] = {
    **cron.JOBS,
    PROCESS_EVENT: process_event,
    **surveys.JOBS,
    **scoring.JOBS,
    **workspace.JOBS,
}
JOB_SPECS: dict[str, JobSpec] = {
    **cron.CRON_SPECS,
    # Transient failures (database blip, Shopify throttled, contract not arrived yet) retry
    # with backoff from 2 s to 2 min, about 6 minutes in all; the sweeper takes over after.
    # shop/redact deletes a whole shop in one transaction, hence the long timeout.
    PROCESS_EVENT: JobSpec(
        PROCESS_EVENT,
        retry=RetryPolicy(max_tries=8, base_delay=2.0, max_delay=120.0),
        timeout_s=600.0,
    ),
    **surveys.JOB_SPECS,
    **scoring.JOB_SPECS,
    **workspace.JOB_SPECS,
}
# Periodic jobs of the areas (the inbox upkeep crons are scheduled by workers.worker itself).
CRONS: list[CronJob] = [*scoring.CRONS, *surveys.CRONS]
