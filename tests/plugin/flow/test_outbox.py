"""Flow triggers: recorded with the change, fired once after commit with the exact document,
retried when throttled, refused or skipped with the reason, swept when a job was lost."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from plugin.app import build_app_runtime
from plugin.db.transaction import transaction
from plugin.flow.catalogue import CUSTOMER, TRIGGERS
from plugin.flow.events import nps_answered
from plugin.flow.outbox import FLOW_TRIGGER_RECEIVE, record_trigger
from plugin.models import FlowTriggerEvent, Shop
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.shopify.tokens import TokenCipher
from plugin.value.score import risk_band
from tests.conftest import empty_tables, make_settings
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP
from workers.jobs.flow import sweep_flow_triggers

EXTENSIONS = Path(__file__).resolve().parents[3] / "extensions"


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def rt(db_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(make_settings(db_url), http=fake.client())
    try:
        yield runtime
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def installed_shop(rt: Runtime, fake: FakeShopify, *, token: bool = True) -> int:
    async with transaction(rt.sessionmaker, None) as tx:
        shop = Shop(domain=SHOP)
        if token:
            cipher = TokenCipher(rt.settings.token_encryption_key)
            shop.access_token_enc = cipher.encrypt(fake.grant_token(SHOP))
        tx.session.add(shop)
        await tx.session.flush()
        return shop.id


async def answer(rt: Runtime, shop_id: int, response_id: int = 7) -> int | None:
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        return await nps_answered(
            tx,
            shop_id=shop_id,
            response_id=response_id,
            customer_id=501,
            score=9,
            value_for_money=4,
            comment="Lovely coffee",
        )


async def drain(rt: Runtime) -> None:
    assert isinstance(rt.queue, InProcessQueue)
    await rt.queue.drain()
    assert rt.queue.failures == []


async def events(rt: Runtime) -> list[FlowTriggerEvent]:
    async with rt.sessionmaker() as session:
        return list(await session.scalars(select(FlowTriggerEvent).order_by(FlowTriggerEvent.id)))


def test_every_trigger_has_an_extension_with_the_same_fields() -> None:
    for handle, trigger in TRIGGERS.items():
        toml = tomllib.loads((EXTENSIONS / handle / "shopify.extension.toml").read_text())
        [extension] = toml["extensions"]
        assert extension["handle"] == handle and extension["type"] == "flow_trigger"
        fields = toml["settings"]["fields"]
        assert fields[0] == {"type": "customer_reference"}
        assert tuple(f["key"] for f in fields[1:]) == trigger.fields


async def test_a_firing_is_sent_once_after_commit_with_the_exact_document(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id = await installed_shop(rt, fake)
    first = await answer(rt, shop_id)
    again = await answer(rt, shop_id)  # the same answer reported twice: stored once
    assert first is not None and again is None
    await drain(rt)

    [request] = fake.requests_to("graphql.json")
    assert request.json() == {
        "query": FLOW_TRIGGER_RECEIVE,
        "variables": {
            "handle": "nps-answered",
            "payload": {
                CUSTOMER: 501,
                "Score": "9",
                "Category": "promoter",
                "Value for money": "4",
                "Comment": "Lovely coffee",
            },
        },
    }
    assert fake.flow_triggers == [(SHOP, "nps-answered", request.json()["variables"]["payload"])]
    [event] = await events(rt)
    assert (event.status, event.attempts, event.error) == ("sent", 1, None)
    assert event.sent_at is not None


async def test_a_rolled_back_change_fires_nothing(rt: Runtime, fake: FakeShopify) -> None:
    shop_id = await installed_shop(rt, fake)
    with pytest.raises(RuntimeError):
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            await nps_answered(
                tx,
                shop_id=shop_id,
                response_id=1,
                customer_id=1,
                score=3,
                value_for_money=None,
                comment=None,
            )
            raise RuntimeError("the answer failed to save")
    await drain(rt)
    assert await events(rt) == [] and fake.flow_triggers == []


async def test_throttling_is_waited_out_and_sent_once(rt: Runtime, fake: FakeShopify) -> None:
    shop_id = await installed_shop(rt, fake)
    fake.throttle(requested=10, available=0, restore_rate=100)  # 0.1 s → the 0.5 s floor
    await answer(rt, shop_id)
    await drain(rt)
    assert len(fake.requests_to("graphql.json")) == 2
    assert len(fake.flow_triggers) == 1
    assert [e.status for e in await events(rt)] == ["sent"]


async def test_a_trigger_shopify_does_not_know_is_refused_not_retried(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id = await installed_shop(rt, fake)
    fake.flow_handles.discard("nps-answered")  # the extension was never deployed
    await answer(rt, shop_id)
    await drain(rt)
    [event] = await events(rt)
    assert event.status == "refused" and event.error == "Invalid handle 'nps-answered'"
    assert len(fake.requests_to("graphql.json")) == 1


async def test_a_shop_without_a_token_is_skipped(rt: Runtime, fake: FakeShopify) -> None:
    shop_id = await installed_shop(rt, fake, token=False)
    await answer(rt, shop_id)
    await drain(rt)
    [event] = await events(rt)
    assert event.status == "skipped" and fake.requests == []


async def test_the_sweeper_fires_what_a_lost_job_left_pending(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id = await installed_shop(rt, fake)
    async with transaction(rt.sessionmaker, None) as tx:  # no queue: the job is "lost"
        await record_trigger(
            tx,
            shop_id,
            "nps-answered",
            "lost",
            {
                CUSTOMER: 1,
                "Score": "1",
                "Category": "detractor",
                "Value for money": "",
                "Comment": "",
            },
        )
    ctx = {"runtime": rt}
    assert await sweep_flow_triggers(ctx) == 0  # too fresh: its own job may still run
    async with transaction(rt.sessionmaker, None) as tx:
        await tx.session.execute(
            update(FlowTriggerEvent).values(created_at=utcnow() - timedelta(minutes=10))
        )
    assert await sweep_flow_triggers(ctx) == 1
    await drain(rt)
    assert [e.status for e in await events(rt)] == ["sent"]
    assert await sweep_flow_triggers(ctx) == 0


async def test_a_payload_must_carry_exactly_the_triggers_fields(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id = await installed_shop(rt, fake)
    with pytest.raises(ValueError, match="payload keys"):
        async with transaction(rt.sessionmaker, None) as tx:
            await record_trigger(tx, shop_id, "nps-answered", "x", {CUSTOMER: 1, "Score": "1"})
    async with rt.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(FlowTriggerEvent)) == 0


def test_risk_bands_follow_the_segment_cuts() -> None:
    assert [risk_band(r) for r in (None, 0.05, 0.10, 0.149, 0.15, 0.6)] == [
        "unknown",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
