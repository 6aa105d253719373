"""Random headers and bodies: never a 500; nothing stored unless signed and well-formed."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.runtime import Runtime
from plugin.topics import TOPICS
from tests.support.signing import API_SECRET, API_SECRET_PREVIOUS, SHOP, webhook_hmac
from tests.webhooks.conftest import row_counts

# Header values as a server could pass them on: printable Latin-1 plus the odd control byte.
header_text = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n"),
    max_size=300,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5).map(
        lambda v: json.dumps(v).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5).map(
        lambda v: json.dumps(v).encode()
    ),
)
# Mostly well-formed values, so that signed deliveries also reach the database path.
topics = st.one_of(*[st.sampled_from(sorted(TOPICS))] * 3, header_text)
domains = st.one_of(
    st.just(SHOP),
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}\.myshopify\.com", fullmatch=True),
    header_text,
)
webhook_ids = st.one_of(*[st.uuids().map(str)] * 3, header_text)
signing = st.sampled_from(["current", "current", "previous", "wrong", "garbage", "absent"])


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    topic=st.one_of(topics, topics, st.none()),
    domain=st.one_of(domains, domains, st.none()),
    webhook_id=st.one_of(webhook_ids, webhook_ids, st.none()),
    extra=st.dictionaries(
        st.sampled_from(
            ["X-Shopify-Event-Id", "X-Shopify-API-Version", "X-Shopify-Triggered-At", "X-Other"]
        ),
        header_text,
    ),
    how=signing,
)
async def test_random_requests_never_500_and_store_only_signed_wellformed_ones(
    wh_client: httpx.AsyncClient,
    wh_runtime: Runtime,
    body: bytes,
    topic: str | None,
    domain: str | None,
    webhook_id: str | None,
    extra: dict[str, str],
    how: str,
) -> None:
    headers: dict[str, Any] = {**extra}
    for name, value in (
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Shop-Domain", domain),
        ("X-Shopify-Webhook-Id", webhook_id),
    ):
        if value is not None:
            headers[name] = value
    signature = {
        "current": webhook_hmac(body, API_SECRET),
        "previous": webhook_hmac(body, API_SECRET_PREVIOUS),
        "wrong": webhook_hmac(body, "some-other-secret"),
        "garbage": "%%%",
        "absent": None,
    }[how]
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}

    before = await row_counts(wh_runtime)
    response = await wh_client.post("/webhooks", content=body, headers=encoded)
    after = await row_counts(wh_runtime)

    assert response.status_code in {200, 400, 401}
    if how not in {"current", "previous"}:
        assert response.status_code == 401
    status = response.json().get("status") if response.status_code == 200 else None
    if status == "accepted":
        assert after[1] == before[1] + 1
        assert isinstance(json.loads(body), dict)
    else:
        assert after[1] == before[1], "an inbox row was stored for a delivery not accepted"
    if status not in {"accepted", "duplicate"}:
        assert after[0] == before[0], "a shop row was created for a refused delivery"
