"""Idempotent row writes on business keys, the same way on PostgreSQL and SQLite.

Statements that run for every event are built once (`lock` at import time, `insert_if_absent`
per shape) and executed with parameters: building and hashing a statement costs more than
running it on SQLite, and it spares PostgreSQL's path the same work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnDefault,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE

from plugin.models import Base
from plugin.models.base import IdMixin

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=Select[*tuple[Any, ...]])

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
            .returning(table.c[key[-1]])
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


async def insert_all_if_absent(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
) -> set[Any]:
    """`insert_if_absent` for many rows in one statement (a multi-row INSERT on PostgreSQL and
    SQLite alike); the last key column's values of the rows it created. A column some rows
    leave out takes its default in those (`_same_columns`)."""
    if not rows:
        return set()
    table: Table = model.__table__  # type: ignore[assignment]
    uniform = _same_columns(table, rows)
    statement = _insert_statement(
        session.get_bind().dialect.name, table, tuple(uniform[0]), tuple(key)
    )
    result = await session.execute(statement, uniform)
    return set(result.scalars())


# The UPDATE of `write_changed`, per (dialect, table, columns).
_updates: dict[tuple[str, Table, tuple[str, ...]], Update] = {}


async def write_changed(
    session: AsyncSession, objects: Sequence[IdMixin], columns: Sequence[str]
) -> None:
    """Write these columns of the loaded objects changed since they were read, in one UPDATE,
    and take the values as the objects' committed state.

    The unit of work sends one statement per distinct set of changed columns, which for a run
    of rows is nearly one per row. On PostgreSQL the rows' values go as one array per column
    (`UPDATE … FROM unnest(…)`): one statement, planned and run once; an executemany runs the
    UPDATE once per row. SQLite takes the executemany. Other columns' changes are left to the
    flush.
    """
    changed = [obj for obj in objects if _changed(obj, columns)]
    if not changed:
        return
    table = cast(Table, inspect(changed[0]).mapper.local_table)
    dialect = session.get_bind().dialect.name
    statement = _update_statement(dialect, table, tuple(columns))
    values = [{name: getattr(obj, name) for name in columns} for obj in changed]
    if dialect == "postgresql":
        await session.execute(
            statement,
            {
                "row_ids": [obj.id for obj in changed],
                **{f"new_{name}": [row[name] for row in values] for name in columns},
            },
        )
    else:
        await session.execute(
            statement,
            [
                {"row_id": obj.id, **{f"new_{name}": value for name, value in row.items()}}
                for obj, row in zip(changed, values, strict=True)
            ],
        )
    for obj, row in zip(changed, values, strict=True):
        for name, value in row.items():
            set_committed_value(obj, name, value)


def _update_statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Update:
    key = (dialect, table, columns)
    statement = _updates.get(key)
    if statement is not None:
        return statement
    if dialect == "postgresql":
        # unnest of several arrays in one select list zips them (PostgreSQL 10 and later).
        arrays = select(
            func.unnest(bindparam("row_ids", type_=postgresql.ARRAY(table.c.id.type))).label(
                "row_id"
            ),
            *(
                func.unnest(
                    bindparam(f"new_{name}", type_=postgresql.ARRAY(table.c[name].type))
                ).label(f"new_{name}")
                for name in columns
            ),
        ).subquery("changed")
        statement = (
            update(table)
            .where(table.c.id == arrays.c.row_id)
            .values({name: arrays.c[f"new_{name}"] for name in columns})
        )
    else:
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id", type_=table.c.id.type))
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
        )
    _updates[key] = statement
    return statement


def _changed(obj: IdMixin, columns: Sequence[str]) -> bool:
    """Whether any of these columns holds a value other than the one read (setting a column
    to the value it had marks the object modified, and is no change)."""
    state = inspect(obj)
    if not state.modified:
        return False
    # The values as read, of the attributes set since (a dict look-up: the attributes'
    # history objects cost a third of a run's CPU).
    before, now = state.committed_state, state.dict
    return any(
        name in before and (before[name] is NO_VALUE or before[name] != now.get(name))
        for name in columns
    )


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


async def insert_all_returning(
    session: AsyncSession, model: type[M], rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> list[M]:
    """`insert_returning` for many rows, in one statement: the rows this call created, as
    objects of the session, in no particular order (those whose key was taken are left out;
    asking for the order given makes SQLite insert one row per statement). A column some rows
    leave out takes its default in those (`_same_columns`)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).on_conflict_do_nothing(index_elements=list(key)).returning(model)
    table: Table = model.__table__  # type: ignore[assignment]
    return list(await session.scalars(statement, _same_columns(table, rows)))


def _same_columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the same columns, as one multi-row INSERT needs: a column a row leaves out
    takes its scalar default (None without one), as that row inserted alone would."""
    names = {name for row in rows for name in row}
    defaults: dict[str, Any] = {}
    for name in names:
        default = table.c[name].default
        scalar = isinstance(default, ColumnDefault) and default.is_scalar
        defaults[name] = cast(ColumnDefault, default).arg if scalar else None
    return [{**defaults, **row} for row in rows]


def lock(query: S, *, of: Any = None) -> S:
    """`query` as `locked` runs it (FOR NO KEY UPDATE, populate_existing), to build once and run
    with `fetch_locked`.

    NO KEY: we never change a locked row's key, and the weaker lock leaves foreign-key checks
    of other transactions (a recompute storing scores that reference the subscriber, a status
    event referencing the contract) free instead of queued behind the whole inbox batch.
    """
    return query.with_for_update(key_share=True, of=of).execution_options(populate_existing=True)


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
