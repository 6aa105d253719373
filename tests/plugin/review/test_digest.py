"""The monthly review digest: stored once per shop and month even with two workers, a badge
until reviewed, the review history, and the email to the value owner through a local SMTP
server this test starts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from plugin.app import build_app_runtime
from plugin.db.transaction import transaction
from plugin.models import ReviewDigest, Shop
from plugin.queue import InProcessQueue, TransientError
from plugin.review.digest import (
    DigestInvalid,
    digest_settings,
    history,
    mark_reviewed,
    month_before,
    queue_monthly_reviews,
    store_digest,
)
from plugin.runtime import Runtime
from plugin.scoring.store import MONTH, SnapshotRow, store_snapshots
from tests.conftest import empty_tables, make_settings
from tests.plugin.review.conftest import SHOP, february, march
from workers.jobs.reviews import CRONS, build_monthly_reviews, email_review_digest

NOW = datetime(2026, 4, 1, 7, tzinfo=UTC)


class Inbox:
    """An SMTP handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def scored_shop(runtime: Runtime, domain: str = SHOP) -> int:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = Shop(domain=domain)
        tx.session.add(shop)
        await tx.session.flush()
        await store_snapshots(
            tx.session,
            shop.id,
            NOW,
            [
                SnapshotRow(MONTH, date(2026, 2, 1), february()),
                SnapshotRow(MONTH, date(2026, 3, 1), march()),
            ],
        )
        return shop.id


async def digests(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(ReviewDigest)) or 0)


def test_the_month_to_review_is_the_one_that_ended() -> None:
    assert month_before(date(2026, 4, 1)) == "2026-03"
    assert month_before(date(2026, 1, 1)) == "2025-12"


async def test_one_pack_per_shop_and_month_whatever_runs_it(runtime: Runtime) -> None:
    shop_id = await scored_shop(runtime)

    async def build() -> ReviewDigest | None:
        async with transaction(runtime.sessionmaker, None) as tx:
            return await store_digest(tx.session, shop_id, "2026-03", NOW)

    results = await asyncio.gather(build(), build())  # two workers at once
    assert sum(r is not None for r in results) == 1
    assert await build() is None  # and once more later
    assert await digests(runtime) == 1
    async with transaction(runtime.sessionmaker, None) as tx:  # a month without figures
        assert await store_digest(tx.session, shop_id, "2026-01", NOW) is None


async def test_the_cron_of_the_first_builds_each_shop_once(runtime: Runtime) -> None:
    await scored_shop(runtime)
    await scored_shop(runtime, "second-review.myshopify.com")
    assert await queue_monthly_reviews(runtime, NOW) == 2
    assert await queue_monthly_reviews(runtime, NOW) == 2  # a second worker runs the same cron
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    assert runtime.queue.failures == []
    await queue_monthly_reviews(runtime, NOW)  # and again after both ran
    await runtime.queue.drain()
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(select(ReviewDigest.shop_id, ReviewDigest.month))).all()
    assert sorted(month for _, month in rows) == ["2026-03", "2026-03"]


async def test_the_badge_stays_until_the_value_owner_marks_the_month_reviewed(
    runtime: Runtime,
) -> None:
    shop_id = await scored_shop(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        await store_digest(tx.session, shop_id, "2026-03", NOW)
        await store_digest(tx.session, shop_id, "2026-02", NOW)
    later = datetime(2026, 4, 3, 9, tzinfo=UTC)
    async with transaction(runtime.sessionmaker, None) as tx:
        with pytest.raises(DigestInvalid):
            await mark_reviewed(tx.session, shop_id, "2026-03", "  ", later)
        with pytest.raises(LookupError):
            await mark_reviewed(tx.session, shop_id, "2025-03", "Dana", later)
        await mark_reviewed(tx.session, shop_id, "2026-03", "Dana", later)
        await mark_reviewed(tx.session, shop_id, "2026-03", "Sam", later)  # first mark stays
    async with runtime.sessionmaker() as session:
        rows = await history(session, shop_id)
    assert [(d.month, d.reviewed_by) for d in rows] == [("2026-03", "Dana"), ("2026-02", None)]
    assert rows[0].reviewed_at == later


@pytest.fixture
async def mail_runtime(db_url: str, smtp: tuple[Inbox, int]) -> Any:
    _, port = smtp
    rt = await build_app_runtime(
        make_settings(db_url, SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM="vh@app.test")
    )
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


async def test_the_pack_is_emailed_once_to_the_value_owner(
    mail_runtime: Runtime, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    shop_id = await scored_shop(mail_runtime)
    async with transaction(mail_runtime.sessionmaker, None) as tx:
        settings = await digest_settings(tx.session, shop_id)
        settings.owner_name, settings.owner_email = "Dana Value", "dana@shop.test"
        settings.email_enabled = True
    await queue_monthly_reviews(mail_runtime, NOW)
    assert isinstance(mail_runtime.queue, InProcessQueue)
    await mail_runtime.queue.drain()
    assert mail_runtime.queue.failures == []
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "vh@app.test" and recipients == ["dana@shop.test"]
    message = message_from_bytes(raw)
    assert message["Subject"] == f"Value review 2026-03 for {SHOP} is ready"
    assert message["To"] == "Dana Value <dana@shop.test>"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert "2026-03" in html.get_payload(decode=True).decode()
    async with mail_runtime.sessionmaker() as session:
        [digest] = await history(session, shop_id)
    assert digest.emailed_at is not None
    assert await email_review_digest({"runtime": mail_runtime}, digest.id) == "nothing_to_do"
    assert len(inbox.messages) == 1


async def test_a_server_that_is_down_is_retried_and_changes_nothing(db_url: str) -> None:
    rt = await build_app_runtime(make_settings(db_url, SMTP_URL=f"smtp://127.0.0.1:{free_port()}"))
    try:
        shop_id = await scored_shop(rt)
        async with transaction(rt.sessionmaker, None) as tx:
            settings = await digest_settings(tx.session, shop_id)
            settings.owner_email, settings.email_enabled = "dana@shop.test", True
            digest = await store_digest(tx.session, shop_id, "2026-03", NOW)
            assert digest is not None
            digest_id = digest.id
        with pytest.raises(TransientError):
            await email_review_digest({"runtime": rt}, digest_id)
        async with rt.sessionmaker() as session:
            assert (await session.get_one(ReviewDigest, digest_id)).emailed_at is None
    finally:
        await empty_tables(rt)
        await rt.close()


def test_the_digest_cron_runs_on_the_first_of_the_month() -> None:
    [job] = CRONS
    assert job.coroutine is build_monthly_reviews
    assert job.day == 1
