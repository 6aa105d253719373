"""Inbox batches: claim pending rows, apply them in savepointed runs, mark them, in one
transaction.

Exactly once in effect: a row is claimed with `FOR UPDATE SKIP LOCKED` (a concurrent batch of
the same shop takes other rows), skipped unless still pending, and marked in the transaction
that holds its effect. Rows run optimistically, up to `RUN_SIZE` under one savepoint with their
marks in one statement (`_Batch`); a row that raises rolls its run back and the run is replayed
without it, so a row that fails is undone alone and its failure recorded on it, in the same
transaction, while the batch goes on:
- a malformed payload is set aside as failed at once (no retry can fix it);
- a transient failure (database blip, lock conflict, Shopify throttled, an event whose
  contract has not arrived yet) stays pending with a retry time (backoff);
- any other error stays pending the same way up to `MAX_ATTEMPTS` tries, then is set aside.
Failed rows wait for a human; the error is on the row (`last_error`).

SQLite (the demo, tests) has no row locks: `FOR UPDATE SKIP LOCKED` is left out and its single
writer serialises batches instead.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from plugin.db.locks import advisory_lock
from plugin.db.statistics import refresh_stale_statistics
from plugin.db.transaction import Tx, transaction
from plugin.domain.context import SHOP_ERASED, RunHandler, event_time
from plugin.domain.contracts import TOPIC_STATUS
from plugin.domain.dispatch import RUNS_FIRST, RUNS_LAST
from plugin.domain.errors import MalformedPayload, waiting_for
from plugin.domain.payloads import first_id
from plugin.domain.processing import apply_event, changes_metrics, run_handler_of
from plugin.failures import describe, is_transient
from plugin.inbox.wakeups import wake
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.models.base import utcnow
from plugin.queue import RetryPolicy, TransientError
from plugin.runtime import Runtime
from plugin.scoring.requests import request_recompute

log = logging.getLogger(__name__)

# Rows per transaction: large enough that the transaction's own cost (claim, commit, WAL
# flush) is spread thin and run handlers get long runs (500 drained 14 % faster than 200 in
# bench.batch_profile), small enough that locks are held for a fraction of a second.
BATCH_SIZE = 500
# Rows under one savepoint in a batch: a row that raises rolls back and replays at most this
# many, and a run's savepoint and marks cost three statements however many rows it holds.
RUN_SIZE = 25
# How long one job drains a shop before it queues itself again behind other shops' jobs.
SLICE_S = 1.0
# When a job that found its shop being drained elsewhere looks again.
BUSY_RETRY_S = 0.5
_DRAIN_LOCK_NAMESPACE = 0x5649  # advisory locks of inbox drains, (namespace, shop id)
# Non-transient failures of one row before it is set aside as failed.
MAX_ATTEMPTS = 10
# When a failed row is tried again: 2 s, 4 s, … up to 2 minutes (the sweeper's pace after).
RETRY = RetryPolicy(max_tries=MAX_ATTEMPTS, base_delay=2.0, max_delay=120.0)

_INBOX = cast(Table, WebhookInbox.__table__)
# Topics whose handlers read other inbox rows' status (a redaction scrubs the payloads of rows
# already handled; an uninstall looks for events handled after it): the rows before them in a
# run are marked first, as each row was marked before the next under per-row savepoints.
_READS_MARKS = frozenset(
    {"customers/redact", "customers/data_request", "shop/redact", "app/uninstalled"}
)


@dataclass
class BatchResult:
    """What one batch did: rows claimed, outcomes by status, and when to look again."""

    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    retry_in: float | None = None  # seconds until the earliest deferred row is due
    erased: bool = False  # the shop was erased by one of the rows


async def drain_shop(
    runtime: Runtime, shop_id: int, *, batch_size: int = BATCH_SIZE, slice_s: float = SLICE_S
) -> int:
    """Process the shop's pending rows batch after batch for about `slice_s`; then, if rows
    remain, queue the shop's job again so that other shops' jobs run first. Returns the rows
    claimed.

    One drain per shop at a time, across processes (an advisory lock): two batches of one shop
    would touch the same customers' rows and wait on each other's locks until they commit.
    A job that finds the shop busy comes back shortly instead of waiting; the holder may be
    past its last claim already, so the rows that woke this job are never left behind.
    """
    async with advisory_lock(runtime.engine, _DRAIN_LOCK_NAMESPACE, shop_id, wait=False) as held:
        if not held:
            await wake(runtime.queue, shop_id, delay_s=BUSY_RETRY_S)
            return 0
        claimed = await _drain_slice(runtime, shop_id, batch_size, slice_s)
    if claimed >= batch_size:
        # A backlog (a new shop's import, a billing day) may have outgrown the planner's
        # statistics: the next slices are planned on fresh ones. A slice of a few rows grows
        # nothing fast enough to matter, and is spared the check.
        await refresh_stale_statistics(runtime.engine)
    return claimed


async def _drain_slice(runtime: Runtime, shop_id: int, batch_size: int, slice_s: float) -> int:
    """`drain_shop`'s batches, its lock held."""
    deadline = time.monotonic() + slice_s
    claimed = 0
    while True:
        result = await process_batch(runtime, shop_id, limit=batch_size)
        claimed += result.claimed
        if result.erased:
            return claimed
        if result.claimed < batch_size:
            # Rows left waiting for their retry time (this batch's failures or earlier
            # ones) get a wake-up at the earliest of them.
            retry_in = await _next_retry_in(runtime, shop_id)
            if retry_in is not None:
                await wake(runtime.queue, shop_id, delay_s=retry_in)
            return claimed
        if time.monotonic() >= deadline:
            await wake(runtime.queue, shop_id)
            return claimed


