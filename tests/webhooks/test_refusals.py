"""Refused deliveries: 401 for signatures, 400 for malformed input, 200 for unknown topics;
nothing stored, nothing enqueued.

These answers are decided before the database is touched, so they run on SQLite only; the
accepted paths (tests/webhooks/test_routes.py) run on both backends.
"""

from __future__ import annotations

import json

import httpx
import pytest

from plugin.runtime import Runtime
from tests.support.signing import signed_webhook, webhook_headers
from tests.webhooks.conftest import PAYLOAD, TOPIC, Enqueued, assert_nothing_stored, post


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b, {**h, "X-Shopify-Hmac-Sha256": ""}), id="empty"),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"}),
            id="missing",
        ),
        pytest.param(
            lambda b, h: (b, webhook_headers(TOPIC, b, secret="not-the-secret")), id="wrong-secret"
        ),
        pytest.param(
            lambda b, h: (json.dumps(json.loads(b), indent=2).encode(), h), id="body-reserialised"
        ),
        pytest.param(lambda b, h: (b + b" ", h), id="body-appended"),
        pytest.param(lambda b, h: (b, {**h, "X-Shopify-Hmac-Sha256": "not base64!"}), id="garbage"),
        pytest.param(
            lambda b, h: (b, {**h, "X-Shopify-Hmac-Sha256": h["X-Shopify-Hmac-Sha256"][:-4]}),
            id="truncated",
        ),
    ],
)
async def test_bad_signature_is_401_and_stores_nothing(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued, tamper: object
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    body, headers = tamper(body, headers)  # type: ignore[operator]
    response = await post(wh_client, body, headers)
    assert response.status_code == 401
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_signature_is_checked_before_anything_else(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    # Unsigned garbage with no other headers: 401, not 400.
    response = await wh_client.post("/webhooks", content=b"not json")
    assert response.status_code == 401
    await assert_nothing_stored(wh_runtime, enqueued)


@pytest.mark.parametrize(
    "header", ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"]
)
@pytest.mark.parametrize("how", ["absent", "blank"])
async def test_missing_required_header_is_400(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued, header: str, how: str
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    if how == "absent":
        del headers[header]
    else:
        headers[header] = "  "
    response = await post(wh_client, body, headers)
    assert response.status_code == 400
    assert header in response.json()["error"]
    await assert_nothing_stored(wh_runtime, enqueued)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"id": 1', "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"price": NaN}', "not valid JSON"),
        (b'{"price": 1e999}', "not valid JSON"),
        (b'{"name": "\xff\xfe"}', "not valid JSON"),
        ('{"name": "x"}'.encode("utf-16"), "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
async def test_signed_body_that_is_not_a_json_object_is_400(
    wh_client: httpx.AsyncClient,
    wh_runtime: Runtime,
    enqueued: Enqueued,
    body: bytes,
    reason: str,
) -> None:
    response = await post(wh_client, body, webhook_headers(TOPIC, body))
    assert response.status_code == 400
    assert reason in response.json()["error"]
    await assert_nothing_stored(wh_runtime, enqueued)


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "shop.myshopify.com.evil.com",
        "-shop.myshopify.com",
        "sh op.myshopify.com",
        "shop.myshopify.co",
        "shop_1.myshopify.com",
        "shop.myshopify.com/admin",
        "https://shop.myshopify.com",
        "ünïcode.myshopify.com",
    ],
)
async def test_shop_domain_not_on_myshopify_is_400(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued, domain: str
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    headers["X-Shopify-Shop-Domain"] = domain
    encoded = {k: v.encode() for k, v in headers.items()}
    response = await wh_client.post("/webhooks", content=body, headers=encoded)
    assert response.status_code == 400
    assert "X-Shopify-Shop-Domain" in response.json()["error"]
    await assert_nothing_stored(wh_runtime, enqueued)


@pytest.mark.parametrize(
    ("header", "limit"),
    [
        ("X-Shopify-Webhook-Id", 255),
        ("X-Shopify-Event-Id", 255),
        ("X-Shopify-Topic", 128),
        ("X-Shopify-API-Version", 32),
        ("X-Shopify-Shop-Domain", 255),
    ],
)
async def test_oversized_header_is_400(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued, header: str, limit: int
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    headers[header] = "a" * (limit + 1)
    if header == "X-Shopify-Shop-Domain":
        headers[header] = "a" * (limit + 1 - len(".myshopify.com")) + ".myshopify.com"
    response = await post(wh_client, body, headers)
    assert response.status_code == 400
    assert header in response.json()["error"]
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_control_characters_in_a_header_are_400(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    body, headers = signed_webhook(TOPIC, PAYLOAD)
    encoded = {k: v.encode() for k, v in headers.items()}
    encoded["X-Shopify-Webhook-Id"] = b"abc\x00def"
    response = await wh_client.post("/webhooks", content=body, headers=encoded)
    assert response.status_code == 400
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_unknown_topic_is_200_and_not_stored(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    body, headers = signed_webhook("products/create", {"id": 1})
    response = await post(wh_client, body, headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_unknown_topic_still_needs_a_valid_signature(
    wh_client: httpx.AsyncClient, wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    body, headers = signed_webhook("products/create", {"id": 1}, secret="wrong")
    assert (await post(wh_client, body, headers)).status_code == 401


async def test_other_methods_are_not_allowed(wh_client: httpx.AsyncClient) -> None:
    assert (await wh_client.get("/webhooks")).status_code == 405
