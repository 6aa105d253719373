"""Shared fixtures: settings, migrated databases (SQLite and real PostgreSQL), runtime, client.

Each test gets empty tables: the session-wide databases are migrated once and every table is
emptied after each test. Tests that need both backends take `db_url`; PostgreSQL-only tests
take `pg_url`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from plugin.app import build_app_runtime, create_app
from plugin.db.migrate import upgrade_head
from plugin.models import Base
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.settings import Settings
from tests.support import servers
from tests.support.asgi import asgi_client
from tests.support.signing import API_KEY, API_SECRET, API_SECRET_PREVIOUS, TOKEN_KEY


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "SHOPIFY_API_SECRET_PREVIOUS": API_SECRET_PREVIOUS,
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "DATABASE_URL": database_url,
        "SHOPIFY_ADMIN_ORIGIN": "http://fake-shopify.test/{shop}",
        "APP_URL": "https://app.test",
        **overrides,
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_head(url)
    return url


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    with servers.migrated_database() as url:
        yield url


@pytest.fixture
def pg_url(_pg_session_url: str) -> str:
    return _pg_session_url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("sqlite_url")


@pytest.fixture
def redis_url() -> str:
    servers.require_redis()
    return servers.REDIS_URL


async def empty_tables(runtime: Runtime) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    async with runtime.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(table.delete())


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    """A runtime on a migrated database, jobs in-process (no Redis), emptied afterwards."""
    rt = await build_app_runtime(make_settings(db_url))
    try:
        yield rt
    finally:
        # A job a request queued (e.g. a recompute after a settings save) may still run: let it
        # finish, or the TRUNCATE below can deadlock with it on PostgreSQL.
        if isinstance(rt.queue, InProcessQueue):
            await asyncio.wait_for(rt.queue.drain(), timeout=60)
        await empty_tables(rt)
        await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=runtime)) as c:
        yield c
