"""Real servers for tests: PostgreSQL and Redis on this machine.

Where a server is absent the tests that need it skip with the reason, except under CI=true,
where a missing server is a failure (CI must never pass by skipping the real paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if CI:
        pytest.fail(f"{message}; under CI=true the real server is required", pytrace=False)
    pytest.skip(f"{message} (set TEST_POSTGRES_URL / TEST_REDIS_URL, or start it)")


def require_postgres() -> None:
    require("PostgreSQL", PG_ADMIN_URL, 5432)


def require_redis() -> None:
    require("Redis", REDIS_URL, 6379)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(prefix: str = "vh_test") -> str:
    """Create a fresh database and return its SQLAlchemy async URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@contextlib.contextmanager
def migrated_database() -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head (skips without the server); dropped after."""
    from plugin.db.migrate import upgrade_head

    require_postgres()
    url = create_database()
    try:
        upgrade_head(url)
        yield url
    finally:
        drop_database(url)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
