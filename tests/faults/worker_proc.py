"""`valuehealth worker` for the fault tests, with one wait shortened and, on demand, watched.

Arq re-runs the job of a worker that vanished (SIGKILL) only once the job's in-progress key
expires: the longest job timeout plus 10 s, over ten minutes here (shop/redact may run long).
`VH_FAULTS_IN_PROGRESS_S` (default 5) shortens it; 0 keeps Arq's. A job that runs longer than
that may be started a second time by another worker meanwhile, so the scale-out test keeps
Arq's. Everything else is the production worker (registry jobs, crons, retry policy).

For the scale-out test, two more settings of the environment:
- `VH_FAULTS_OBSERVE=<dir>`: every job and cron run, and every recompute (inside the shop's
  lock), is noted with its start and end (wall clock, shared by the processes of one machine)
  as a JSON line in `<dir>/observed-<pid>.jsonl`.
- `VH_FAULTS_CRON_EVERY_S=<n>`: every cron of the registry fires every n seconds instead of on
  its schedule, so a test of a few minutes sees many ticks of each.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.cron import CronJob
from arq.worker import Worker

from plugin.logging_setup import configure_logging
from plugin.scoring import recompute
from plugin.settings import Settings
from workers.registry import JOBS
from workers.worker import worker_settings

Coroutine = Callable[..., Awaitable[Any]]


class Notes:
    """Appends one JSON line per observation to a file of this process's own."""

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / f"observed-{os.getpid()}.jsonl"
        self.pid = os.getpid()

    def note(self, **fields: Any) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"pid": self.pid, **fields}, default=str) + "\n")

    def job(self, kind: str, name: str, coroutine: Coroutine) -> Coroutine:
        async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            started = time.time()
            try:
                return await coroutine(ctx, *args, **kwargs)
            finally:
                self.note(
                    kind=kind,
                    name=name,
                    job_id=ctx.get("job_id"),
                    args=list(args),
                    start=started,
                    end=time.time(),
                )

        return run

    def recomputes(self) -> None:
        """Note each recompute's span: `_recompute` runs while the shop's lock is held."""
        original = recompute._recompute

        async def spanned(runtime: Any, shop: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.time()
            try:
                return await original(runtime, shop, *args, **kwargs)
            finally:
                self.note(kind="recompute", shop=shop.id, start=started, end=time.time())

        recompute._recompute = spanned  # type: ignore[assignment]


def every(seconds: int, job: CronJob) -> CronJob:
    return dataclasses.replace(
        job,
        month=None,
        day=None,
        weekday=None,
        hour=None,
        minute=None,
        second=set(range(0, 60, seconds)),
    )


def build(settings: Settings) -> Worker:
    options: dict[str, Any] = {}
    observe = os.environ.get("VH_FAULTS_OBSERVE")
    notes = Notes(observe) if observe else None
    if notes is not None:
        notes.recomputes()
        options["jobs"] = {name: notes.job("job", name, h) for name, h in JOBS.items()}
    kwargs = worker_settings(settings, **options)
    tick = int(os.environ.get("VH_FAULTS_CRON_EVERY_S") or 0)
    crons: list[CronJob] = kwargs["cron_jobs"]
    if tick:
        crons = [every(tick, c) for c in crons]
    if notes is not None:
        crons = [
            dataclasses.replace(c, coroutine=notes.job("cron", c.name, c.coroutine)) for c in crons
        ]
    kwargs["cron_jobs"] = crons
    worker = Worker(**kwargs)
    in_progress = float(os.environ.get("VH_FAULTS_IN_PROGRESS_S") or 5)
    if in_progress:
        worker.in_progress_timeout_s = in_progress
    return worker


if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    build(settings).run()
