"""Recompute one shop: load its history, run the value engine, store snapshots and scores.

    outcome = await recompute_shop_now(runtime, shop_id)

One load (one consistent read) feeds every engine run of the recompute: today's figures, and
the month-end figures of past months that have no complete snapshot yet (up to
`BACKFILL_MONTHS` back, `BACKFILL_PER_RUN` per recompute, newest first), so a newly installed
shop soon has trends and review figures for its past year. The engine runs in a worker
thread so the event loop keeps serving; at most `MAX_CONCURRENT` recomputes run per process,
and on PostgreSQL one shop is recomputed by one process at a time (an advisory lock): a big
shop holds a lot of memory while it is scored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from threadpoolctl import threadpool_limits

from plugin.db.locks import advisory_lock
from plugin.db.transaction import transaction
from plugin.metrics import RECOMPUTE_DURATION
from plugin.models import (
    CancelReasonOption,
    Contract,
    MetricSnapshot,
    Shop,
    ShopRecomputeState,
)
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.scoring.history import InputsAsOf, inputs_as_of
from plugin.scoring.loaders import LoadedShop, load_history
from plugin.scoring.localtime import day_end, day_number, local_today, shop_zone
from plugin.scoring.metrics_doc import OverviewDoc, build_overview
from plugin.scoring.shop_settings import ValueSettings, value_settings
from plugin.scoring.store import (
    DAY,
    LATEST,
    MONTH,
    ScoresStored,
    SnapshotRow,
    claim_store,
    record_run,
    store_scores,
    store_snapshots,
)
from plugin.surveys.i18n import reason_label
from plugin.value import DEFAULT_REASONS, EngineSettings, ShopResults, score_shop
from plugin.value.reasons import SYSTEM_REASONS

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKFILL_MONTHS = 12
# Month-ends filled in per recompute: each is one more engine run, so a new shop's history
# fills in over its first few recomputes instead of making the first one slow.
BACKFILL_PER_RUN = 3
MAX_CONCURRENT = 1
# Clock difference tolerated between the process that asked and the one that recomputes.
CLOCK_MARGIN = timedelta(seconds=2)
_SLOTS_KEY = "recompute_slots"
# Connections a PostgreSQL load reads on side by side (one snapshot): the server scans
# the event tables on two cores while this process decodes what arrived.
LOAD_CONNECTIONS = 2
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
_LOCK_NAMESPACE = 0x5648  # "VH": advisory locks of recomputes, (namespace, shop id)


class ShopNotFound(LookupError):
    """No shop with that id or domain."""


@dataclass(frozen=True)
class ShopFacts:
    id: int
    domain: str
    timezone: str
    currency: str
    locale: str
    value: ValueSettings
    # Installed with an offline token: the scores can be written to Shopify afterwards.
    reaches_shopify: bool = False


@dataclass(frozen=True)
class RecomputeOutcome:
    """What a recompute did. stored is False when a newer result was already stored."""

    shop_id: int
    as_of: date
    read_at: datetime
    stored: bool
    subscribers: int
    months: tuple[str, ...]
    overview: OverviewDoc
    seconds: dict[str, float] = field(default_factory=dict)
    reaches_shopify: bool = False
    # Score rows written (new or changed) and removed; None when nothing was stored.
    scores: ScoresStored | None = None


def engine_settings(value: ValueSettings, reasons: Any) -> EngineSettings:
    return EngineSettings(
        margin=value.margin, annual_discount_rate=value.annual_discount_rate, reasons=reasons
    )


def _month_end(first: date) -> date:
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _previous_months(as_of: date, count: int) -> list[date]:
    """First days of the `count` complete months before `as_of`'s month, oldest first."""
    months: list[date] = []
    first = as_of.replace(day=1)
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return months[::-1]


async def _shop_facts(runtime: Runtime, shop_id: int) -> ShopFacts | None:
    async with runtime.sessionmaker() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            return None
        return ShopFacts(
            shop.id,
            shop.domain,
            shop.timezone or "UTC",
            shop.currency or "USD",
            shop.locale or "en",
            value_settings(shop),
            shop.access_token_enc is not None and shop.uninstalled_at is None,
        )


