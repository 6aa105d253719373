"""Inbox insert: store one accepted delivery, exactly once per (shop, webhook id).

The inbox is the durable log of every event (Redis is only a wake-up). Two entry points, both
knowing nothing about HTTP:
- `record_delivery(session, delivery)` inside the caller's transaction (tests, backfill);
- `InboxWriter`, owned by the runtime: `store(delivery)` in a transaction of its own (the
  webhook endpoint's path) and `record(session, delivery)` (the demo), both with a shop-id
  cache and, on PostgreSQL, many deliveries per INSERT.

Every insert re-checks in the same statement that the cached shop id still belongs to that
domain (a shop can be erased by `shop/redact`, and SQLite may then hand its id to a new shop).
A cache miss, a stale entry and a duplicate delivery all take the slow path: look the shop up
(creating it if Shopify-managed install sends webhooks before the merchant first opens the
app), insert again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, String, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool

from plugin.batching import Coalescer
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.models.base import JsonDoc, UtcDateTime, utcnow

log = logging.getLogger(__name__)

# Enough for every shop a single deployment serves; beyond it the oldest entries are dropped.
_SHOP_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as Shopify sent it (or as the demo generates it)."""

    shop_domain: str  # normalised: lower-case `*.myshopify.com`
    topic: str
    webhook_id: str  # per delivery: the duplicate key
    event_id: str | None  # per event: shared by re-deliveries of the same event
    api_version: str | None
    triggered_at: datetime | None  # aware UTC, when the event fired
    payload: dict[str, Any]
    # The payload as JSON text when the caller holds it already (the verified webhook body):
    # PostgreSQL stores it as is, sparing a re-serialisation of bodies that can exceed 1 MB.
    payload_json: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Stored:
    """A delivery the inbox took: its row and its shop (the wake-up names the shop)."""

    inbox_id: int
    shop_id: int


async def ensure_shop(session: AsyncSession, domain: str) -> int:
    """The id of the shop with this (normalised) domain, creating the row if it is new.

    Race-safe: two first deliveries for one shop both insert with ON CONFLICT DO NOTHING; the
    loser waits for the winner's commit and then reads its row.
    """
    shops = Shop.__table__
    lookup = select(shops.c.id).where(shops.c.domain == domain)
    shop_id = (await session.execute(lookup)).scalar_one_or_none()
    if shop_id is not None:
        return int(shop_id)
    insert = _dialect_insert(session)(shops).values(domain=domain)
    created = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["domain"]).returning(shops.c.id)
    )
    shop_id = created.scalar_one_or_none()
    if shop_id is None:
        shop_id = (await session.execute(lookup)).scalar_one()
    return int(shop_id)


async def record_delivery(session: AsyncSession, delivery: Delivery) -> Stored | None:
    """Insert the delivery's inbox row in the caller's transaction; None when it is already
    stored. Without a cache: the shop is looked up (or created) every time."""
    shop_id = await ensure_shop(session, delivery.shop_domain)
    inbox_id = await _insert(session, shop_id, delivery)
    return None if inbox_id is None else Stored(inbox_id, shop_id)


