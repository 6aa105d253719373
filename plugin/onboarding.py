"""The fresh-install checklist: where the shop's setup stands, and its import of existing
subscriptions (the backfill) started from the workspace with its progress recorded.

`start_backfill` records a queued run and queues the `backfill_shop` job after commit; one run
at a time per shop (a second start while one is queued or running returns that one).
`run_backfill` (the job) drives `plugin.backfill.backfill_shop` and writes its progress to the
run's row, at most once a second (each write its own short transaction, so the page can poll
it while the import goes on). `setup_status` is what the checklist shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.backfill import IMPORTING, BackfillError, backfill_shop
from plugin.db.transaction import Tx, transaction
from plugin.models import BackfillRun, Contract, MetricSnapshot, Shop, ShopRecomputeState
from plugin.models.base import utcnow
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.shopify.errors import ShopifyError

log = logging.getLogger(__name__)

BACKFILL_JOB = "backfill_shop"
ACTIVE = ("queued", "running")
_WRITE_EVERY_S = 1.0
POLL_INTERVAL_S = 5.0  # between status polls of Shopify's bulk operation


def run_json(run: BackfillRun | None, now: datetime) -> dict[str, Any] | None:
    """A run as the page shows it, with an ETA while importing (from the rate so far)."""
    if run is None:
        return None
    eta = None
    if run.status == "running" and run.phase == "importing" and run.total and run.started_at:
        elapsed = (now - run.started_at).total_seconds()
        if run.imported and elapsed > 0:
            # total counts bulk objects (contracts and their lines): an upper bound, so the
            # ETA errs long rather than promising too soon.
            eta = max(0.0, (run.total - run.imported) * elapsed / run.imported)
    return {
        "id": run.id,
        "status": run.status,
        "phase": run.phase,
        "objects": run.objects,
        "imported": run.imported,
        "total": run.total,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "eta_seconds": None if eta is None else round(eta),
    }


async def latest_run(session: AsyncSession, shop_id: int) -> BackfillRun | None:
    return await session.scalar(
        select(BackfillRun)
        .where(BackfillRun.shop_id == shop_id)
        .order_by(BackfillRun.id.desc())
        .limit(1)
    )


async def start_backfill(tx: Tx, shop_id: int) -> BackfillRun:
    """The shop's queued or running import, or a new one queued after this commit."""
    current = await latest_run(tx.session, shop_id)
    if current is not None and current.status in ACTIVE:
        return current
    run = BackfillRun(shop_id=shop_id, status="queued", objects=0, imported=0)
    tx.session.add(run)
    await tx.session.flush()
    tx.enqueue_after_commit(BACKFILL_JOB, run.id, key=f"backfill:{shop_id}:{run.id}")
    return run


@dataclass
class _Recorder:
    """Progress as `backfill_shop` reports it (a plain callback), written to the run's row
    by a task of its own every second, so the import never waits on these writes."""

    runtime: Runtime
    run_id: int
    objects: int = 0
    imported: int = 0
    phase: str = "waiting"
    total: int | None = None

    def update(self, label: str, done: int, total: int | None) -> None:
        if label == IMPORTING:
            self.phase, self.imported = "importing", done
            if total is not None:
                self.total = total
        else:
            self.phase, self.objects = "waiting", done
            self.total = done or None

    async def write(self, run: BackfillRun) -> None:
        run.phase, run.objects, run.imported = self.phase, self.objects, self.imported
        run.total = self.total
        run.updated_at = utcnow()

    async def flush(self) -> None:
        async with transaction(self.runtime.sessionmaker, None) as tx:
            run = await tx.session.get(BackfillRun, self.run_id)
            if run is not None:
                await self.write(run)

    async def every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.flush()
            except Exception:  # a missed progress write must not stop the import
                log.exception("backfill run %s: progress not recorded", self.run_id)


async def run_backfill(
    runtime: Runtime, run_id: int, *, poll_interval: float | None = None
) -> None:
    """Run one recorded import to its end, recording progress and the outcome."""
    async with transaction(runtime.sessionmaker, None) as tx:
        run = await tx.session.get(BackfillRun, run_id)
        if run is None or run.status not in ACTIVE:
            return
        shop = await tx.session.get_one(Shop, run.shop_id)
        domain = shop.domain
        run.status, run.phase, run.started_at = "running", "waiting", utcnow()
        run.updated_at = run.started_at
    recorder = _Recorder(runtime, run_id)
    writer = asyncio.create_task(recorder.every(_WRITE_EVERY_S))
    interval = POLL_INTERVAL_S if poll_interval is None else poll_interval
    error: str | None = None
    try:
        result = await backfill_shop(
            runtime, domain, progress=recorder.update, poll_interval=interval
        )
        recorder.phase, recorder.imported, recorder.total = (
            "importing",
            result.contracts,
            result.contracts,
        )
    except BackfillError as exc:
        error = str(exc)
    except (ShopifyError, TransientError) as exc:
        error = f"Shopify: {exc}; start the import again later"
    except Exception:
        # Recorded as failed rather than retried: the merchant sees it and starts again.
        log.exception("backfill run %s of %s stopped", run_id, domain)
        error = "the import stopped unexpectedly; start it again"
    finally:
        writer.cancel()
        async with transaction(runtime.sessionmaker, None) as tx:
            run = await tx.session.get(BackfillRun, run_id)
            if run is not None:
                await recorder.write(run)
                run.status = "failed" if error is not None else "done"
                run.error = error
                run.finished_at = run.updated_at
    if error is not None:
        log.warning("backfill run %s of %s failed: %s", run_id, domain, error)


async def setup_status(session: AsyncSession, shop_id: int | None, now: datetime) -> dict[str, Any]:
    """What the onboarding checklist shows (each step done or not, with its figures)."""
    if shop_id is None:
        return {"contracts": 0, "backfill": None, "recompute": None, "scored": False}
    contracts = await session.scalar(
        select(func.count()).select_from(Contract).where(Contract.shop_id == shop_id)
    )
    state = await session.get(ShopRecomputeState, shop_id)
    scored = await session.scalar(
        select(func.count()).select_from(MetricSnapshot).where(MetricSnapshot.shop_id == shop_id)
    )
    return {
        "contracts": int(contracts or 0),
        "backfill": run_json(await latest_run(session, shop_id), now),
        "recompute": None
        if state is None
        else {
            "requested_at": state.requested_at.isoformat() if state.requested_at else None,
            "computed_at": state.computed_at.isoformat() if state.computed_at else None,
            "duration_ms": state.duration_ms,
        },
        "scored": bool(scored),
    }
