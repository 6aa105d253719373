"""Planner statistics of tables that grew fast: refreshed by the worker, not left to autovacuum.

A new shop's import or a billing day can grow a table from nothing to tens of thousands of
rows in seconds. Until it is analyzed, PostgreSQL plans every statement on the table as it
was: a look-up by (shop, key) becomes a scan of the shop's rows with a filter, once per
statement. Autovacuum analyzes such a table only on its next round (a minute apart by default,
later on a busy server), and the inbox drain measured 10-15 % slower for it
(`docs/benchmarks.md`, Worker). So the drain asks for this check after each time slice: a
table changed by at least as many rows as it held at its last analysis (and by at least
`MIN_CHANGED_ROWS`) is analyzed now. The doubling rule keeps it to a few analyses per table
over its life; in steady state autovacuum's own thresholds come first.

SQLite keeps no statistics of this kind: nothing to do there.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from plugin.db.locks import advisory_lock
from plugin.models import Base

log = logging.getLogger(__name__)

# Below this many changed rows a plan on stale statistics costs too little to matter.
MIN_CHANGED_ROWS = 1000
_LOCK_NAMESPACE = 0x5653  # advisory lock of the check, one per database at a time

# reltuples is -1 (PostgreSQL 14+) or 0 for a table never analyzed.
_STALE = text(
    """
    SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema() AND s.relname IN :names
      AND s.n_mod_since_analyze >= GREATEST(:min_rows, c.reltuples)
    ORDER BY s.relname
    """
).bindparams(bindparam("names", expanding=True))


async def refresh_stale_statistics(engine: AsyncEngine) -> list[str]:
    """Analyze our tables whose statistics are stale by the rule above; the tables analyzed.
    One check at a time per database: a caller that finds another at it returns at once."""
    if engine.dialect.name != "postgresql":
        return []
    names = sorted(Base.metadata.tables)
    async with advisory_lock(engine, _LOCK_NAMESPACE, 0, wait=False) as held:
        if not held:
            return []
        async with engine.begin() as conn:
            stale = list(
                (
                    await conn.execute(_STALE, {"names": names, "min_rows": MIN_CHANGED_ROWS})
                ).scalars()
            )
            if stale:
                quote = conn.dialect.identifier_preparer.quote
                await conn.execute(text("ANALYZE " + ", ".join(quote(name) for name in stale)))
    if stale:
        log.info("analyzed tables grown past their statistics: %s", ", ".join(stale))
    return stale
