"""Inbox batches: exactly once in effect, each row atomic with its "handled" mark, a failing
row rolled back alone, the retry and give-up rules, and batches that share a shop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from plugin.app import build_app_runtime
from plugin.db.locks import advisory_lock
from plugin.db.transaction import transaction
from plugin.domain.context import EventContext
from plugin.domain.dispatch import HANDLERS, RUN_HANDLERS
from plugin.domain.errors import ContractNotYetKnown
from plugin.failures import describe, is_transient
from plugin.inbox import PROCESS_INBOX, batches, inbox_job_key, record_delivery, wake_after_commit
from plugin.inbox.batches import (
    _DRAIN_LOCK_NAMESPACE,
    MAX_ATTEMPTS,
    RUN_SIZE,
    BatchResult,
    arranged,
    drain_shop,
    process_batch,
)
from plugin.models import (
    BillingAttempt,
    Contract,
    ContractStatusEvent,
    InboxStatus,
    Order,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue, TransientError
from plugin.runtime import Runtime
from plugin.scoring.requests import RECOMPUTE_SHOP, recompute_key
from tests.conftest import make_settings
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    contract,
    customer,
    customer_redact,
    deliver,
    fulfillment_event,
    inbox_row,
    next_id,
    order,
    process,
    store,
)
from workers.jobs.inbox import process_inbox
from workers.registry import JOB_SPECS, JOBS

CREATE = "subscription_contracts/create"
# A contract event applied one row at a time (it creates the contract when new, as create does).
UPDATE = "subscription_contracts/update"
ATTEMPT = "subscription_billing_attempts/success"
CHALLENGED = "subscription_billing_attempts/challenged"
SCAN = "fulfillment_events/create"
DAY = timedelta(days=1)


@pytest.fixture
async def rt(db_url: str) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(make_settings(db_url))
    try:
        yield runtime
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))  # every row hangs off a shop (cascade)
        await runtime.close()


async def count(rt: Runtime, model: type[Any]) -> int:
    async with rt.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


def test_registered_under_the_topic_job_name_with_retries() -> None:
    assert JOBS[PROCESS_INBOX] is process_inbox
    spec = JOB_SPECS[PROCESS_INBOX]
    assert spec.retry.max_tries > 1
    assert spec.retry.delay(spec.retry.max_tries) <= spec.retry.max_delay


async def test_processing_twice_has_no_second_effect(rt: Runtime) -> None:
    inbox_id = await store(rt, Event(CREATE, contract(next_id())))
    await process(rt, inbox_id)
    first = await inbox_row(rt, inbox_id)
    await process(rt, inbox_id)  # a redelivered job, or the sweeper racing the queue
    second = await inbox_row(rt, inbox_id)
    assert first is not None and second is not None
    assert (second.status, second.attempts, second.handled_at) == (
        InboxStatus.HANDLED,
        1,
        first.handled_at,
    )
    assert await count(rt, ContractStatusEvent) == 1


async def test_effect_and_handled_mark_commit_together(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HANDLERS[UPDATE]

    async def fails_after_writing(ctx: EventContext) -> str:
        await real(ctx)
        await ctx.session.flush()  # the effect reached the database...
        raise RuntimeError("boom after writing")  # ...and then the job broke

    monkeypatch.setitem(HANDLERS, UPDATE, fails_after_writing)
    inbox_id = await store(rt, Event(UPDATE, contract(next_id())))
    result = await process(rt, inbox_id)  # recorded on the row, not raised
    assert result.outcomes == {InboxStatus.PENDING: 1} and result.retry_in is not None
    assert (await count(rt, Contract), await count(rt, Subscriber)) == (0, 0)
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts, row.handled_at) == (InboxStatus.PENDING, 1, None)
    assert row.last_error == "RuntimeError: boom after writing"

    monkeypatch.setitem(HANDLERS, UPDATE, real)
    await process(rt, inbox_id)  # the sweeper's retry
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (InboxStatus.HANDLED, 2, None)
    assert await count(rt, Contract) == 1


async def test_a_worker_killed_mid_job_leaves_the_event_to_redo_once(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HANDLERS[UPDATE]
    written = asyncio.Event()

    async def hangs_after_writing(ctx: EventContext) -> str:
        await real(ctx)
        await ctx.session.flush()
        written.set()
        await asyncio.Event().wait()  # the worker dies here
        raise AssertionError("unreachable")

    monkeypatch.setitem(HANDLERS, UPDATE, hangs_after_writing)
    inbox_id = await store(rt, Event(UPDATE, contract(next_id())))
    job = asyncio.create_task(process(rt, inbox_id))
    await written.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert await count(rt, Contract) == 0
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.PENDING

    monkeypatch.setitem(HANDLERS, UPDATE, real)
    await process(rt, inbox_id)
    await process(rt, inbox_id)
    assert (await count(rt, Contract), await count(rt, ContractStatusEvent)) == (1, 1)


async def test_a_persistent_bug_is_set_aside_after_max_attempts(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: EventContext) -> str:
        raise KeyError("missing")

    monkeypatch.setitem(HANDLERS, UPDATE, broken)
    inbox_id = await store(rt, Event(UPDATE, contract(next_id())))
    for _ in range(MAX_ATTEMPTS):
        await process(rt, inbox_id)
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts) == (InboxStatus.FAILED, MAX_ATTEMPTS)
    await process(rt, inbox_id)  # a failed row is left for a human: no error, no change
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.attempts == MAX_ATTEMPTS


async def test_transient_failures_stay_pending_and_ask_for_a_retry(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_blip(ctx: EventContext) -> str:
        raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))

    monkeypatch.setitem(HANDLERS, UPDATE, database_blip)
    inbox_id = await store(rt, Event(UPDATE, contract(next_id())))
    for _ in range(MAX_ATTEMPTS + 1):
        assert (await process(rt, inbox_id)).retry_in is not None
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts) == (InboxStatus.PENDING, MAX_ATTEMPTS + 1)
    assert row.last_error == "ConnectionResetError: server closed"
    assert row.retry_at is not None and row.retry_at > row.received_at
    # Not due yet: the shop's next batch leaves it alone.
    assert (await process_batch(rt, row.shop_id)).claimed == 0


async def test_payload_that_is_not_an_object_fails_at_once(rt: Runtime) -> None:
    inbox_id = await store(rt, Event(CREATE, [1, 2, 3]))  # type: ignore[arg-type]
    await process(rt, inbox_id)  # no exception: nothing a retry could fix
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts) == (InboxStatus.FAILED, 1)
    assert "JSON object" in (row.last_error or "")


async def test_unknown_topic_is_ignored(rt: Runtime) -> None:
    inbox_id = await store(rt, Event("products/create", {"id": 1}))
    await process(rt, inbox_id)
    row = await inbox_row(rt, inbox_id)
    assert row is not None
    assert (row.status, row.attempts) == (InboxStatus.IGNORED, 1)
    assert row.handled_at is not None


async def test_a_missing_row_is_nothing_to_do(rt: Runtime) -> None:
    await process(rt, 987_654_321)


async def test_runs_through_the_in_process_queue(rt: Runtime) -> None:
    assert isinstance(rt.queue, InProcessQueue)
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        stored = await record_delivery(tx.session, Event(CREATE, contract(next_id())).delivery())
        assert stored is not None
        wake_after_commit(tx, stored.shop_id)
    await rt.queue.drain()
    row = await inbox_row(rt, stored.inbox_id)
    assert row is not None and row.status == InboxStatus.HANDLED
    assert rt.queue.failures == []


async def test_concurrent_jobs_on_postgres_apply_each_event_once(pg_url: str) -> None:
    runtime = await build_app_runtime(make_settings(pg_url))
    try:
        cid = next_id()
        events = [
            Event(CREATE, contract(cid, revision_id=1), at=T0),
            Event(
                "subscription_contracts/pause",
                contract(cid, status="paused", revision_id=2),
                at=T0.replace(hour=10),
            ),
        ]
        ids = [await store(runtime, event) for event in events]
        # Each row twice, all at once: two workers on the same rows and on one new contract.
        await asyncio.gather(*(process(runtime, inbox_id) for inbox_id in ids * 2))
        for inbox_id in ids:  # a lost race on a new key is transient: the retry completes it
            await process(runtime, inbox_id)
        assert await count(runtime, Contract) == 1
        assert await count(runtime, ContractStatusEvent) == 2
        for inbox_id in ids:
            row = await inbox_row(runtime, inbox_id)
            assert row is not None and row.status == InboxStatus.HANDLED
        async with runtime.sessionmaker() as session:
            status = (
                await session.execute(select(Contract.status).where(Contract.contract_id == cid))
            ).scalar_one()
        assert status == "paused"
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("could not serialize access")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransientError("Shopify throttled"), True),
        (OperationalError("SELECT 1", {}, ConnectionRefusedError()), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), True),
        (DBAPIError("UPDATE", {}, _PgError("40P01")), True),
        (DBAPIError("UPDATE", {}, _PgError("22001")), False),
        (TimeoutError(), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_classification(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_errors_are_described_without_sql_parameters() -> None:
    error = IntegrityError(
        "INSERT INTO subscribers (email) VALUES ($1)",
        ("ada@example.com",),
        Exception("duplicate key value\nDETAIL: Key (email)=(ada@example.com)"),
    )
    assert describe(error) == "Exception: duplicate key value"


class RecordingQueue:
    """A queue that only records what it is asked to run."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[int | str, ...], str | None]] = []

    async def enqueue(
        self, job: str, *args: int | str, key: str | None = None, delay_s: float | None = None
    ) -> bool:
        self.jobs.append((job, args, key))
        return True

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


