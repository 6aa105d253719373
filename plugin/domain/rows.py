"""Idempotent row writes on business keys, the same way on PostgreSQL and SQLite.

Statements that run for every event are built once (`lock` at import time, `insert_if_absent`
per shape) and executed with parameters: building and hashing a statement costs more than
running it on SQLite, and it spares PostgreSQL's path the same work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Base

M = TypeVar("M", bound=Base)

# INSERT … ON CONFLICT DO NOTHING RETURNING, per (dialect, table, columns given, key).
_inserts: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...]], Insert] = {}


def _insert_statement(
    dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> Insert:
    cache_key = (dialect, table, columns, key)
    statement = _inserts.get(cache_key)
    if statement is None:
        unknown = [name for name in columns if name not in table.c]
        if unknown:
            raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # No .values(): the parameters name the columns, so one statement serves every call.
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(table.c[key[0]])
        )
        _inserts[cache_key] = statement
    return statement


async def insert_if_absent(
    session: AsyncSession, model: type[Base], values: dict[str, Any], key: Sequence[str]
) -> bool:
    """INSERT … ON CONFLICT (key) DO NOTHING; True when this call created the row.

    Concurrent writers of the same key wait for each other instead of failing, so two workers
    processing events of one contract never collide on its insert.
    """
    table: Table = model.__table__  # type: ignore[assignment]
    statement = _insert_statement(session.get_bind().dialect.name, table, tuple(values), tuple(key))
    result = await session.execute(statement, values)
    return result.first() is not None


# INSERT … ON CONFLICT DO NOTHING RETURNING the ORM entity, per (dialect, model, key).
_entity_inserts: dict[tuple[str, type[Base], tuple[str, ...]], Insert] = {}


async def insert_returning(
    session: AsyncSession, model: type[M], values: dict[str, Any], key: Sequence[str]
) -> M | None:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING the row: the new row as an object of the
    session when this call created it (in one statement, and locked as any row this
    transaction wrote), None when the key was taken."""
    dialect = session.get_bind().dialect.name
    cache_key = (dialect, model, tuple(key))
    statement = _entity_inserts.get(cache_key)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _entity_inserts[cache_key] = (
            insert(model).on_conflict_do_nothing(index_elements=list(key)).returning(model)
        )
    result = await session.execute(statement, values)
    return result.scalar_one_or_none()


def lock(query: Select[M]) -> Select[M]:
    """`query` as `locked` runs it (FOR NO KEY UPDATE, populate_existing), to build once and run
    with `fetch_locked`.

    NO KEY: we never change a locked row's key, and the weaker lock leaves foreign-key checks
    of other transactions (a recompute storing scores that reference the subscriber, a status
    event referencing the contract) free instead of queued behind the whole inbox batch.
    """
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)


async def fetch_locked(
    session: AsyncSession, statement: Select[M], params: Mapping[str, Any]
) -> M | None:
    """The row a statement built by `lock` selects with these parameters, locked and fresh."""
    result = await session.execute(statement, params)
    return result.scalar_one_or_none()


async def fetch_locked_one(
    session: AsyncSession, statement: Select[M], params: Mapping[str, Any]
) -> M:
    """Like `fetch_locked`, for a row known to exist (e.g. just inserted if absent)."""
    result = await session.execute(statement, params)
    return result.scalar_one()


async def locked(session: AsyncSession, query: Select[M]) -> M | None:
    """The row `query` selects, locked for this transaction and freshly loaded.

    populate_existing: an object already in the session is refreshed from the locked row rather
    than returned with values read before the lock was taken.
    """
    result = await session.execute(lock(query))
    return result.scalar_one_or_none()


async def locked_one(session: AsyncSession, query: Select[M]) -> M:
    """Like `locked`, for a row known to exist (e.g. just inserted if absent)."""
    result = await session.execute(lock(query))
    return result.scalar_one()
