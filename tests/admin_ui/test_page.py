"""`GET /app` (App Home document), its token-refresh page, the static assets, and the local
demo's `/demo` (off unless the app is created with a demo shop)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from admin_ui.assets import ASSET_VERSION, IMMUTABLE
from admin_ui.page import page_of
from plugin.app import build_app_runtime, create_app
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.shopify.tokens import TokenCipher
from tests.conftest import empty_tables, make_settings
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import API_KEY, API_SECRET_PREVIOUS, SHOP, session_token

CSP = f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS = "https://cdn.shopify.com/shopifycloud/polaris.js"
DEMO_SHOP = "demo-coffee.myshopify.com"
STATIC = Path(__file__).parents[2] / "admin_ui" / "static"
NAV_HREFS = [
    "/app",
    "/app/subscribers",
    "/app/retention",
    "/app/cancellations",
    "/app/feedback",
    "/app/initiatives",
    "/app/review",
    "/app/plans",
    "/app/billing",
    "/app/save-offers",
    "/app/settings",
]


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def page_runtime(db_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    rt = await build_app_runtime(make_settings(db_url), http=fake.client())
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


@pytest.fixture
async def page_client(page_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(runtime=page_runtime)) as c:
        yield c


def app_url(token: str | None = None, shop: str = SHOP) -> str:
    query = f"shop={shop}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdmg&embedded=1"
    return f"/app?{query}" + (f"&id_token={token}" if token else "")


async def stored_shop(runtime: Runtime, domain: str = SHOP) -> Shop | None:
    async with runtime.sessionmaker() as session:
        return await session.scalar(select(Shop).where(Shop.domain == domain))


def scripts(html: str) -> list[str]:
    return re.findall(r"<script\b([^>]*)>", html)


async def test_app_home_with_a_valid_id_token(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify
) -> None:
    response = await page_client.get(app_url(session_token(sub="42")))

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    html = response.text
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in html
    # App Bridge is the first script, loaded synchronously (no async/defer).
    first = scripts(html)[0]
    assert f'src="{APP_BRIDGE}"' in first
    assert "async" not in first and "defer" not in first
    assert f'<script src="{POLARIS}"></script>' in html
    assert "<s-page" in html and "<s-app-nav>" in html
    assert f'src="/static/admin/{ASSET_VERSION}/app.js"' in html
    assert "demo-shim" not in html

    # First open: the id token was exchanged for the shop's offline token, stored encrypted.
    [call] = fake.requests_to("/oauth/access_token")
    assert call.json()["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    shop = await stored_shop(page_runtime)
    assert shop is not None and shop.access_token_enc is not None
    [issued_access, _refresh] = fake.issued
    cipher = TokenCipher(page_runtime.settings.token_encryption_key)
    assert cipher.decrypt(shop.access_token_enc) == issued_access
    assert issued_access not in html

    # Later opens use the stored token: no second exchange.
    again = await page_client.get(app_url(session_token(sub="42")))
    assert again.status_code == 200
    assert len(fake.requests_to("/oauth/access_token")) == 1


async def test_app_home_without_a_token_bounces_to_the_patch_page(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify
) -> None:
    response = await page_client.get(app_url())

    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    # The bounce goes to our public URL (APP_URL), keeping the query and the page to reload.
    assert f"{location.scheme}://{location.netloc}" == "https://app.test"
    assert location.path == "/auth/patch-id-token"
    query = parse_qs(location.query)
    assert query["shop"] == [SHOP]
    assert query["shopify-reload"][0].startswith("/app?shop=")
    assert "set-cookie" not in response.headers
    assert await stored_shop(page_runtime) is None
    assert fake.requests == []

    patch = await page_client.get(f"{location.path}?{location.query}")
    assert patch.status_code == 200
    assert patch.headers["content-security-policy"] == CSP
    assert f'data-api-key="{API_KEY}"' in patch.text
    assert APP_BRIDGE in patch.text


async def test_patch_page_refuses_a_shop_that_is_not_a_shop_domain(
    page_client: httpx.AsyncClient,
) -> None:
    # shopify_app would write `shop` into the CSP header unchecked.
    response = await page_client.get(
        "/auth/patch-id-token?shop=evil.example.com%3B%20script-src%20*&shopify-reload=%2Fapp"
    )
    assert response.status_code == 400
    assert "content-security-policy" not in response.headers


# Claims, not tokens: a token made at collection would expire (60 s) before a long run
# reaches the test, and the page would then bounce for a fresh one instead of refusing it.
@pytest.mark.parametrize(
    "claims",
    # Claims, not tokens: a token made at collection would expire (they live a minute) before
    # this test runs in a long session.
    [
        pytest.param({"aud": "another-app"}, id="another app's token"),
        pytest.param({"dest": "https://evil.example.com"}, id="dest not a shop"),
        pytest.param({"sub": "gid://shopify/Customer/7"}, id="customer token"),
        pytest.param({"iss": "https://other-shop.myshopify.com/admin"}, id="iss and dest differ"),
    ],
)
async def test_app_home_with_a_bad_token_is_401_and_stores_nothing(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify, claims: dict[str, str]
) -> None:
    response = await page_client.get(app_url(session_token(**claims)))  # type: ignore[arg-type]

    assert response.status_code == 401
    assert "<s-page" not in response.text
    assert "content-security-policy" not in response.headers
    assert await stored_shop(page_runtime) is None
    assert fake.requests == []


async def test_app_home_with_a_forged_or_expired_token_bounces_for_a_fresh_one(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify
) -> None:
    forged = session_token(secret="not-the-app-secret-but-32-bytes-long")
    expired = session_token(lifetime=-60)
    for token in (forged, expired):
        response = await page_client.get(app_url(token))
        assert response.status_code == 302
        assert urlsplit(response.headers["location"]).path == "/auth/patch-id-token"
        assert "id_token" not in response.headers["location"]
    assert await stored_shop(page_runtime) is None
    assert fake.requests == []


async def test_token_refused_by_shopify_bounces_and_stores_no_token(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify
) -> None:
    # Signed with the previous secret: we still accept it during a rotation, Shopify does not.
    response = await page_client.get(app_url(session_token(secret=API_SECRET_PREVIOUS)))

    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/auth/patch-id-token"
    assert len(fake.requests_to("/oauth/access_token")) == 1
    shop = await stored_shop(page_runtime)
    assert shop is not None and shop.access_token_enc is None


async def test_shopify_unavailable_still_opens_the_page(
    page_client: httpx.AsyncClient, page_runtime: Runtime, fake: FakeShopify
) -> None:
    fake.server_error(on="token")
    response = await page_client.get(app_url(session_token()))

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    shop = await stored_shop(page_runtime)
    assert shop is not None and shop.access_token_enc is None  # the next open tries again


async def test_every_workspace_path_gets_the_shell_with_its_menu(
    page_client: httpx.AsyncClient,
) -> None:
    token = session_token(sub="42")
    query = "shop=" + SHOP + "&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdmg&embedded=1"
    for path in ("/app", "/app/subscribers", "/app/subscribers/123", "/app/no-such-page"):
        response = await page_client.get(f"{path}?{query}&id_token={token}")
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP
        html = response.text
        # The App Bridge menu: every page in the agreed order, the first one home.
        hrefs = re.findall(r'<s-link href="([^"]+)"', html)
        assert hrefs == NAV_HREFS
        assert '<s-link href="/app" rel="home">Overview</s-link>' in html
        assert 'data-base="/app"' in html
        assert "vh-nav" not in html  # inside the admin, the admin draws the menu


def test_a_path_names_its_page() -> None:
    assert page_of("/app", "/app") == "overview"
    assert page_of("/app/", "/app") == "overview"
    assert page_of("/app/subscribers/12", "/app") == "subscribers"
    assert page_of("/demo/retention", "/demo") == "retention"
    assert page_of("/app/../../etc", "/app") == "overview"
    assert page_of("/app/Bad<Name>", "/app") == "overview"


async def test_static_assets_are_hashed_compressed_and_cached(
    page_client: httpx.AsyncClient,
) -> None:
    for name, media in (
        ("app.js", "javascript"),
        ("app.css", "text/css"),
        ("lib/dom.js", "javascript"),
    ):
        response = await page_client.get(f"/static/admin/{ASSET_VERSION}/{name}")
        assert response.status_code == 200
        assert media in response.headers["content-type"]
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) < len(response.content)
        assert response.content == (STATIC / name).read_bytes()  # httpx un-gzips
        again = await page_client.get(
            f"/static/admin/{ASSET_VERSION}/{name}",
            headers={"If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304
    # An old document's version (or none) still gets the file, but must revalidate it.
    for url in ("/static/admin/0123456789ab/app.js", "/static/admin/app.js"):
        stale = await page_client.get(url)
        assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    for missing in ("/static/admin/nope.js", f"/static/admin/{ASSET_VERSION}/../page.py"):
        assert (await page_client.get(missing)).status_code == 404
    favicon = await page_client.get(f"/static/admin/{ASSET_VERSION}/favicon.svg")
    assert favicon.headers["content-type"].startswith("image/svg+xml")


def test_page_scripts_never_write_markup() -> None:
    """The pages render API data as text only; markup sinks would turn data into HTML."""
    sources = {p.relative_to(STATIC).as_posix(): p.read_text("utf-8") for p in STATIC.rglob("*.js")}
    assert "pages/overview.js" in sources and "lib/dom.js" in sources
    for name, source in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"
    shell = sources["app.js"]
    assert "Authorization: `Bearer ${await sessionToken()}`" in shell
    assert "window.shopify.idToken()" in shell


# ---- demo ------------------------------------------------------------------------------------


async def test_demo_routes_are_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/demo")).status_code == 404
    assert (await client.get("/demo/token")).status_code == 404


async def test_demo_page_and_token_in_demo_mode(runtime: Runtime) -> None:
    app = create_app(runtime=runtime, demo_shop=DEMO_SHOP)
    async with asgi_client(app, base_url="http://127.0.0.1:8000") as demo:
        page = await demo.get("/demo")
        assert page.status_code == 200
        assert "set-cookie" not in page.headers
        html = page.text
        assert f'<meta name="shopify-api-key" content="{API_KEY}">' in html
        assert f"/static/admin/{ASSET_VERSION}/demo-shim.js" in scripts(html)[0]
        assert APP_BRIDGE not in html
        assert DEMO_SHOP in html
        # Outside the admin the demo draws the same menu itself, under /demo.
        assert re.findall(r'<a href="(/demo[^"]*)" data-page', html) == [
            "/demo" + href.removeprefix("/app") for href in NAV_HREFS
        ]
        deep = await demo.get("/demo/subscribers/123")
        assert deep.status_code == 200 and 'data-base="/demo"' in deep.text
        assert 'aria-current="page">Subscribers' in deep.text

        minted = await demo.get("/demo/token")
        assert minted.status_code == 200
        assert minted.headers["cache-control"] == "no-store"
        token = minted.json()["token"]
        # The token goes through the same /api/admin verification as App Bridge's.
        overview = await demo.get(
            "/api/admin/overview", headers={"Authorization": f"Bearer {token}"}
        )
        assert overview.status_code == 200
        assert overview.json()["shop"] == DEMO_SHOP
        # The real App Home still works next to it.
        assert (await demo.get(app_url())).status_code == 302


async def test_demo_token_only_for_the_machine_itself(runtime: Runtime) -> None:
    app = create_app(runtime=runtime, demo_shop=DEMO_SHOP)
    async with app.router.lifespan_context(app) as state:

        async def remote(scope, receive, send):  # type: ignore[no-untyped-def]
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=remote, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/demo/token")).status_code == 403


def test_demo_shop_must_be_a_shop_domain() -> None:
    with pytest.raises(ValueError, match="not a shop domain"):
        create_app(demo_shop="demo.example.com")


def test_every_explained_number_has_a_definition() -> None:
    """Each `explain("key")` / tile key in the pages names a metric of the definitions list."""
    from plugin.scoring.definitions import BY_KEY

    used: set[str] = set()
    for path in STATIC.rglob("*.js"):
        source = path.read_text("utf-8")
        used |= set(re.findall(r'explain\("([a-z_]+)"\)', source))
        used |= set(re.findall(r'tile\("[^"]+", "([a-z_]+)"', source))
    assert used, "the pages explain their numbers"
    assert used <= set(BY_KEY), f"undefined: {sorted(used - set(BY_KEY))}"