class InboxWriter:
    """The inbox's writer for one engine, owned by the process's runtime: its shop-id cache,
    its PostgreSQL insert batcher and its limit on session-path inserts live and die with it
    (tests and the demo build several runtimes in one process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._shops: dict[str, int] = {}
        self._batcher: Coalescer[_PgItem, int | None] | None = None
        size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
        # At most the pool's steady size of session-path deliveries at once. Beyond it the
        # pool opens overflow connections and closes them again on return: in a burst (the
        # first deliveries of a new shop, a retry storm) that churn (connect, TLS probe, codec
        # set-up) costs more than everything else together.
        self._slots = asyncio.Semaphore(max(size, 1))

    async def record(self, session: AsyncSession, delivery: Delivery) -> Stored | None:
        """`record_delivery` with the shop-id cache: one statement for a known shop."""
        domain = delivery.shop_domain
        shop_id = self._shops.get(domain)
        if shop_id is not None:
            inbox_id = await _insert(session, shop_id, delivery)
            if inbox_id is not None:
                return Stored(inbox_id, shop_id)
            # A duplicate, or the cached shop is gone: the slow path below tells them apart.
            self._shops.pop(domain, None)
        shop_id = await ensure_shop(session, domain)
        inbox_id = await _insert(session, shop_id, delivery)
        self._remember(domain, shop_id)
        return None if inbox_id is None else Stored(inbox_id, shop_id)

    async def store(self, delivery: Delivery) -> Stored | None:
        """`record` in a transaction of its own: committed when this returns.

        The webhook endpoint's path. On PostgreSQL, deliveries for known shops arriving
        together share one INSERT sent straight to the driver (see `_PG_BATCH_INSERT`);
        anything it does not settle (a new shop, a duplicate, a stale cache entry, a value the
        batch refused) and every delivery on SQLite goes through `record` in a session of its
        own.
        """
        shop_id = self._shops.get(delivery.shop_domain)
        if shop_id is not None and self._engine.dialect.name == "postgresql":
            try:
                inbox_id = await self._pg_batcher().submit((shop_id, delivery))
            except DBAPIError as exc:
                if not is_data_error(exc):
                    raise
                inbox_id = None  # one bad value fails its batch; alone, only its own fails
            if inbox_id is not None:
                return Stored(inbox_id, shop_id)
        async with (
            self._slots,
            AsyncSession(self._engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            return await self.record(session, delivery)

    def _remember(self, domain: str, shop_id: int) -> None:
        # Safe even if the caller's transaction rolls back: every insert re-checks id and
        # domain together.
        if domain not in self._shops and len(self._shops) >= _SHOP_CACHE_SIZE:
            self._shops.pop(next(iter(self._shops)))
        self._shops[domain] = shop_id

    def _pg_batcher(self) -> Coalescer[_PgItem, int | None]:
        if self._batcher is None:
            self._batcher = Coalescer(
                _pg_insert_batch,
                max_batch=_PG_BATCH_SIZE,
                max_in_flight=_PG_BATCHES_IN_FLIGHT,
                # One pooled connection for a run of back-to-back batches: under load the
                # pool's checkout and liveness ping are paid once per run, not once per batch.
                open_session=self._engine.connect,
            )
        return self._batcher


def is_data_error(exc: DBAPIError) -> bool:
    """The database refused a value (SQLSTATE class 22), as opposed to failing itself."""
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return isinstance(exc, DataError) or sqlstate.startswith("22")


async def _insert(session: AsyncSession, shop_id: int, delivery: Delivery) -> int | None:
    params = {
        "shop_id": shop_id,
        "domain": delivery.shop_domain,
        "topic": delivery.topic,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "api_version": delivery.api_version,
        "triggered_at": delivery.triggered_at,
        "received_at": utcnow(),
        "payload": delivery.payload,
        "status": InboxStatus.PENDING,
        "attempts": 0,
    }
    result = await session.execute(_inbox_insert(_dialect(session)), params)
    inbox_id = result.scalar_one_or_none()
    return None if inbox_id is None else int(inbox_id)


def _payload_json(delivery: Delivery) -> str:
    if delivery.payload_json is not None:
        return delivery.payload_json
    return json.dumps(delivery.payload, separators=(",", ":"))


_INSERT_COLUMNS = (
    "topic",
    "webhook_id",
    "event_id",
    "api_version",
    "triggered_at",
    "received_at",
    "payload",
    "status",
    "attempts",
)
_statements: dict[str, Insert] = {}


def _inbox_insert(dialect: str) -> Insert:
    """INSERT … SELECT FROM shops WHERE id AND domain match … ON CONFLICT DO NOTHING RETURNING id.

    Built once per dialect with named parameters, so each request only binds values.
    """
    statement = _statements.get(dialect)
    if statement is not None:
        return statement
    inbox, shops = WebhookInbox.__table__, Shop.__table__
    types: dict[str, Any] = {
        "triggered_at": UtcDateTime(),
        "received_at": UtcDateTime(),
        "payload": JsonDoc,
        "attempts": inbox.c.attempts.type,
    }
    values = [bindparam(name, type_=types.get(name, String())) for name in _INSERT_COLUMNS]
    source = select(shops.c.id, *values).where(
        shops.c.id == bindparam("shop_id"), shops.c.domain == bindparam("domain")
    )
    statement = (
        _INSERTS[dialect](inbox)
        .from_select(["shop_id", *_INSERT_COLUMNS], source)
        .on_conflict_do_nothing(index_elements=["shop_id", "webhook_id"])
        .returning(inbox.c.id)
    )
    _statements[dialect] = statement
    return statement


# Many deliveries in one statement: each row is stored only if its cached shop id still belongs
# to its domain; RETURNING tells which rows were new. Rows not returned are duplicates or stale
# cache entries, and `InboxWriter.store` settles them one by one.
_PG_BATCH_INSERT = """
INSERT INTO webhook_inbox (shop_id, topic, webhook_id, event_id, api_version, triggered_at,
                           received_at, payload, status, attempts)