async def test_a_handled_event_asks_for_a_debounced_recompute_after_commit(db_url: str) -> None:
    queue = RecordingQueue()
    runtime = await build_app_runtime(make_settings(db_url), queue=queue)
    try:
        customer_id = next_id()
        await process(
            runtime, await store(runtime, Event(CREATE, contract(next_id(), customer_id)))
        )
        async with runtime.sessionmaker() as session:
            shop_id = (await session.execute(select(Shop.id))).scalar_one()
        [(job, args, key)] = queue.jobs
        assert (job, args[0]) == (RECOMPUTE_SHOP, shop_id)
        assert key == recompute_key(shop_id, int(args[1]))
        # A profile change moves no metric: no recompute for it.
        await process(
            runtime, await store(runtime, Event("customers/update", customer(customer_id)))
        )
        assert len(queue.jobs) == 1
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def shop_id_of(rt: Runtime) -> int:
    async with rt.sessionmaker() as session:
        return (await session.execute(select(Shop.id))).scalar_one()


async def test_a_failing_row_is_rolled_back_alone_and_the_batch_goes_on(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HANDLERS[UPDATE]
    bad = next_id()

    async def fails_for_one_contract(ctx: EventContext) -> str:
        await real(ctx)
        await ctx.session.flush()  # its effect reached the database before it broke
        if ctx.payload["id"] == bad:
            raise RuntimeError("boom")
        return InboxStatus.HANDLED

    monkeypatch.setitem(HANDLERS, UPDATE, fails_for_one_contract)
    ids = [await store(rt, Event(UPDATE, contract(cid))) for cid in (next_id(), bad, next_id())]
    result = await process_batch(rt, await shop_id_of(rt))
    assert result.claimed == 3
    assert result.outcomes == {InboxStatus.HANDLED: 2, InboxStatus.PENDING: 1}
    rows = [await inbox_row(rt, inbox_id) for inbox_id in ids]
    assert [r.status for r in rows if r] == ["handled", "pending", "handled"]
    assert rows[1] is not None and rows[1].last_error == "RuntimeError: boom"
    async with rt.sessionmaker() as session:
        stored = set((await session.scalars(select(Contract.contract_id))).all())
    assert bad not in stored and len(stored) == 2


async def test_a_malformed_row_is_set_aside_and_the_rest_handled(rt: Runtime) -> None:
    good = await store(rt, Event(CREATE, contract(next_id())))
    malformed = await store(rt, Event(CREATE, {"id": "not a contract"}))
    result = await process_batch(rt, await shop_id_of(rt))
    assert result.outcomes == {InboxStatus.HANDLED: 1, InboxStatus.FAILED: 1}
    assert result.retry_in is None  # nothing to come back for
    good_row, bad_row = await inbox_row(rt, good), await inbox_row(rt, malformed)
    assert good_row is not None and good_row.status == InboxStatus.HANDLED
    assert bad_row is not None and (bad_row.status, bad_row.attempts) == (InboxStatus.FAILED, 1)


LIFECYCLE = [
    ("subscription_contracts/create", "active", 0),
    ("subscription_contracts/pause", "paused", 1),
    ("subscription_contracts/activate", "active", 2),
    ("subscription_contracts/cancel", "cancelled", 3),
]


@pytest.mark.parametrize("order", [[3, 1, 0, 2], [2, 3, 1, 0], [0, 3, 2, 1]])
async def test_shuffled_deliveries_in_one_batch_end_as_delivered_in_order(
    rt: Runtime, order: list[int]
) -> None:
    cid = next_id()
    events = [
        Event(topic, contract(cid, status=status, revision_id=step + 1), at=T0.replace(hour=step))
        for topic, status, step in LIFECYCLE
    ]
    for index in order:
        await store(rt, events[index])
    result = await process_batch(rt, await shop_id_of(rt))
    assert result.outcomes == {InboxStatus.HANDLED: len(events)}
    async with rt.sessionmaker() as session:
        state = (
            await session.execute(
                select(Contract.status, Contract.ended_at).where(Contract.contract_id == cid)
            )
        ).one()
        history = (await session.execute(select(func.count(ContractStatusEvent.id)))).scalar()
    assert state == ("cancelled", T0.replace(hour=3))
    assert history == len(events)


async def test_a_drain_queues_the_shop_again_when_its_time_slice_ends(db_url: str) -> None:
    queue = RecordingQueue()
    runtime = await build_app_runtime(make_settings(db_url), queue=queue)
    try:
        ids = [await store(runtime, Event(CREATE, contract(next_id()))) for _ in range(5)]
        shop_id = await shop_id_of(runtime)
        # A slice of zero: one batch, then the shop goes to the back of the queue.
        assert await drain_shop(runtime, shop_id, batch_size=2, slice_s=0.0) == 2
        assert (PROCESS_INBOX, (shop_id,), inbox_job_key(shop_id)) in queue.jobs
        # A drain with time enough takes the rest and stops when a batch comes back short.
        assert await drain_shop(runtime, shop_id, batch_size=2, slice_s=60.0) == 3
        rows = [await inbox_row(runtime, inbox_id) for inbox_id in ids]
        assert all(r is not None and r.status == InboxStatus.HANDLED for r in rows)
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def test_a_drain_that_took_a_backlog_refreshes_stale_statistics(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[object] = []

    async def refresh(engine: object) -> list[str]:
        checks.append(engine)
        return []

    monkeypatch.setattr(batches, "refresh_stale_statistics", refresh)
    runtime = await build_app_runtime(make_settings(db_url), queue=RecordingQueue())
    try:
        for _ in range(3):
            await store(runtime, Event(CREATE, contract(next_id())))
        shop_id = await shop_id_of(runtime)
        assert await drain_shop(runtime, shop_id, batch_size=2, slice_s=0.0) == 2
        assert checks == [runtime.engine]  # a full batch: the tables may have outgrown theirs
        assert await drain_shop(runtime, shop_id, batch_size=2, slice_s=60.0) == 1
        assert checks == [runtime.engine]  # one row more: not worth a look
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def test_concurrent_batches_of_one_shop_on_postgres_take_disjoint_rows(pg_url: str) -> None:
    runtime = await build_app_runtime(make_settings(pg_url))
    try:
        ids = [await store(runtime, Event(CREATE, contract(next_id()))) for _ in range(40)]
        shop_id = await shop_id_of(runtime)
        results = await asyncio.gather(
            *(process_batch(runtime, shop_id, limit=10) for _ in range(4))
        )
        # SKIP LOCKED: no batch waited for or repeated another's rows.
        assert sum(r.claimed for r in results) == 40
        rows = [await inbox_row(runtime, inbox_id) for inbox_id in ids]
        assert all(r is not None and (r.status, r.attempts) == ("handled", 1) for r in rows)
        assert await count(runtime, Contract) == 40
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def test_a_shop_drained_elsewhere_is_looked_at_again_shortly(pg_url: str) -> None:
    queue = RecordingQueue()
    runtime = await build_app_runtime(make_settings(pg_url), queue=queue)
    try:
        await store(runtime, Event(CREATE, contract(next_id())))
        shop_id = await shop_id_of(runtime)
        async with advisory_lock(runtime.engine, _DRAIN_LOCK_NAMESPACE, shop_id, wait=False):
            assert await drain_shop(runtime, shop_id) == 0  # busy: nothing claimed
        assert queue.jobs == [(PROCESS_INBOX, (shop_id,), inbox_job_key(shop_id, retry=True))]
        assert await drain_shop(runtime, shop_id) == 1
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


async def test_a_batch_with_a_malformed_and_a_failing_row_handles_every_other_row_once(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HANDLERS[UPDATE]
    bad = next_id()
    tries: list[int] = []

    async def fails_for_one_contract(ctx: EventContext) -> str:
        await real(ctx)
        await ctx.session.flush()  # its effect reached the database before it broke
        if ctx.payload["id"] == bad:
            tries.append(bad)
            raise RuntimeError("boom")
        return InboxStatus.HANDLED

    monkeypatch.setitem(HANDLERS, UPDATE, fails_for_one_contract)
    good = [next_id() for _ in range(2 * RUN_SIZE + 5)]  # rows in several runs on both sides
    ids = [await store(rt, Event(UPDATE, contract(cid))) for cid in good[:RUN_SIZE]]
    failing = await store(rt, Event(UPDATE, contract(bad)))
    malformed = await store(rt, Event(UPDATE, {"id": "not a contract"}))
    ids += [await store(rt, Event(UPDATE, contract(cid))) for cid in good[RUN_SIZE:]]

    result = await process_batch(rt, await shop_id_of(rt))

    assert result.outcomes == {
        InboxStatus.HANDLED: len(good),
        InboxStatus.PENDING: 1,
        InboxStatus.FAILED: 1,
    }
    assert tries == [bad]  # rolled back with its run and recorded, not tried a second time
    handled = [await inbox_row(rt, inbox_id) for inbox_id in ids]
    assert {(r.status, r.attempts) for r in handled if r} == {(InboxStatus.HANDLED, 1)}
    failed, set_aside = await inbox_row(rt, failing), await inbox_row(rt, malformed)
    assert failed is not None and set_aside is not None
    assert (failed.status, failed.attempts, failed.last_error) == (
        InboxStatus.PENDING,
        1,
        "RuntimeError: boom",
    )
    assert (set_aside.status, set_aside.attempts) == (InboxStatus.FAILED, 1)
    async with rt.sessionmaker() as session:
        stored = (await session.scalars(select(Contract.contract_id))).all()
    assert sorted(stored) == sorted(good)  # each once, the failing one not at all
    assert await count(rt, ContractStatusEvent) == len(good)


async def test_a_run_whose_writes_fail_is_applied_again_row_by_row(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HANDLERS[UPDATE]
    bad = next_id()

    async def leaves_an_invalid_row(ctx: EventContext) -> str:
        status = await real(ctx)
        if ctx.payload["id"] == bad:
            # Not written until the run's own flush, which then fails and names no row.
            ctx.session.add(Subscriber(shop_id=ctx.shop_id, customer_id=None))
        return status

    monkeypatch.setitem(HANDLERS, UPDATE, leaves_an_invalid_row)
    good = [next_id() for _ in range(4)]
    await store(rt, Event(UPDATE, contract(good[0])))
    await store(rt, Event(UPDATE, contract(good[1])))
    failing = await store(rt, Event(UPDATE, contract(bad)))
    await store(rt, Event(UPDATE, contract(good[2])))
    await store(rt, Event(UPDATE, contract(good[3])))

    result = await process_batch(rt, await shop_id_of(rt))

    assert result.outcomes[InboxStatus.HANDLED] == len(good)
    row = await inbox_row(rt, failing)
    assert row is not None and row.status != InboxStatus.HANDLED and row.last_error
    async with rt.sessionmaker() as session:
        stored = (await session.scalars(select(Contract.contract_id))).all()
    assert sorted(stored) == sorted(good)
    assert await count(rt, ContractStatusEvent) == len(good)


async def test_a_clean_batch_takes_one_savepoint_per_run_not_per_row(rt: Runtime) -> None:
    rows = 2 * RUN_SIZE + 1
    for _ in range(rows):
        await store(rt, Event(UPDATE, contract(next_id())))
    savepoints: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.upper().startswith("SAVEPOINT"):
            savepoints.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        result = await process_batch(rt, await shop_id_of(rt))
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)
    assert result.outcomes == {InboxStatus.HANDLED: rows}
    assert len(savepoints) == 3  # runs of 25, 25 and 1
    assert await count(rt, ContractStatusEvent) == rows


async def test_a_redaction_in_a_run_scrubs_the_rows_handled_before_it(rt: Runtime) -> None:
    cid, customer_id = next_id(), next_id()
    await store(rt, Event(CREATE, contract(cid, customer_id)))
    update = await store(rt, Event("customers/update", customer(customer_id), at=T0 + DAY / 2))
    await store(rt, Event("customers/redact", customer_redact(customer_id), at=T0 + DAY))

    result = await process_batch(rt, await shop_id_of(rt))

    assert result.outcomes == {InboxStatus.HANDLED: 3}
    row = await inbox_row(rt, update)  # handled in the same run, before the redaction
    assert row is not None and f"customer{customer_id}@example.com" not in json.dumps(row.payload)


async def count_statements(rt: Runtime, shop_id: int) -> tuple[BatchResult, list[str]]:
    """One batch of the shop, and the statements it ran."""
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        result = await process_batch(rt, shop_id)
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)
    return result, statements


async def test_order_events_of_a_batch_are_applied_in_one_run_whatever_their_number(
    rt: Runtime,
) -> None:
    cid, origin = next_id(), next_id()
    await deliver(rt, Event(CREATE, contract(cid, origin_order_id=origin)))
    orders = [origin, *(next_id() for _ in range(2 * RUN_SIZE))]
    for order_id in orders:
        await store(rt, Event("orders/create", order(order_id), at=T0))
        await store(rt, Event("orders/fulfilled", order(order_id, fulfilled_at=T0 + DAY)))
        await store(rt, Event(SCAN, fulfillment_event(next_id(), order_id, happened_at=T0 + DAY)))

    result, statements = await count_statements(rt, await shop_id_of(rt))

    assert result.outcomes == {InboxStatus.HANDLED: 3 * len(orders)}
    # Claim, shop, the run's statements and marks: a few dozen, not a few per row.
    assert len(statements) < 30 < 3 * len(orders)
    async with rt.sessionmaker() as session:
        stored = (await session.execute(select(Order.order_id, Order.delivered_at))).all()
        linked = await session.scalar(select(Order.contract_pk).where(Order.order_id == origin))
    assert sorted(stored) == sorted((order_id, T0 + DAY) for order_id in orders)
    assert linked is not None


async def test_a_failing_run_of_order_events_is_applied_again_row_by_row(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = RUN_HANDLERS["orders/create"]
    bad = next_id()

    async def fails_for_one_order(tx: Any, runtime: Any, shop: Any, rows: Any) -> list[str]:
        statuses = await real(tx, runtime, shop, rows)
        await tx.session.flush()  # its effects reached the database before it broke
        if any(row.payload["id"] == bad for row in rows):
            raise RuntimeError("boom")
        return statuses

    for topic in ("orders/create", "orders/fulfilled"):
        monkeypatch.setitem(RUN_HANDLERS, topic, fails_for_one_order)
    good = [next_id() for _ in range(5)]
    ids = [await store(rt, Event("orders/create", order(order_id))) for order_id in good[:2]]
    failing = await store(rt, Event("orders/create", order(bad)))
    ids += [await store(rt, Event("orders/create", order(order_id))) for order_id in good[2:]]

    result = await process_batch(rt, await shop_id_of(rt))

    assert result.outcomes == {InboxStatus.HANDLED: len(good), InboxStatus.PENDING: 1}
    rows = [await inbox_row(rt, inbox_id) for inbox_id in ids]
    assert {(r.status, r.attempts) for r in rows if r} == {(InboxStatus.HANDLED, 1)}
    failed = await inbox_row(rt, failing)
    assert failed is not None and failed.last_error == "RuntimeError: boom"
    async with rt.sessionmaker() as session:
        stored = (await session.scalars(select(Order.order_id))).all()
    assert sorted(stored) == sorted(good)


async def test_an_event_that_came_before_its_contract_is_due_once_the_contract_is_handled(
    rt: Runtime,
) -> None:
    cid = next_id()
    early = await store(rt, Event(ATTEMPT, billing_attempt(next_id(), cid, order_id=next_id())))
    other = await store(rt, Event(ATTEMPT, billing_attempt(next_id(), next_id())))
    shop_id = await shop_id_of(rt)
    await process_batch(rt, shop_id)
    waiting = await inbox_row(rt, early)
    assert waiting is not None and waiting.retry_at is not None
    assert waiting.last_error == describe(ContractNotYetKnown(cid))

    await store(rt, Event(CREATE, contract(cid)))
    result = await process_batch(rt, shop_id)  # the contract, which makes its event due
    assert result.outcomes == {InboxStatus.HANDLED: 1}
    result = await process_batch(rt, shop_id)
    assert result.outcomes == {InboxStatus.HANDLED: 1}
    handled, still = await inbox_row(rt, early), await inbox_row(rt, other)
    assert handled is not None and handled.status == InboxStatus.HANDLED
    # Waiting for a contract that has not come: its retry time stands.
    assert still is not None and still.status == InboxStatus.PENDING
    assert still.retry_at is not None and still.retry_at > utcnow()


async def test_billing_attempts_of_a_batch_are_applied_in_one_run_whatever_their_number(
    rt: Runtime,
) -> None:
    cid = next_id()
    await deliver(rt, Event(CREATE, contract(cid)))
    renewals = [(next_id(), next_id()) for _ in range(2 * RUN_SIZE)]
    for k, (attempt_id, order_id) in enumerate(renewals):
        due = T0 + (k + 1) * DAY
        # A challenge, its success, and the success delivered twice: one attempt in the end.
        await store(rt, Event(CHALLENGED, billing_attempt(attempt_id, cid), at=due))
        success = Event(ATTEMPT, billing_attempt(attempt_id, cid, order_id=order_id), at=due)
        await store(rt, success)
        await store(rt, success)

    result, statements = await count_statements(rt, await shop_id_of(rt))

    assert result.outcomes == {InboxStatus.HANDLED: 3 * len(renewals)}
    # Claim, shop, the run's statements and marks: a few dozen, not a few per row.
    assert len(statements) < 30 < 3 * len(renewals)
    async with rt.sessionmaker() as session:
        attempts = (
            await session.execute(
                select(BillingAttempt.attempt_id, BillingAttempt.status, BillingAttempt.order_id)
            )
        ).all()
        orders = (await session.execute(select(Order.order_id, Order.contract_pk))).all()
    assert sorted(attempts) == sorted((a, "success", o) for a, o in renewals)
    assert sorted(order_id for order_id, _ in orders) == sorted(o for _, o in renewals)
    assert all(contract_pk is not None for _, contract_pk in orders)


async def test_attempts_of_an_unknown_contract_or_unreadable_are_declined_alone_in_their_run(
    rt: Runtime,
) -> None:
    known, unknown = next_id(), next_id()
    await deliver(rt, Event(CREATE, contract(known)))
    handled = [
        await store(rt, Event(ATTEMPT, billing_attempt(next_id(), known, order_id=next_id())))
        for _ in range(3)
    ]
    early = await store(rt, Event(ATTEMPT, billing_attempt(next_id(), unknown)))
    nameless = billing_attempt(next_id(), known) | {"id": None, "idempotency_key": None}
    malformed = await store(rt, Event(ATTEMPT, nameless | {"admin_graphql_api_id": None}))
    handled.append(await store(rt, Event(ATTEMPT, billing_attempt(next_id(), known))))

    result, statements = await count_statements(rt, await shop_id_of(rt))

    assert result.outcomes == {
        InboxStatus.HANDLED: len(handled),
        InboxStatus.PENDING: 1,
        InboxStatus.FAILED: 1,
    }
    # One run: no savepoint per row, as when a run is undone and its rows applied alone.
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 1
    assert {(r.status, r.attempts) for i in handled if (r := await inbox_row(rt, i))} == {
        (InboxStatus.HANDLED, 1)
    }
    waiting = await inbox_row(rt, early)
    assert waiting is not None and waiting.last_error == describe(ContractNotYetKnown(unknown))
    assert waiting.retry_at is not None
    refused = await inbox_row(rt, malformed)
    assert refused is not None and "no id, idempotency_key or order_id" in (
        refused.last_error or ""
    )
    assert await count(rt, BillingAttempt) == len(handled)


async def test_new_contracts_of_a_batch_are_created_in_one_run_whatever_their_number(
    rt: Runtime,
) -> None:
    origins = [next_id() for _ in range(2 * RUN_SIZE)]
    for order_id in origins:
        await store(rt, Event("orders/create", order(order_id), at=T0))
    await process_batch(rt, await shop_id_of(rt))
    contracts = [next_id() for _ in origins]
    for contract_id, order_id in zip(contracts, origins, strict=True):
        await store(rt, Event(CREATE, contract(contract_id, next_id(), origin_order_id=order_id)))

    result, statements = await count_statements(rt, await shop_id_of(rt))

    assert result.outcomes == {InboxStatus.HANDLED: len(contracts)}
    # Claim, shop, the run's statements and marks: a few dozen, not a few per row.
    assert len(statements) < 30 < 3 * len(contracts)
    async with rt.sessionmaker() as session:
        linked = (
            await session.execute(
                select(Order.order_id, Contract.contract_id).join(
                    Contract, Contract.id == Order.contract_pk
                )
            )
        ).all()
    assert sorted(linked) == sorted(zip(origins, contracts, strict=True))
    assert await count(rt, ContractStatusEvent) == len(contracts)


def test_a_stretch_applies_new_contracts_first_and_attempts_and_orders_after_the_others() -> None:
    def row(inbox_id: int, topic: str, minutes: int) -> WebhookInbox:
        return WebhookInbox(
            id=inbox_id,
            topic=topic,
            payload={},
            triggered_at=T0 + timedelta(minutes=minutes),
            received_at=T0,
        )

    rows = [
        row(1, "orders/create", 1),
        row(2, ATTEMPT, 2),
        row(3, "subscription_contracts/cancel", 3),
        row(4, CREATE, 4),
        row(5, "customers/redact", 5),  # reads which rows are handled: a stretch ends here
        row(6, SCAN, 6),
        row(7, CREATE, 7),
        row(8, "subscription_billing_cycles/skip", 8),
        row(9, CHALLENGED, 9),
    ]
    assert [r.id for r in arranged(list(reversed(rows)))] == [4, 3, 2, 1, 5, 7, 8, 9, 6]