async def _months_to_backfill(
    runtime: Runtime, shop: ShopFacts, as_of: date, zone: Any, limit: int
) -> list[date]:
    """First days of the newest `limit` complete months (of the last BACKFILL_MONTHS, since
    the shop's first contract) without a snapshot taken after they ended; oldest first."""
    snap = MetricSnapshot.__table__
    async with runtime.sessionmaker() as session:
        first = await session.scalar(
            select(func.min(Contract.started_at)).where(Contract.shop_id == shop.id)
        )
        if first is None or limit <= 0:
            return []
        first_day = local_today(zone, first)
        candidates = [
            m for m in _previous_months(as_of, BACKFILL_MONTHS) if _month_end(m) >= first_day
        ]
        if not candidates:
            return []
        rows = (
            await session.execute(
                select(snap.c.period_start, snap.c.computed_at).where(
                    snap.c.shop_id == shop.id,
                    snap.c.period == MONTH,
                    snap.c.period_start >= candidates[0],
                )
            )
        ).all()
    done = {
        row.period_start
        for row in rows
        if row.computed_at >= day_end(zone, _month_end(row.period_start))
    }
    return [m for m in candidates if m not in done][-limit:]


async def _labels(runtime: Runtime, shop: ShopFacts) -> dict[str, str]:
    """Display labels of every reason code, in the shop's admin language."""
    opt = CancelReasonOption.__table__
    async with runtime.sessionmaker() as session:
        rows = (
            await session.execute(
                select(opt.c.code, opt.c.labels)
                .where(opt.c.shop_id == shop.id)
                .order_by(opt.c.code, opt.c.version)
            )
        ).all()
    overrides = {row.code: row.labels or {} for row in rows}
    codes = set(overrides) | {r.code for r in (*DEFAULT_REASONS, *SYSTEM_REASONS)}
    return {code: reason_label(code, shop.locale, overrides.get(code)) for code in sorted(codes)}


@contextlib.asynccontextmanager
async def shop_lock(runtime: Runtime, shop_id: int, *, wait: bool) -> AsyncIterator[bool]:
    """Hold the shop's recompute lock (PostgreSQL advisory lock; SQLite: always granted, its
    single writer and `claim_store` keep stores ordered). Yields False when `wait` is False
    and another process holds it."""
    async with advisory_lock(runtime.engine, _LOCK_NAMESPACE, shop_id, wait=wait) as got:
        yield got


def _slots(runtime: Runtime) -> asyncio.Semaphore:
    slots = runtime.extras.get(_SLOTS_KEY)
    if slots is None:
        slots = runtime.extras[_SLOTS_KEY] = asyncio.Semaphore(MAX_CONCURRENT)
    return slots  # type: ignore[no-any-return]


async def _load(
    runtime: Runtime, shop: ShopFacts, zone: Any, cutoff: datetime, earliest: datetime
) -> LoadedShop:
    # Deliveries feed a driver over the last `driver_window_days` of each as-of day only.
    since = earliest - timedelta(days=EngineSettings.driver_window_days + 1)
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(runtime.engine.connect())
        helpers: list[AsyncConnection] = []
        if runtime.settings.uses_sqlite:
            await stack.enter_async_context(conn.begin())
            read_at = utcnow()
        else:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            await stack.enter_async_context(conn.begin())
            read_at = utcnow()
            # The helpers read the very snapshot `conn` reads: the tables still agree.
            snapshot = str(await conn.scalar(text("SELECT pg_export_snapshot()")))
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"unexpected snapshot id {snapshot!r}")
            for _ in range(LOAD_CONNECTIONS - 1):
                helper = await stack.enter_async_context(runtime.engine.connect())
                helper = await helper.execution_options(isolation_level="REPEATABLE READ")
                await stack.enter_async_context(helper.begin())
                # SET takes no bind parameters; the id was checked above.
                await helper.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                helpers.append(helper)
        return await load_history(
            conn,
            shop.id,
            zone,
            cutoff,
            earliest,
            shop.value,
            read_at=read_at,
            deliveries_since=since,
            helpers=helpers,
        )
    raise AssertionError("unreachable")  # mypy: the stack could swallow an exception


@dataclass(frozen=True)
class Scored:
    """The engine's output for the as-of day, and the documents of the month-ends."""

    today: InputsAsOf
    results: ShopResults
    overview: OverviewDoc
    month_ends: list[tuple[date, OverviewDoc]]


def _scorer(
    loaded: LoadedShop, shop: ShopFacts, labels: dict[str, str], now: datetime
) -> Callable[[date], tuple[InputsAsOf, ShopResults, OverviewDoc]]:
    """The engine run of one as-of day, on one load (CPU work: call it in a thread)."""
    settings = engine_settings(shop.value, loaded.reasons)

    def run(day: date) -> tuple[InputsAsOf, ShopResults, OverviewDoc]:
        prepared = inputs_as_of(loaded.history, day_number(day))
        results = score_shop(prepared.inputs, day, settings)
        doc = build_overview(
            results,
            shop=shop.domain,
            shop_currency=shop.currency,
            computed_at=now,
            labels=labels,
            driver_window_days=settings.driver_window_days,
            contracts_without_amount=prepared.contracts_without_amount,
        )
        return prepared, results, doc

    return run


