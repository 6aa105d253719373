"""Value data on Shopify customers against the fake Admin API: definitions once, only changed
values, exact documents, user errors, throttling, a bulk run's upload and completion, missing
scopes, tags, and the segment-entered Flow trigger."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from plugin.app import build_app_runtime
from plugin.customer_data import sync as sync_module
from plugin.customer_data.fields import NAMESPACE
from plugin.customer_data.sync import (
    METAFIELD_DEFINITION_CREATE,
    METAFIELDS_SET,
    SyncOutcome,
    finish_bulk_run,
    shop_state,
    sync_customer_data,
)
from plugin.db.transaction import transaction
from plugin.models import (
    CustomerSyncRun,
    CustomerValueState,
    FlowTriggerEvent,
    Shop,
    Subscriber,
    SubscriberScore,
)
from plugin.runtime import Runtime
from plugin.shopify.bulk import RUN_BULK_MUTATION, STAGED_UPLOADS_CREATE
from plugin.shopify.tokens import TokenCipher
from tests.conftest import empty_tables, make_settings
from tests.support.fake_shopify import DEFAULT_SCOPE, FakeShopify
from tests.support.signing import SHOP

GRANTED = DEFAULT_SCOPE + ",write_customers"


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify(scope=GRANTED)


@pytest.fixture
async def rt(db_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(make_settings(db_url), http=fake.client())
    try:
        yield runtime
    finally:
        await empty_tables(runtime)
        await runtime.close()


async def shop_with(
    rt: Runtime, fake: FakeShopify, n: int, *, scopes: str = GRANTED
) -> tuple[int, list[int]]:
    """A shop with a token and n scored subscribers (customer ids 7000, 7001, …)."""
    async with transaction(rt.sessionmaker, None) as tx:
        shop = Shop(domain=SHOP, scopes=scopes)
        cipher = TokenCipher(rt.settings.token_encryption_key)
        shop.access_token_enc = cipher.encrypt(fake.grant_token(SHOP))
        tx.session.add(shop)
        await tx.session.flush()
        subs = [Subscriber(shop_id=shop.id, customer_id=7000 + i) for i in range(n)]
        tx.session.add_all(subs)
        await tx.session.flush()
        for i, sub in enumerate(subs):
            tx.session.add(
                SubscriberScore(
                    shop_id=shop.id,
                    subscriber_id=sub.id,
                    segment="loyal",
                    churn_risk=0.05,
                    value_score=70.4 + i % 3,
                    nps_last=9 if i % 2 else None,
                    mrr=Decimal("30.00"),
                    currency="USD",
                )
            )
        return shop.id, [s.id for s in subs]


async def sync(rt: Runtime, shop_id: int) -> SyncOutcome:
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        return await sync_customer_data(rt, tx, shop_id)


def operations(fake: FakeShopify) -> list[str]:
    return [r.json()["query"].split("(")[0].split()[-1] for r in fake.requests_to("graphql.json")]


def stored(fake: FakeShopify, customer_id: int) -> dict[str, str]:
    held = fake.customer_metafields.get((SHOP, f"gid://shopify/Customer/{customer_id}"), {})
    return {key: value for (ns, key), (_type, value) in held.items() if ns == NAMESPACE}


async def test_definitions_once_then_only_changed_values(rt: Runtime, fake: FakeShopify) -> None:
    shop_id, subs = await shop_with(rt, fake, 3)
    outcome = await sync(rt, shop_id)
    assert (outcome.status, outcome.written, outcome.refused) == ("synced", 3, 0)
    assert operations(fake) == ["MetafieldDefinitionCreate"] * 5 + ["MetafieldsSet"]
    first = fake.requests_to("graphql.json")[0].json()
    assert first == {
        "query": METAFIELD_DEFINITION_CREATE,
        "variables": {
            "definition": {
                "name": "Value segment",
                "namespace": "$app:valuehealth",
                "key": "value_segment",
                "description": "Valuehealth's segment: value crossed with churn risk.",
                "type": "single_line_text_field",
                "ownerType": "CUSTOMER",
                "access": {"admin": "MERCHANT_READ"},
                "validations": [
                    {
                        "name": "choices",
                        "value": json.dumps(
                            sorted(
                                [
                                    "unscored",
                                    "champions",
                                    "loyal",
                                    "at_risk_high_value",
                                    "needs_attention",
                                    "low_value",
                                    "churned",
                                ]
                            )
                        ),
                    }
                ],
            }
        },
    }
    write = fake.requests_to("graphql.json")[-1].json()
    assert write["query"] == METAFIELDS_SET
    assert write["variables"]["metafields"][:4] == [
        {
            "ownerId": "gid://shopify/Customer/7000",
            "namespace": NAMESPACE,
            "key": key,
            "type": kind,
            "value": value,
        }
        for key, kind, value in [
            ("churn_risk_band", "single_line_text_field", "low"),
            ("nps_category", "single_line_text_field", "none"),
            ("value_score", "number_integer", "70"),
            ("value_segment", "single_line_text_field", "loyal"),
        ]
    ]
    assert stored(fake, 7001) == {
        "churn_risk_band": "low",
        "nps_category": "promoter",
        "value_score": "71",
        "value_segment": "loyal",
    }

    fake.requests.clear()
    again = await sync(rt, shop_id)
    assert (again.status, again.written) == ("synced", 0)
    assert fake.requests == []  # nothing changed, nothing sent (definitions exist)

    async with transaction(rt.sessionmaker, None) as tx:
        await tx.session.execute(
            update(SubscriberScore)
            .where(SubscriberScore.subscriber_id == subs[2])
            .values(segment="at_risk_high_value", churn_risk=0.3)
        )
    changed = await sync(rt, shop_id)
    assert changed.written == 1
    [call] = fake.requests_to("graphql.json")
    assert call.json()["variables"]["metafields"] == [
        {
            "ownerId": "gid://shopify/Customer/7002",
            "namespace": NAMESPACE,
            "key": "churn_risk_band",
            "type": "single_line_text_field",
            "value": "high",
        },
        {
            "ownerId": "gid://shopify/Customer/7002",
            "namespace": NAMESPACE,
            "key": "value_segment",
            "type": "single_line_text_field",
            "value": "at_risk_high_value",
        },
    ]


async def test_a_refused_customer_is_written_again_next_time(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id, _ = await shop_with(rt, fake, 3)
    fake.refuse_metafields_of("gid://shopify/Customer/7001", "Value is too long")
    outcome = await sync(rt, shop_id)
    assert (outcome.written, outcome.refused) == (2, 1)
    assert stored(fake, 7000) and stored(fake, 7002) and not stored(fake, 7001)
    fake._metafield_errors.clear()
    fake.requests.clear()
    retry = await sync(rt, shop_id)
    assert (retry.written, retry.refused) == (1, 0)
    [call] = fake.requests_to("graphql.json")
    owners = {m["ownerId"] for m in call.json()["variables"]["metafields"]}
    assert owners == {"gid://shopify/Customer/7001"}


async def test_throttling_is_waited_out(rt: Runtime, fake: FakeShopify) -> None:
    shop_id, _ = await shop_with(rt, fake, 2)
    fake.throttle(requested=10, available=0)
    outcome = await sync(rt, shop_id)
    assert outcome.written == 2 and stored(fake, 7001)


async def test_a_shop_without_the_scope_is_asked_not_failed(rt: Runtime, fake: FakeShopify) -> None:
    shop_id, _ = await shop_with(rt, fake, 2, scopes=DEFAULT_SCOPE)
    outcome = await sync(rt, shop_id)
    assert outcome.status == "missing_scopes" and outcome.missing_scopes == ["write_customers"]
    assert fake.requests == []
    async with rt.sessionmaker() as session:
        assert (await shop_state(session, shop_id)).missing_scopes == "write_customers"


async def test_a_scope_taken_back_since_is_recorded_as_missing(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id, _ = await shop_with(rt, fake, 2)
    fake.scope = DEFAULT_SCOPE  # Shopify now answers ACCESS_DENIED
    outcome = await sync(rt, shop_id)
    assert outcome.status == "missing_scopes"
    assert fake.metafield_definitions == {} and fake.customer_metafields == {}


async def test_many_customers_go_through_one_bulk_mutation(
    rt: Runtime, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "DIRECT_LIMIT", 4)
    shop_id, subs = await shop_with(rt, fake, 6)
    fake.refuse_metafields_of("gid://shopify/Customer/7003")
    outcome = await sync(rt, shop_id)
    assert outcome.status == "bulk_started" and outcome.run_id is not None
    staged, run = fake.requests_to("graphql.json")[-2:]
    assert staged.json()["query"] == STAGED_UPLOADS_CREATE
    assert staged.json()["variables"] == {
        "input": [
            {
                "resource": "BULK_MUTATION_VARIABLES",
                "filename": "valuehealth-customer-values.jsonl",
                "mimeType": "text/jsonl",
                "httpMethod": "POST",
            }
        ]
    }
    [(path, upload)] = fake.staged_uploads.items()
    lines = [json.loads(line) for line in upload.decode().splitlines()]
    assert len(lines) == 6
    assert lines[0]["metafields"][3] == {
        "ownerId": "gid://shopify/Customer/7000",
        "namespace": NAMESPACE,
        "key": "value_segment",
        "type": "single_line_text_field",
        "value": "loyal",
    }
    assert run.json() == {
        "query": RUN_BULK_MUTATION,
        "variables": {"mutation": METAFIELDS_SET, "stagedUploadPath": path},
    }
    second = await sync(rt, shop_id)  # one bulk mutation at a time
    assert second.status == "bulk_in_progress"

    statuses = []
    for _ in range(4):
        async with transaction(rt.sessionmaker, None) as tx:
            statuses.append(await finish_bulk_run(rt, tx, outcome.run_id))
    assert statuses == ["running", "running", "completed", "completed"]
    async with rt.sessionmaker() as session:
        done = await session.get_one(CustomerSyncRun, outcome.run_id)
        assert (done.confirmed, done.refused, done.status) == (5, 1, "completed")
        states = {
            s.subscriber_id: s.published for s in await session.scalars(select(CustomerValueState))
        }
    assert states[subs[0]] is not None and states[subs[0]]["value_segment"] == "loyal"
    assert states.get(subs[3]) is None  # refused: written again by the next sync


async def test_tags_follow_the_values_when_turned_on(rt: Runtime, fake: FakeShopify) -> None:
    shop_id, _ = await shop_with(rt, fake, 1)
    async with transaction(rt.sessionmaker, None) as tx:
        (await shop_state(tx.session, shop_id)).tags_enabled = True
    outcome = await sync(rt, shop_id)
    assert outcome.tagged == 1
    assert fake.customer_tags[(SHOP, "gid://shopify/Customer/7000")] == {"vh-loyal"}
    async with transaction(rt.sessionmaker, None) as tx:
        (await shop_state(tx.session, shop_id)).tags_enabled = False
    await sync(rt, shop_id)
    assert fake.customer_tags[(SHOP, "gid://shopify/Customer/7000")] == set()


async def test_entering_a_segment_fires_the_flow_trigger_after_the_first_sync(
    rt: Runtime, fake: FakeShopify
) -> None:
    shop_id, subs = await shop_with(rt, fake, 2, scopes=DEFAULT_SCOPE)
    first = await sync(rt, shop_id)
    assert first.segment_triggers == 0  # the first sync only learns the segments
    async with transaction(rt.sessionmaker, None) as tx:
        await tx.session.execute(
            update(SubscriberScore)
            .where(SubscriberScore.subscriber_id == subs[1])
            .values(segment="at_risk_high_value", churn_risk=0.22)
        )
    second = await sync(rt, shop_id)
    assert second.segment_triggers == 1
    async with rt.sessionmaker() as session:
        [event] = list(await session.scalars(select(FlowTriggerEvent)))
    expected: dict[str, Any] = {
        "customer_id": 7001,
        "Segment": "at_risk_high_value",
        "Previous segment": "loyal",
        "Churn risk band": "high",
        "Value score": "71",
        "MRR": "30.00",
        "Currency": "USD",
        "Reasons": "churn risk 22% (high); value score 71 of 100; last NPS answer 9",
    }
    assert event.handle == "value-segment-entered" and event.payload == expected
    third = await sync(rt, shop_id)
    assert third.segment_triggers == 0
