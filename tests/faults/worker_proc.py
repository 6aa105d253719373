"""`valuehealth worker` for the fault tests, with one wait shortened.

Arq re-runs the job of a worker that vanished (SIGKILL) only once the job's in-progress key
expires: the longest job timeout plus 10 s, over ten minutes here (shop/redact may run long).
Everything else is the production worker (registry jobs, crons, retry policy)."""

from __future__ import annotations

from plugin.logging_setup import configure_logging
from plugin.settings import Settings
from workers.worker import build_worker

if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    worker = build_worker(settings)
    worker.in_progress_timeout_s = 5.0
    worker.run()
