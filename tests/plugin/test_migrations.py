"""Models and migrations must not drift apart, on either backend."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from plugin.db.engine import make_engine
from plugin.db.migrate import current_revision, head_revision
from plugin.models import Base


async def test_upgrade_head_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == [], f"models and migrations differ: {diff}"
        assert await current_revision(engine) == head_revision(db_url)
    finally:
        await engine.dispose()
