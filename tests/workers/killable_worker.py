"""A worker process that hangs at a chosen moment of `process_inbox`, for a test to SIGKILL.

    python -m tests.workers.killable_worker {before-commit|after-commit} QUEUE_NAME MARKER_FILE

Settings come from the environment. The marker file appears once the worker is at that moment:
- before-commit: the event's effect is applied in the open transaction, not yet committed;
- after-commit: process_inbox has committed, but Arq has not yet recorded the job as done.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from plugin.domain.context import EventContext
from plugin.domain.dispatch import HANDLERS
from plugin.inbox import PROCESS_INBOX
from plugin.settings import Settings
from workers.registry import JOBS
from workers.worker import build_worker

TOPIC = "app/scopes_update"


def main(moment: str, queue_name: str, marker: Path) -> None:
    jobs = dict(JOBS)
    if moment == "before-commit":
        apply = HANDLERS[TOPIC]

        async def hang_in_transaction(ctx: EventContext) -> str:
            status = await apply(ctx)
            await ctx.session.flush()  # the UPDATE is sent, the transaction stays open
            await asyncio.to_thread(marker.write_text, moment)
            await asyncio.sleep(3600)
            return status

        HANDLERS[TOPIC] = hang_in_transaction
    elif moment == "after-commit":
        process_inbox = JOBS[PROCESS_INBOX]

        async def hang_after_commit(ctx: dict[str, Any], shop_id: int) -> None:
            await process_inbox(ctx, shop_id)
            await asyncio.to_thread(marker.write_text, moment)
            await asyncio.sleep(3600)

        jobs[PROCESS_INBOX] = hang_after_commit
    else:
        raise SystemExit(f"unknown moment {moment!r}")

    worker = build_worker(Settings.from_env(), queue_name=queue_name, jobs=jobs, crons=False)
    # Arq re-runs the job of a vanished worker once its in-progress key expires: the job's
    # timeout plus 10 s, ten minutes for process_inbox. Shorten only that wait for the test.
    worker.in_progress_timeout_s = 2.0
    worker.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
