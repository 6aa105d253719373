"""Idempotent row writes on business keys, the same way on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Base

M = TypeVar("M", bound=Base)


async def insert_if_absent(
    session: AsyncSession, model: type[Base], values: dict[str, Any], key: Sequence[str]
) -> bool:
    """INSERT … ON CONFLICT (key) DO NOTHING; True when this call created the row.

    Concurrent writers of the same key wait for each other instead of failing, so two workers
    processing events of one contract never collide on its insert.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(model.__table__.c[key[0]])
    )
    result = await session.execute(stmt)
    return result.first() is not None


async def locked(session: AsyncSession, query: Select[M]) -> M | None:
    """The row `query` selects, locked for this transaction and freshly loaded.

    populate_existing: an object already in the session is refreshed from the locked row rather
    than returned with values read before the lock was taken.
    """
    result = await session.execute(
        query.with_for_update().execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def locked_one(session: AsyncSession, query: Select[M]) -> M:
    """Like `locked`, for a row known to exist (e.g. just inserted if absent)."""
    result = await session.execute(
        query.with_for_update().execution_options(populate_existing=True)
    )
    return result.scalar_one()
