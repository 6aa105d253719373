"""Requests as Shopify and browsers send them to the portal routes."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from tests.support.signing import API_KEY, API_SECRET, SHOP, proxy_query, session_token

HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}


def signed(
    path: str, customer_id: int | None, params: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    query = proxy_query(
        {k: str(v) if not isinstance(v, list) else v for k, v in (params or {}).items()},
        customer_id="" if customer_id is None else str(customer_id),
        **kwargs,
    )
    return f"{path}?{query}"


async def proxy_page(
    client: httpx.AsyncClient, customer_id: int | None, **params: Any
) -> httpx.Response:
    return await client.get(signed("/proxy/survey", customer_id, params), headers=HTML)


def form_token_of(page: httpx.Response) -> str:
    found = re.search(r'name="_ft" value="([^"]+)"', page.text)
    assert found, "the form carries a form token"
    return found.group(1)


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, f"the form carries {name}"
    return found.group(1)


def form_body(data: dict[str, Any] | list[tuple[str, str]]) -> dict[str, Any]:
    """An urlencoded body as a browser sends it (a list keeps repeated fields)."""
    items = list(data.items()) if isinstance(data, dict) else data
    return {
        "content": urlencode(items).encode(),
        "headers": {**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    }


async def proxy_post_form(
    client: httpx.AsyncClient,
    kind: str,
    customer_id: int | None,
    data: dict[str, Any] | list[tuple[str, str]],
    **sign: Any,
) -> httpx.Response:
    return await client.post(signed(f"/proxy/{kind}", customer_id, **sign), **form_body(data))


async def proxy_post_json(
    client: httpx.AsyncClient, kind: str, customer_id: int | None, body: Any, **sign: Any
) -> httpx.Response:
    return await client.post(signed(f"/proxy/{kind}", customer_id, **sign), json=body, headers=JSON)


def bearer(customer_id: int, shop: str = SHOP, **claims: Any) -> dict[str, str]:
    """A customer-account extension's request headers (session token for this customer)."""
    token = session_token(shop=shop, sub=f"gid://shopify/Customer/{customer_id}", **claims)
    return {"Authorization": f"Bearer {token}", **JSON}


def anonymous_bearer(shop: str = SHOP) -> dict[str, str]:
    """A token from a customer-account page nobody is logged in to: no `sub`."""
    now = int(time.time())
    payload = {"dest": shop, "aud": API_KEY, "exp": now + 60, "nbf": now - 1, "iat": now}
    return {"Authorization": f"Bearer {jwt.encode(payload, API_SECRET, 'HS256')}", **JSON}
