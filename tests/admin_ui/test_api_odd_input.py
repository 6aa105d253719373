"""Odd input to the admin API is a 4xx naming the field at fault, never a 500: digits that are
not ASCII ("²".isdigit() is true), numbers too long to parse or to store, cursors holding
numbers out of range, a month before year 1, JSON nested deeper than the parser recurses."""

from __future__ import annotations

import base64

import httpx
import pytest

from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.runtime import Runtime
from tests.support.signing import session_token

SHOP = "odd-input.myshopify.com"


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=SHOP)}"}


def cursor(parts: str) -> str:
    """A cursor shaped like ours ([sort, segment, scored, key, subscriber id]) from raw JSON."""
    return base64.urlsafe_b64encode(parts.encode()).decode().rstrip("=")


NESTED = "[" * 5000 + "]" * 5000

CASES = [
    pytest.param("GET", "/api/admin/subscribers/%C2%B2", None, "customer_id", id="superscript-id"),
    pytest.param("GET", "/api/admin/subscribers/" + "9" * 5000, None, "customer_id", id="long-id"),
    pytest.param(
        "GET", "/api/admin/subscribers?limit=%C2%B2", None, "limit", id="superscript-limit"
    ),
    pytest.param(
        "GET", "/api/admin/subscribers?limit=" + "9" * 5000, None, "limit", id="long-limit"
    ),
    pytest.param(
        "GET", "/api/admin/subscribers?cursor=" + "A" * 5000, None, "cursor", id="long-cursor"
    ),
    pytest.param(
        "GET",
        "/api/admin/subscribers?cursor=" + cursor('["-value",null,true,1.0,' + "9" * 5000 + "]"),
        None,
        "cursor",
        id="cursor-5000-digit-sid",
    ),
    pytest.param(
        "GET",
        "/api/admin/subscribers?cursor=" + cursor('["-value",null,true,1.0,' + str(10**23) + "]"),
        None,
        "cursor",
        id="cursor-sid-1e23",
    ),
    pytest.param(
        "GET",
        "/api/admin/subscribers?cursor=" + cursor('["-value",null,true,' + str(10**400) + ",1]"),
        None,
        "cursor",
        id="cursor-key-10^400",
    ),
    pytest.param("GET", "/api/admin/reviews/0000-01", None, "month", id="month-year-0"),
    pytest.param(
        "GET",
        "/api/admin/reviews/%C2%B2%C2%B2%C2%B2%C2%B2-01",
        None,
        "month",
        id="month-superscript",
    ),
    pytest.param("POST", "/api/admin/initiatives", NESTED, "body", id="initiative-nested-json"),
    pytest.param("PATCH", "/api/admin/initiatives/1", NESTED, "body", id="patch-nested-json"),
    pytest.param(
        "GET", "/api/admin/privacy/exports/%C2%B2", None, None, id="export-superscript-id"
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), CASES)
async def test_odd_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    method: str,
    url: str,
    body: str | None,
    field: str | None,
) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        await ensure_shop(tx.session, SHOP)
    headers = {**bearer(), "Content-Type": "application/json"}
    response = await client.request(method, url, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field, response.text