async def process_batch(
    runtime: Runtime, shop_id: int, *, limit: int = BATCH_SIZE, ids: Sequence[int] | None = None
) -> BatchResult:
    """One transaction: claim up to `limit` of the shop's due pending rows (or the rows `ids`,
    due or not), apply them in event order, mark each."""
    result = BatchResult()
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        session = tx.session
        rows = list((await session.execute(_claim(shop_id, limit, ids))).scalars())
        result.claimed = len(rows)
        if not rows:
            return result
        shop = await session.get(Shop, shop_id)
        if shop is None:
            return result  # erased since the claim's snapshot; its rows went with it
        batch = _Batch(tx, runtime, shop, arranged(rows), result)
        await batch.apply()
        if batch.arrived and not result.erased:
            await _release_waiting(session, shop_id, batch.arrived)
        if batch.recompute and not result.erased:
            request_recompute(tx, shop_id, debounce_s=runtime.settings.recompute_debounce_seconds)
    return result


class _Batch:
    """Applies a claimed batch optimistically: runs of rows share one savepoint and their marks
    go in one statement. When a row raises, its run is rolled back and replayed with that row
    recorded as failed instead (`_note_failure`, not tried twice in one batch), so the result
    is the per-row-savepoint result at the cost of one savepoint per run, not two per row. The
    same handlers apply every row on every path."""

    def __init__(
        self, tx: Tx, runtime: Runtime, shop: Shop, rows: list[WebhookInbox], result: BatchResult
    ) -> None:
        self.tx, self.runtime, self.shop, self.rows, self.result = tx, runtime, shop, rows, result
        self.attempts = {row.id: row.attempts for row in rows}
        self.failed: dict[int, Exception] = {}  # positions that raised, and what
        self.alone: set[int] = set()  # positions to apply under a savepoint of their own
        self.recompute = False
        self.arrived: set[int] = set()  # contracts whose events were handled

    async def apply(self) -> None:
        start = 0
        while start < len(self.rows):
            if start in self.failed:
                # Rolled back with its run: record the failure without trying it again (a
                # second try could call Shopify again, or succeed where a retry should wait).
                row = self.rows[start]
                status = await _note_failure(
                    self.tx.session, row.id, self.failed[start], self.attempts[row.id], self.result
                )
                self.result.outcomes[status] += 1
                start += 1
                continue
            if start in self.alone:
                row = self.rows[start]
                status = await _apply_one(
                    self.tx, self.runtime, self.shop, row, self.attempts[row.id], self.result
                )
                if status == SHOP_ERASED:
                    self.result.erased = True
                    return
                if status not in (InboxStatus.HANDLED, InboxStatus.IGNORED):
                    # What a failed flush left pending in the session would fail the next
                    # row's flush too.
                    await self._reload()
                self._note(row, status)
                start += 1
                continue
            start = await self._run(start)
            if self.result.erased:
                return

    async def _run(self, start: int) -> int:
        """Apply rows from `start` on, up to `RUN_SIZE` of them or the next row to apply alone,
        under one savepoint; the position to go on from (`start` again after a failure, the
        row that raised now to record as failed)."""
        session = self.tx.session
        jobs_before = len(self.tx.jobs)
        savepoint = await session.begin_nested()
        done: list[tuple[WebhookInbox, str]] = []
        declined: list[int] = []  # positions a run handler declined
        position = start
        run_end: int | None = None  # while a run handler applies rows position to run_end
        applying = True
        try:
            end = min(len(self.rows), start + RUN_SIZE)
            marked = 0
            while position < end and position not in self.alone and position not in self.failed:
                row = self.rows[position]
                run_handler = run_handler_of(row.topic)
                if run_handler is not None:
                    # This row and the next ones of its run handler, at once (past `end`:
                    # a run handler's cost is per statement, not per row).
                    run_end = self._run_end(position, run_handler)
                    run = self.rows[position:run_end]
                    outcomes = await run_handler(self.tx, self.runtime, self.shop, run)
                    await session.flush()
                    for index, outcome in enumerate(outcomes, start=position):
                        if isinstance(outcome, Exception):
                            # Declined, nothing of it written: its failure is recorded once
                            # the run stands (or, if the run is undone, when it is reached).
                            self.failed[index] = outcome
                            declined.append(index)
                        else:
                            done.append((self.rows[index], outcome))
                    position = run_end
                    run_end = None
                    continue
                if row.topic in _READS_MARKS:
                    # It reads which rows are handled: the run's rows before it must say so.
                    await session.flush()
                    await _mark_all(session, done[marked:], self.attempts)
                    marked = len(done)
                status = await apply_event(self.tx, self.runtime, self.shop, row)
                if status == SHOP_ERASED:
                    self.result.erased = True
                    break
                # The row's writes now, so that a failing one is this row's failure (as at a
                # savepoint's end), not the next row's; with nothing left to write, no statement.
                await session.flush()
                done.append((row, status))
                position += 1
            applying = False
            await session.flush()
            await _mark_all(session, done[marked:], self.attempts)
        except Exception as exc:
            await savepoint.rollback()
            del self.tx.jobs[jobs_before:]
            self.result.erased = False
            # A row that raised is recorded as failed on the replay; a failure of the run's own
            # flush or marks names no row, so each row of the run goes under its own savepoint.
            if run_end is not None:
                # Which of the run handler's rows raised is not known: each goes alone.
                self.alone.update(range(position, run_end))
            elif applying:
                self.failed[position] = exc
            else:
                self.alone.update(range(start, position))
            await self._reload()
            return start
        await savepoint.commit()
        for row, status in done:
            self.result.outcomes[status] += 1
            self._note(row, status)
        for index in declined:
            row = self.rows[index]
            status = await _note_failure(
                session, row.id, self.failed[index], self.attempts[row.id], self.result
            )
            self.result.outcomes[status] += 1
        if self.result.erased:
            self.result.outcomes[SHOP_ERASED] += 1
        return position

    def _run_end(self, start: int, handler: RunHandler) -> int:
        """Where the run of rows from `start` that `handler` applies together ends."""
        end = start + 1
        while (
            end < len(self.rows)
            and end not in self.alone
            and end not in self.failed
            and run_handler_of(self.rows[end].topic) is handler
        ):
            end += 1
        return end

    def _note(self, row: WebhookInbox, status: str) -> None:
        if status != InboxStatus.HANDLED:
            return
        if changes_metrics(row.topic):
            self.recompute = True
        if row.topic in TOPIC_STATUS:
            contract_id = first_id(row.payload, "id", "admin_graphql_api_id")
            if contract_id is not None:
                self.arrived.add(contract_id)

    async def _reload(self) -> None:
        """After a rolled-back run: forget what the session held (objects the run changed are
        stale) and read the shop and the claimed rows afresh (still locked by this batch)."""
        session = self.tx.session
        session.expunge_all()
        shop = await session.get(Shop, self.shop.id)
        if shop is None:
            raise RuntimeError(f"shop {self.shop.id} vanished inside its own batch")
        self.shop = shop
        ids = [row.id for row in self.rows]
        fresh = {
            row.id: row
            for row in (
                await session.execute(select(WebhookInbox).where(WebhookInbox.id.in_(ids)))
            ).scalars()
        }
        self.rows = [fresh[inbox_id] for inbox_id in ids]


