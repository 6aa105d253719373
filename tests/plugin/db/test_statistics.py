"""Planner statistics of fast-grown tables: analyzed once they have doubled since their last
analysis (and changed by at least MIN_CHANGED_ROWS rows), one check at a time, not on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from plugin.db.engine import make_engine
from plugin.db.statistics import _LOCK_NAMESPACE, MIN_CHANGED_ROWS, refresh_stale_statistics
from plugin.models import Shop, Subscriber
from plugin.models.base import utcnow
from tests.support import servers

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """A database of its own: the shared one carries other tests' changes in its statistics."""
    with servers.migrated_database() as url:
        yield url


@pytest.fixture
async def engine(fresh_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(fresh_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def add_subscribers(engine: AsyncEngine, count: int, first: int) -> None:
    async with engine.begin() as conn:
        shop_id = await conn.scalar(text("SELECT id FROM shops"))
        if shop_id is None:
            shop_id = await conn.scalar(
                insert(Shop).values(domain="stats.myshopify.com").returning(Shop.id)
            )
        await conn.execute(
            insert(Subscriber),
            [
                {"shop_id": shop_id, "customer_id": first + n, "first_seen_at": utcnow()}
                for n in range(count)
            ],
        )
        # Counts reach the statistics views when the backend goes idle, at most once a second
        # unless forced: forced here, so the check right after sees them.
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))


async def estimated_rows(engine: AsyncEngine, table: str) -> float:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
        )
    return float(found)


async def test_a_table_grown_from_nothing_is_analyzed_once(engine: AsyncEngine) -> None:
    await add_subscribers(engine, MIN_CHANGED_ROWS + 500, first=1)
    assert await estimated_rows(engine, "subscribers") <= 0  # never analyzed: planned as empty
    assert await refresh_stale_statistics(engine) == ["subscribers"]
    assert await estimated_rows(engine, "subscribers") == MIN_CHANGED_ROWS + 500
    assert await refresh_stale_statistics(engine) == []  # fresh now: nothing to do

    # Grown by less than it held at its analysis: left to autovacuum's own pace.
    await add_subscribers(engine, MIN_CHANGED_ROWS, first=10**6)
    assert await refresh_stale_statistics(engine) == []
    # Doubled since: analyzed again.
    await add_subscribers(engine, 600, first=2 * 10**6)
    assert await refresh_stale_statistics(engine) == ["subscribers"]
    assert await estimated_rows(engine, "subscribers") == 2 * MIN_CHANGED_ROWS + 1100


async def test_a_check_under_way_elsewhere_is_not_repeated(engine: AsyncEngine) -> None:
    await add_subscribers(engine, MIN_CHANGED_ROWS, first=1)
    async with engine.begin() as other:
        await other.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": _LOCK_NAMESPACE})
        assert await refresh_stale_statistics(engine) == []
    assert await refresh_stale_statistics(engine) == ["subscribers"]


async def test_sqlite_keeps_no_such_statistics(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert await refresh_stale_statistics(engine) == []
    finally:
        await engine.dispose()
