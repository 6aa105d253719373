"""Cross-process locks on one key: PostgreSQL advisory locks held by a connection of their own.

SQLite has none and needs none: its single writer serialises transactions, and the demo and
laptops run one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@contextlib.asynccontextmanager
async def advisory_lock(
    engine: AsyncEngine, namespace: int, key: int, *, wait: bool
) -> AsyncIterator[bool]:
    """Hold the lock (namespace, key) while the block runs; yields False when `wait` is False
    and another session holds it. A process that dies releases it with its connection."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn:
        args = {"ns": namespace, "key": key % 2**31}
        if wait:
            await conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), args)
            got = True
        else:
            got = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"), args)).scalar()
            )
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), args)
                await conn.commit()