async def process_rows(runtime: Runtime, ids: Sequence[int]) -> BatchResult:
    """Process these rows now (each in its shop's batch), whatever their retry time: tests and
    operators replaying a row. Rows already done or locked by a running batch are skipped."""
    async with runtime.sessionmaker() as session:
        found = (
            await session.execute(select(_INBOX.c.id, _INBOX.c.shop_id).where(_INBOX.c.id.in_(ids)))
        ).all()
    by_shop: dict[int, list[int]] = {}
    for inbox_id, shop_id in found:
        by_shop.setdefault(int(shop_id), []).append(int(inbox_id))
    total = BatchResult()
    for shop_id, shop_ids in by_shop.items():
        result = await process_batch(runtime, shop_id, limit=len(shop_ids), ids=shop_ids)
        total.claimed += result.claimed
        total.outcomes.update(result.outcomes)
        total.erased = total.erased or result.erased
        if result.retry_in is not None:
            total.retry_in = min(total.retry_in or result.retry_in, result.retry_in)
    return total


async def _next_retry_in(runtime: Runtime, shop_id: int) -> float | None:
    """Seconds until the shop's earliest pending row waiting for its retry time is due."""
    async with runtime.sessionmaker() as session:
        due = await session.scalar(
            select(func.min(WebhookInbox.retry_at)).where(
                WebhookInbox.shop_id == shop_id,
                WebhookInbox.status == InboxStatus.PENDING,
                WebhookInbox.retry_at.is_not(None),
            )
        )
    if due is None:
        return None
    return max((due - utcnow()).total_seconds(), 0.0) + 0.05