SELECT shops.id, d.topic, d.webhook_id, d.event_id, d.api_version, d.triggered_at,
       $8::timestamptz, d.payload::jsonb, $9::varchar, 0
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $10::text[])
     AS d(shop_id, domain, topic, webhook_id, event_id, api_version, triggered_at, payload)
JOIN shops ON shops.id = d.shop_id AND shops.domain = d.domain
ON CONFLICT (shop_id, webhook_id) DO NOTHING
RETURNING id, shop_id, webhook_id
"""
# Concurrent batches per engine (each holds one pooled connection while it runs), deliveries
# per batch, and JSON text per statement (bodies can exceed 1 MB each).
_PG_BATCHES_IN_FLIGHT = 2
_PG_BATCH_SIZE = 128
_PG_BATCH_BYTES = 8 * 1024 * 1024

_PgItem = tuple[int, Delivery]  # (cached shop id, delivery)


async def _pg_insert_batch(conn: AsyncConnection, items: list[_PgItem]) -> list[int | None]:
    """Insert `items`; for each, its new inbox id or None (not stored by this statement)."""
    rows = [(shop_id, d, _payload_json(d)) for shop_id, d in items]
    inserted: dict[tuple[int, str], int] = {}
    for chunk in _by_size(rows):
        inserted.update(await _pg_execute_batch(conn, chunk))
    # Two copies of one delivery in a batch: the first gets the row, the second is a duplicate.
    return [inserted.pop((shop_id, d.webhook_id), None) for shop_id, d in items]


_PgRow = tuple[int, Delivery, str]  # shop id, delivery, payload as JSON text


def _by_size(rows: list[_PgRow]) -> list[list[_PgRow]]:
    chunks: list[list[_PgRow]] = [[]]
    size = 0
    for row in rows:
        if chunks[-1] and size + len(row[2]) > _PG_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row[2])
    return chunks


async def _pg_execute_batch(
    conn: AsyncConnection, rows: list[_PgRow]
) -> dict[tuple[int, str], int]:
    arguments = (
        [shop_id for shop_id, _, _ in rows],
        [d.shop_domain for _, d, _ in rows],
        [d.topic for _, d, _ in rows],
        [d.webhook_id for _, d, _ in rows],
        [d.event_id for _, d, _ in rows],
        [d.api_version for _, d, _ in rows],
        [d.triggered_at for _, d, _ in rows],
        utcnow(),
        InboxStatus.PENDING,
        [payload for _, _, payload in rows],
    )
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("the pooled connection has no driver connection")
    try:
        returned = await driver.fetch(_PG_BATCH_INSERT, *arguments)
    except Exception as exc:
        sqlstate = str(getattr(exc, "sqlstate", None) or "")
        if not sqlstate.startswith(("22", "23")):
            # Not a refused value: the connection may be broken; do not pool it again.
            await conn.invalidate()
        # Raised as SQLAlchemy would, so callers handle one family of database errors.
        raise DBAPIError(_PG_BATCH_INSERT, None, exc) from exc
    return {(r["shop_id"], r["webhook_id"]): r["id"] for r in returned}


_INSERTS: dict[str, Callable[..., Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _dialect(session: AsyncSession) -> str:
    name = session.get_bind().dialect.name
    if name not in _INSERTS:
        raise RuntimeError(f"the inbox needs PostgreSQL or SQLite, not {name}")
    return name


def _dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    return _INSERTS[_dialect(session)]
