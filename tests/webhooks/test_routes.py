"""POST /webhooks, accepted deliveries: stored once with every field, shops, duplicates.

Refusals (401, 400, unknown topics) are in test_refusals.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from tests.support.signing import API_SECRET_PREVIOUS, SHOP, signed_webhook
from tests.webhooks.conftest import PAYLOAD, TOPIC, Enqueued, post, row_counts


async def stored_rows(runtime: Runtime) -> list[WebhookInbox]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(WebhookInbox).order_by(WebhookInbox.id))).all())


async def test_valid_delivery_is_stored_and_enqueued_once(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    fired = datetime(2026, 3, 29, 18, 0, 27, 877041, tzinfo=UTC)
    body, headers = signed_webhook(
        TOPIC, PAYLOAD, webhook_id="wh-1", event_id="ev-1", triggered_at=fired
    )
    response = await post(wh_client, body, headers)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}

    [row] = await stored_rows(wh_runtime)
    assert (row.topic, row.webhook_id, row.event_id, row.api_version) == (
        TOPIC,
        "wh-1",
        "ev-1",
        "2026-10",
    )
    assert row.triggered_at == fired
    assert row.payload == PAYLOAD
    assert row.status == InboxStatus.PENDING
    assert row.received_at.tzinfo is not None
    async with wh_runtime.sessionmaker() as session:
        shop = await session.get(Shop, row.shop_id)
    assert shop is not None and shop.domain == SHOP
    assert isinstance(wh_runtime.queue, InProcessQueue)
    await wh_runtime.queue.drain()
    assert enqueued == [row.shop_id]


async def test_previous_secret_is_accepted_during_rotation(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD, secret=API_SECRET_PREVIOUS)
    assert (await post(wh_client, body, headers)).status_code == 200
    assert await row_counts(wh_runtime) == (1, 1)


async def test_header_names_are_case_insensitive(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD, webhook_id="wh-case")
    mixed = {(k.lower() if i % 2 else k.upper()): v for i, (k, v) in enumerate(headers.items())}
    assert (await post(wh_client, body, mixed)).status_code == 200
    [row] = await stored_rows(wh_runtime)
    assert row.webhook_id == "wh-case"


async def test_shop_domain_is_normalised(wh_client: httpx.AsyncClient, wh_runtime: Runtime) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD, shop="  Mixed-Case.MyShopify.COM ")
    assert (await post(wh_client, body, headers)).status_code == 200
    async with wh_runtime.sessionmaker() as session:
        assert (await session.scalars(select(Shop.domain))).all() == ["mixed-case.myshopify.com"]


async def test_header_at_its_limit_is_accepted(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD, webhook_id="w" * 255, event_id="e" * 255)
    assert (await post(wh_client, body, headers)).status_code == 200
    [row] = await stored_rows(wh_runtime)
    assert row.webhook_id == "w" * 255


async def test_never_seen_shop_gets_its_shop_row(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    for shop in ("first.myshopify.com", "second.myshopify.com", "first.myshopify.com"):
        body, headers = signed_webhook("app/uninstalled", {"id": 1}, shop=shop)
        assert (await post(wh_client, body, headers)).status_code == 200
    async with wh_runtime.sessionmaker() as session:
        shops = {s.domain: s.id for s in (await session.scalars(select(Shop))).all()}
        owners = (
            await session.scalars(select(WebhookInbox.shop_id).order_by(WebhookInbox.id))
        ).all()
    assert set(shops) == {"first.myshopify.com", "second.myshopify.com"}
    first, second = shops["first.myshopify.com"], shops["second.myshopify.com"]
    assert owners == [first, second, first]


async def test_redelivery_is_a_200_duplicate_without_a_second_job(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD, webhook_id="same")
    first = await post(wh_client, body, headers)
    again = await post(wh_client, body, headers)
    assert (first.json(), again.json()) == ({"status": "accepted"}, {"status": "duplicate"})
    assert again.status_code == 200
    assert await row_counts(wh_runtime) == (1, 1)
    assert isinstance(wh_runtime.queue, InProcessQueue)
    await wh_runtime.queue.drain()
    assert len(enqueued) == 1


async def test_same_webhook_id_for_another_shop_is_a_new_delivery(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    for shop in ("one.myshopify.com", "two.myshopify.com"):
        body, headers = signed_webhook(TOPIC, PAYLOAD, webhook_id="shared", shop=shop)
        assert (await post(wh_client, body, headers)).json() == {"status": "accepted"}
    assert await row_counts(wh_runtime) == (2, 2)


async def test_same_event_in_two_deliveries_is_stored_twice_with_its_event_id(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    # The duplicate key is the delivery; processing is idempotent on the event's business keys.
    for webhook_id in ("d1", "d2"):
        body, headers = signed_webhook(TOPIC, PAYLOAD, webhook_id=webhook_id, event_id="ev")
        assert (await post(wh_client, body, headers)).status_code == 200
    assert [r.event_id for r in await stored_rows(wh_runtime)] == ["ev", "ev"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-29T18:00:27.877041743Z", datetime(2026, 3, 29, 18, 0, 27, 877041, tzinfo=UTC)),
        ("2026-03-29T20:00:27+02:00", datetime(2026, 3, 29, 18, 0, 27, tzinfo=UTC)),
        ("2026-03-29T18:00:27", datetime(2026, 3, 29, 18, 0, 27, tzinfo=UTC)),
        ("yesterday", None),
        ("2026-13-45T99:00:00Z", None),
        ("2026-03-29T18:00:27Z" + " " * 100, None),
    ],
)
async def test_triggered_at_is_aware_utc_or_none(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, raw: str, expected: datetime | None
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    headers["X-Shopify-Triggered-At"] = raw
    assert (await post(wh_client, body, headers)).status_code == 200
    [row] = await stored_rows(wh_runtime)
    assert row.triggered_at == expected
    if expected is not None:
        assert row.triggered_at is not None and row.triggered_at.utcoffset() == timedelta(0)


async def test_optional_headers_may_be_absent(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    for name in ("X-Shopify-Event-Id", "X-Shopify-API-Version", "X-Shopify-Triggered-At"):
        del headers[name]
    assert (await post(wh_client, body, headers)).status_code == 200
    [row] = await stored_rows(wh_runtime)
    assert (row.event_id, row.api_version, row.triggered_at) == (None, None, None)


async def test_bodies_over_one_megabyte_are_accepted(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime
) -> None:
    payload = {"id": 1, "note": "x" * 1_500_000, "lines": [{"sku": f"S{i}"} for i in range(5000)]}
    body, headers = signed_webhook("orders/create", payload)
    assert len(body) > 1_500_000
    assert (await post(wh_client, body, headers)).status_code == 200
    [row] = await stored_rows(wh_runtime)
    assert row.payload == payload