async def _release_waiting(session: AsyncSession, shop_id: int, contracts: set[int]) -> None:
    """Rows that wait for one of these contracts (their event came before it) are due now,
    not at their retry time: they are applied seconds after their contract, not half a minute.
    """
    await session.execute(
        update(_INBOX)
        .where(
            _INBOX.c.shop_id == shop_id,
            _INBOX.c.status == InboxStatus.PENDING,
            _INBOX.c.retry_at.is_not(None),
            _INBOX.c.last_error.in_(waiting_for(sorted(contracts))),
        )
        # Due now, not NULL: the drain looks for the earliest retry time to come back at.
        .values(retry_at=utcnow())
    )


def _claim(shop_id: int, limit: int, ids: Sequence[int] | None) -> Select[WebhookInbox]:
    """The shop's pending rows, oldest first, locked; rows another batch holds are skipped."""
    query = select(WebhookInbox).where(
        WebhookInbox.shop_id == shop_id, WebhookInbox.status == InboxStatus.PENDING
    )
    if ids is None:
        due = or_(WebhookInbox.retry_at.is_(None), WebhookInbox.retry_at <= utcnow())
        query = query.where(due)
    else:
        query = query.where(WebhookInbox.id.in_(ids))
    # SQLite renders no FOR UPDATE (its one writer serialises transactions); populate_existing
    # so a row the session somehow holds is read afresh under the lock.
    return (
        query.order_by(WebhookInbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookInbox)
        .execution_options(populate_existing=True)
    )


