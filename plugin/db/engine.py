"""Engine and session factory. Sessions never commit on their own: boundaries do.

SQLite (the demo and laptops) runs through aiosqlite, which gives each connection a thread and
hands every driver call to it: a statement costs four round trips between the event loop and
that thread (open cursor, execute, fetch, close). `sqlite_inline(engine)` lets one task that is
the engine's only user for a while (the demo build) run those calls directly on the event
loop's thread instead: same connection, same SQL, none of the hand-offs.
"""

from __future__ import annotations

import contextlib
import sqlite3
import weakref
from collections.abc import Iterator
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionMaker = async_sessionmaker[AsyncSession]


def make_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    # expire_on_commit=False: objects stay readable after the boundary commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _tune_sqlite(engine: AsyncEngine) -> None:
    switch = _switches[engine.sync_engine] = _InlineSwitch()

    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        dbapi = dialect.loaded_dbapi
        if not hasattr(dbapi, "aiosqlite"):
            return None  # not the aiosqlite driver: its own connect
        # The adapter SQLAlchemy wraps around aiosqlite, around our aiosqlite connection.
        return dbapi.connect(*cargs, async_creator_fn=partial(_connect, switch), **cparams)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets the admin page read while the demo writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


class _InlineSwitch:
    """Whether the engine's SQLite connections run driver calls on the caller's thread."""

    def __init__(self) -> None:
        self.inline = False


_switches: weakref.WeakKeyDictionary[Engine, _InlineSwitch] = weakref.WeakKeyDictionary()


class _SwitchableConnection(aiosqlite.Connection):
    """aiosqlite's connection; while its engine is inline, calls run without the thread hop.

    The sqlite3 connection is opened with check_same_thread=False (SQLAlchemy's default for
    aiosqlite), and calls are never concurrent: each is awaited before the next is made.
    """

    def __init__(self, connector: Any, iter_chunk_size: int, switch: _InlineSwitch) -> None:
        super().__init__(connector, iter_chunk_size)
        self._switch = switch

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._switch.inline and self._connection is not None:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _connect(switch: _InlineSwitch, database: str, **kwargs: Any) -> _SwitchableConnection:
    """What `aiosqlite.connect(database, **kwargs)` does, with our connection class."""
    connection = _SwitchableConnection(partial(sqlite3.connect, database, **kwargs), 64, switch)
    connection._thread.daemon = True  # as SQLAlchemy sets it for aiosqlite's own connections
    return connection


@contextlib.contextmanager
def sqlite_inline(engine: AsyncEngine) -> Iterator[None]:
    """Run the SQLite engine's driver calls on the event loop's thread while inside.

    Only for a task that is the engine's only user meanwhile (the demo build): a call waiting
    for SQLite's write lock would block the loop, and with it the transaction holding the lock.
    A no-op for other databases.
    """
    switch = _switches.get(engine.sync_engine)
    if switch is None or switch.inline:
        yield
        return
    switch.inline = True
    try:
        yield
    finally:
        switch.inline = False
