"""Every job the workers run, by name, with its spec and its schedule: the one registry.

The queue facade enqueues by these names; `workers.worker` builds Arq's functions and crons
from here, and the in-process queue runs the same handlers with the same specs.
"""

from arq.cron import CronJob

from plugin.queue import JobHandler, JobSpec
from workers.jobs import billing, inbox, scoring, surveys, workspace
from workers.jobs import customer_data as customer_data_jobs
from workers.jobs import flow as flow_jobs
from workers.jobs import reviews as review_jobs

JOBS: dict[str, JobHandler] = {
    **inbox.JOBS,
    **surveys.JOBS,
    **scoring.JOBS,
    **billing.JOBS,
    **workspace.JOBS,
    **flow_jobs.JOBS,
    **customer_data_jobs.JOBS,
    **review_jobs.JOBS,
}
JOB_SPECS: dict[str, JobSpec] = {
    **inbox.JOB_SPECS,
    **surveys.JOB_SPECS,
    **scoring.JOB_SPECS,
    **billing.JOB_SPECS,
    **workspace.JOB_SPECS,
    **flow_jobs.JOB_SPECS,
    **customer_data_jobs.JOB_SPECS,
    **review_jobs.JOB_SPECS,
}
# Periodic jobs: the inbox sweeper and pruner, nightly recompute, survey invitations released
# and expired, cancel answers finalised, hourly billing, Flow triggers sent, monthly digests.
CRONS: list[CronJob] = [
    *inbox.CRONS,
    *scoring.CRONS,
    *surveys.CRONS,
    *billing.CRONS,
    *flow_jobs.CRONS,
    *review_jobs.CRONS,
]