def arranged(rows: Sequence[WebhookInbox]) -> list[WebhookInbox]:
    """The order a batch applies its rows in: event order, except that between two rows that
    read marks (`_READS_MARKS`) rows with a run handler are grouped by handler, to be applied
    in one run each: new contracts before the stretch's other rows, billing attempts and
    order events after them (`RUNS_FIRST`, `RUNS_LAST`). Handlers give the same result in any
    order of events (each keeps the latest by event time, the earliest time, the
    highest-ranked outcome or the lowest contract id; a contract's state comes from its whole
    history; a billing attempt of an ended contract refreshes what the end derived from
    attempts), so this changes nothing but the number of statements; a row that reads marks
    still sees exactly the rows before it."""
    arranged: list[WebhookInbox] = []
    plain: list[WebhookInbox] = []  # the stretch's rows without a run handler
    held: dict[RunHandler, list[WebhookInbox]] = {}  # its others, by handler, in event order

    def close_stretch() -> None:
        for handler in RUNS_FIRST:
            arranged.extend(held.pop(handler, ()))
        arranged.extend(plain)
        for handler in sorted(held, key=_trailing_rank):
            arranged.extend(held[handler])
        plain.clear()
        held.clear()

    for row in sorted(rows, key=_event_order):
        run_handler = run_handler_of(row.topic)
        if row.topic in _READS_MARKS:
            close_stretch()
            arranged.append(row)
        elif run_handler is not None:
            held.setdefault(run_handler, []).append(row)
        else:
            plain.append(row)
    close_stretch()
    return arranged


def _trailing_rank(handler: RunHandler) -> int:
    """Where a run handler's rows go after a stretch's other rows (`RUNS_LAST`; one not
    listed there, last)."""
    return RUNS_LAST.index(handler) if handler in RUNS_LAST else len(RUNS_LAST)


def _event_order(row: WebhookInbox) -> tuple[datetime, int, int]:
    """Apply order within a batch: by event time, then revision (so each contract's events go
    in the order they happened), then arrival."""
    payload: Any = row.payload
    revision = payload.get("revision_id") if isinstance(payload, dict) else None
    try:
        rank = int(revision) if revision is not None else 0
    except (TypeError, ValueError):
        rank = 0
    return (event_time(row), rank, row.id)


async def _apply_one(
    tx: Tx, runtime: Runtime, shop: Shop, row: WebhookInbox, attempts: int, result: BatchResult
) -> str:
    """Apply one row under a savepoint and mark it; on failure roll back its savepoint (and
    the jobs it asked for) and record the failure instead. The status the row ends in."""
    session = tx.session
    jobs_before = len(tx.jobs)
    inbox_id = row.id
    try:
        async with session.begin_nested():
            status = await apply_event(tx, runtime, shop, row)
            if status != SHOP_ERASED:
                await _mark(session, row, status, attempts + 1)
    except Exception as exc:
        del tx.jobs[jobs_before:]
        status = await _note_failure(session, inbox_id, exc, attempts, result)
    result.outcomes[status] += 1
    return status


