"""`python -m workers [--burst] [--no-crons] [--queue NAME] [--check]`: the worker without the
CLI.

`--check` is the liveness probe: exit 0 when a worker on the queue reported within its health
check interval, 1 otherwise (e.g. `exec: python -m workers --check` in a container probe).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from plugin.settings import Settings
from workers.worker import run_worker, worker_alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument(
        "--burst", action="store_true", help="stop once the queue is empty (no crons)"
    )
    parser.add_argument(
        "--no-crons",
        action="store_true",
        help="run queued jobs only; leave the periodic jobs to the other workers",
    )
    parser.add_argument("--queue", default=None, help="queue name (default arq:queue)")
    parser.add_argument("--check", action="store_true", help="liveness probe; exit 0 or 1")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.check:
        summary = asyncio.run(worker_alive(settings, queue_name=args.queue))
        print(summary or "no worker has reported recently")
        return 0 if summary else 1
    run_worker(settings, burst=args.burst, crons=not args.no_crons, queue_name=args.queue)
    return 0


if __name__ == "__main__":
    sys.exit(main())