def _score(
    loaded: LoadedShop,
    shop: ShopFacts,
    as_of: date,
    month_ends: list[date],
    labels: dict[str, str],
    now: datetime,
) -> Scored:
    """Run the engine for the as-of day and each month-end (CPU work: run in a thread).
    Of a month-end only its document is kept, so one run's arrays are freed before the next."""
    run = _scorer(loaded, shop, labels, now)
    docs = [(day, run(day)[2]) for day in month_ends]
    today, results, overview = run(as_of)
    return Scored(today, results, overview, docs)


def _one_blas_thread(work: Callable[..., T], *args: Any) -> T:
    """Run the engine with BLAS on one thread. Its BLAS calls are small (an sBG fit on two
    parameters, a logistic regression on a few features) and OpenBLAS's threads wait on
    each other: on a busy 2-core machine an sBG fit took 20× longer with its default
    threads. Process-wide while it runs; `MAX_CONCURRENT` engine runs per process."""
    with threadpool_limits(limits=1, user_api="blas"):
        return work(*args)


async def recompute_shop_now(
    runtime: Runtime,
    shop_id: int,
    *,
    now: datetime | None = None,
    wait: bool = True,
    backfill: int = BACKFILL_PER_RUN,
) -> RecomputeOutcome | None:
    """Recompute the shop and store the results, filling in up to `backfill` missing
    month-end snapshots. None when another process is recomputing the shop and `wait` is
    False (the caller retries later). Raises ShopNotFound."""
    shop = await _shop_facts(runtime, shop_id)
    if shop is None:
        raise ShopNotFound(f"no shop with id {shop_id}")
    async with _slots(runtime), shop_lock(runtime, shop_id, wait=wait) as granted:
        if not granted:
            return None
        started = time.perf_counter()
        outcome = await _recompute(runtime, shop, now or utcnow(), backfill)
        RECOMPUTE_DURATION.observe(time.perf_counter() - started)
        return outcome


async def _recompute(
    runtime: Runtime, shop: ShopFacts, now: datetime, backfill: int
) -> RecomputeOutcome:
    started = time.perf_counter()
    zone = shop_zone(shop.timezone)
    as_of = local_today(zone, now)
    months = await _months_to_backfill(runtime, shop, as_of, zone, backfill)
    labels = await _labels(runtime, shop)
    earliest = day_end(zone, _month_end(months[0])) if months else day_end(zone, as_of)
    loaded = await _load(runtime, shop, zone, day_end(zone, as_of), earliest)
    loaded_s = time.perf_counter()

    month_ends = [_month_end(m) for m in months]
    scored = await asyncio.to_thread(
        _one_blas_thread, _score, loaded, shop, as_of, month_ends, labels, now
    )
    scored_s = time.perf_counter()

    today, results, overview = scored.today, scored.results, scored.overview
    snapshots = [
        SnapshotRow(LATEST, as_of, overview),
        SnapshotRow(DAY, as_of, overview),
        SnapshotRow(MONTH, as_of.replace(day=1), overview),
        *(SnapshotRow(MONTH, day.replace(day=1), doc) for day, doc in scored.month_ends),
    ]
    async with transaction(runtime.sessionmaker, None) as tx:
        stored = await claim_store(tx.session, shop.id, loaded.read_at)
        written = None
        if stored:
            await store_snapshots(tx.session, shop.id, now, snapshots)
            written = await store_scores(
                tx.session, shop.id, today.subscriber_ids, results.subscribers, now
            )
            await record_run(
                tx.session,
                shop.id,
                started_at=now,
                read_at=loaded.read_at,
                ms=int((time.perf_counter() - started) * 1000),
            )
    done = time.perf_counter()
    seconds = {
        "load": loaded_s - started,
        "engine": scored_s - loaded_s,
        "store": done - scored_s,
        "total": done - started,
    }
    if not stored:
        log.info("shop %s: a newer recompute is already stored; results dropped", shop.id)
    log.info(
        "shop %s recomputed as of %s: %d subscribers, %d past months, %.2fs "
        "(load %.2fs, engine %.2fs, store %.2fs)",
        shop.id,
        as_of,
        today.subscriber_ids.size,
        len(months),
        seconds["total"],
        seconds["load"],
        seconds["engine"],
        seconds["store"],
    )
    return RecomputeOutcome(
        shop_id=shop.id,
        as_of=as_of,
        read_at=loaded.read_at,
        stored=stored,
        subscribers=int(today.subscriber_ids.size),
        months=tuple(m.strftime("%Y-%m") for m in months),
        overview=overview,
        seconds=seconds,
        reaches_shopify=shop.reaches_shopify,
        scores=written,
    )