async def _note_failure(
    session: AsyncSession, inbox_id: int, exc: Exception, attempts: int, result: BatchResult
) -> str:
    """Record what a row's try raised (its effects rolled back already): set aside when
    malformed or out of tries, else pending again after a backoff. The status it is left in."""
    if isinstance(exc, MalformedPayload):
        log.warning("inbox row %s has a malformed payload: %s", inbox_id, exc)
        return await _record_failure(session, inbox_id, exc, attempts + 1, None)
    transient = is_transient(exc)
    if not transient:
        log.error("inbox row %s failed", inbox_id, exc_info=exc)
    hint = exc.retry_after if isinstance(exc, TransientError) else None
    delay: float | None = RETRY.delay(attempts + 1, hint)
    if not transient and attempts + 1 >= MAX_ATTEMPTS:
        delay = None  # set aside
    status = await _record_failure(session, inbox_id, exc, attempts + 1, delay)
    if delay is not None:
        result.retry_in = delay if result.retry_in is None else min(result.retry_in, delay)
    return status


async def _mark(session: AsyncSession, row: WebhookInbox, status: str, attempts: int) -> None:
    """Record the outcome on the row: one prepared UPDATE, and the same values set on the
    loaded row as if they had been read (the unit of work has nothing left to write)."""
    values = {"status": status, "handled_at": utcnow(), "attempts": attempts}
    await session.execute(
        _MARK, {"inbox_id": row.id, **{f"new_{key}": value for key, value in values.items()}}
    )
    for key, value in (*values.items(), ("last_error", None), ("retry_at", None)):
        set_committed_value(row, key, value)


async def _mark_all(
    session: AsyncSession, done: list[tuple[WebhookInbox, str]], attempts: dict[int, int]
) -> None:
    """`_mark` for a run of rows: one UPDATE per status (`WHERE id IN …`, one plan and one
    execution in the database, where an executemany runs the statement once per row)."""
    if not done:
        return
    now = utcnow()
    by_status: dict[str, list[int]] = {}
    for row, status in done:
        by_status.setdefault(status, []).append(row.id)
    for status, ids in by_status.items():
        await session.execute(_MARK_ALL, {"ids": ids, "new_status": status, "new_handled_at": now})
    for row, status in done:
        for key, value in (
            ("status", status),
            ("handled_at", now),
            ("attempts", attempts[row.id] + 1),
            ("last_error", None),
            ("retry_at", None),
        ):
            set_committed_value(row, key, value)


async def _record_failure(
    session: AsyncSession, inbox_id: int, exc: BaseException, attempts: int, retry_in: float | None
) -> str:
    """Note the failed try on the row: pending again in `retry_in` seconds, or (None) set
    aside as failed. The status it is left in."""
    status = InboxStatus.FAILED if retry_in is None else InboxStatus.PENDING
    error = describe(exc)
    retry_at = None if retry_in is None else utcnow() + timedelta(seconds=retry_in)
    await session.execute(
        _FAIL,
        {
            "inbox_id": inbox_id,
            "new_status": status,
            "new_attempts": attempts,
            "new_error": error,
            "new_retry_at": retry_at,
        },
    )
    if retry_in is None:
        log.error("inbox row %s set aside as failed after %d tries: %s", inbox_id, attempts, error)
    return status


_MARK = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("inbox_id"))
    .values(
        status=bindparam("new_status"),
        handled_at=bindparam("new_handled_at", type_=_INBOX.c.handled_at.type),
        attempts=bindparam("new_attempts"),
        last_error=None,
        retry_at=None,
    )
)
# The claimed rows are locked by the batch: their attempts are still what the claim read.
_MARK_ALL = (
    update(_INBOX)
    .where(_INBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=bindparam("new_status"),
        handled_at=bindparam("new_handled_at", type_=_INBOX.c.handled_at.type),
        attempts=_INBOX.c.attempts + 1,
        last_error=None,
        retry_at=None,
    )
)
_FAIL = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("inbox_id"), _INBOX.c.status == InboxStatus.PENDING)
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        last_error=bindparam("new_error"),
        retry_at=bindparam("new_retry_at", type_=_INBOX.c.retry_at.type),
    )
)
