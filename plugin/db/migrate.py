"""Programmatic Alembic: upgrade to head, and tell whether a database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_head(database_url: str) -> None:
    """Blocking; call from a thread or before the event loop starts."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


class DatabaseNotMigrated(RuntimeError):
    pass


async def require_head(engine: AsyncEngine, database_url: str) -> None:
    """The worker refuses to run against a schema it was not written for."""
    current = await current_revision(engine)
    head = head_revision(database_url)
    if current != head:
        raise DatabaseNotMigrated(
            f"database is at revision {current!r}, code expects {head!r}: run `valuehealth migrate`"
        )