async def recompute_due(runtime: Runtime, shop_id: int, window_end: int | None) -> bool:
    """Whether a debounced request made before `window_end` (epoch seconds) still needs a run:
    False once a recompute that read the data after that instant has stored its results."""
    if window_end is None:
        return True
    async with runtime.sessionmaker() as session:
        read_at = await session.scalar(
            select(ShopRecomputeState.computed_at).where(ShopRecomputeState.shop_id == shop_id)
        )
    if read_at is None:
        return True
    return read_at < datetime.fromtimestamp(window_end, UTC) + CLOCK_MARGIN


@dataclass(frozen=True)
class HistoryOutcome:
    """What `snapshot_history` stored: month-end snapshots (by first day of the month) and
    daily snapshots, each computed from the data as of its day."""

    shop_id: int
    months: tuple[date, ...]
    days: tuple[date, ...]
    seconds: dict[str, float] = field(default_factory=dict)


async def snapshot_history(
    runtime: Runtime,
    shop_id: int,
    *,
    days: int,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HistoryOutcome:
    """Compute and store, from the shop's data as it is now, the month-end snapshot of every
    complete month since its first contract and the daily snapshots of the `days` days before
    today, replacing any stored already.

    For a history that arrived all at once (the demo replays two years in minutes): snapshots
    a recompute took meanwhile saw only part of it, and no nightly run was there to take the
    daily ones. One load feeds every as-of day; `progress(done, total)` follows the engine
    runs. Raises ShopNotFound.
    """
    shop = await _shop_facts(runtime, shop_id)
    if shop is None:
        raise ShopNotFound(f"no shop with id {shop_id}")
    now = now or utcnow()
    async with _slots(runtime), shop_lock(runtime, shop_id, wait=True):
        started = time.perf_counter()
        zone = shop_zone(shop.timezone)
        as_of = local_today(zone, now)
        async with runtime.sessionmaker() as session:
            first = await session.scalar(
                select(func.min(Contract.started_at)).where(Contract.shop_id == shop.id)
            )
        if first is None:
            return HistoryOutcome(shop.id, (), ())
        first_day = local_today(zone, first)
        months: list[date] = []
        month = as_of.replace(day=1)
        while True:
            month = (month - timedelta(days=1)).replace(day=1)
            if _month_end(month) < first_day:
                break
            months.append(month)
        months.reverse()
        past_days = [
            day
            for day in (as_of - timedelta(days=k) for k in range(days, 0, -1))
            if day >= first_day
        ]
        as_of_days = sorted({*(_month_end(m) for m in months), *past_days})
        if not as_of_days:
            return HistoryOutcome(shop.id, (), ())
        labels = await _labels(runtime, shop)
        loaded = await _load(
            runtime, shop, zone, day_end(zone, as_of), day_end(zone, as_of_days[0])
        )
        loaded_s = time.perf_counter()

        def score_all() -> dict[date, OverviewDoc]:
            run = _scorer(loaded, shop, labels, now)
            docs: dict[date, OverviewDoc] = {}
            for done, day in enumerate(as_of_days, 1):
                docs[day] = run(day)[2]
                if progress is not None:
                    progress(done, len(as_of_days))
            return docs

        docs = await asyncio.to_thread(_one_blas_thread, score_all)
        scored_s = time.perf_counter()
        snapshots = [
            *(SnapshotRow(MONTH, m, docs[_month_end(m)]) for m in months),
            *(SnapshotRow(DAY, day, docs[day]) for day in past_days),
        ]
        async with transaction(runtime.sessionmaker, None) as tx:
            await store_snapshots(tx.session, shop.id, now, snapshots)
        done_s = time.perf_counter()
    log.info(
        "shop %s: %d month-end and %d daily snapshots computed from its history in %.2fs",
        shop.id,
        len(months),
        len(past_days),
        done_s - started,
    )
    return HistoryOutcome(
        shop.id,
        tuple(months),
        tuple(past_days),
        {
            "load": loaded_s - started,
            "engine": scored_s - loaded_s,
            "store": done_s - scored_s,
            "total": done_s - started,
        },
    )
