"""Every job the workers run, by name (the queue facade enqueues by these names)."""

from plugin.queue import JobHandler, JobSpec

JOBS: dict[str, JobHandler] = {}
JOB_SPECS: dict[str, JobSpec] = {}
