"""Two holes found in review, closed: a repeated `shop` on the token-refresh page (our check read
one value, shopify_app wrote another into the CSP header), and the demo's token route answering
whatever `Host` a DNS-rebinding page sends from the user's own browser."""

from __future__ import annotations

import httpx
import pytest

from plugin.app import create_app
from plugin.runtime import Runtime
from tests.support.asgi import asgi_client
from tests.support.signing import SHOP

DEMO_SHOP = "demo-coffee.myshopify.com"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.parametrize(
    "query",
    [
        f"shop=evil.example.com&shop={SHOP}",
        f"shop={SHOP}&shop=evil.example.com",
        f"shop={SHOP}&shop={SHOP}",
        f"shop={SHOP}&shop=x.myshopify.com%0d%0aSet-Cookie:%20a=b",
    ],
)
async def test_patch_page_refuses_a_repeated_shop(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/auth/patch-id-token?{query}&shopify-reload=%2Fapp")
    assert response.status_code == 400
    assert "content-security-policy" not in response.headers


async def test_app_home_refuses_a_repeated_shop(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/app?shop=evil.example.com&shop={SHOP}&embedded=1")
    assert response.status_code == 400
    assert "content-security-policy" not in response.headers


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.1", "localhost"]
)
async def test_demo_token_for_a_loopback_host(runtime: Runtime, host: str) -> None:
    app = create_app(runtime=runtime, demo_shop=DEMO_SHOP)
    async with asgi_client(app) as c:
        assert (await c.get("/demo/token", headers={"Host": host})).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["attacker.example:8000", "attacker.example", "127.0.0.1.attacker.example", "", "testserver"],
)
async def test_demo_token_refused_for_any_other_host(runtime: Runtime, host: str) -> None:
    # A rebinding page's requests come from the machine itself, with the attacker's name.
    app = create_app(runtime=runtime, demo_shop=DEMO_SHOP)
    async with asgi_client(app) as c:
        response = await c.get("/demo/token", headers={"Host": host})
        assert response.status_code == 403
        assert "token" not in response.json()
