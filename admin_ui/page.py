"""The App Home document (`GET /app`), its token-refresh page, and the local demo's copy of it.

Shopify loads `/app?shop=…&host=…&embedded=1&id_token=…` in the admin iframe. `shopify_app`
verifies the id token (or answers with its bounce to the patch-id-token page when there is
none or it is stale) and gives the headers an App Home document must carry, among them
`Content-Security-Policy: frame-ancestors https://{shop} https://admin.shopify.com;`. On top
of that the token goes through our own session-token check (strict shop domain, `iss`/`dest`
agreement, a staff subject) before anything is stored. On the merchant's first open the id
token is exchanged for the shop's offline token.

Every workspace URL (`/app`, `/app/subscribers/123`, …) gets the same shell document: its
router (`static/app.js`) picks the page module from the path, so deep links and the back
button work. The document itself holds no data: the pages fetch it from `/api/admin/*` with the
session token, so there are no cookies anywhere. The demo (`create_app(demo_shop=…)`) serves
the same document under `/demo` with a shim in place of App Bridge whose `shopify.idToken()` asks
`/demo/token` for a token signed like Shopify's.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path

import shopify_app
from jinja2 import Environment, FileSystemLoader, select_autoescape
from shopify_app.types import RequestInput, Res
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from admin_ui.assets import ASSET_VERSION, asset_exists
from admin_ui.auth import NO_STORE
from plugin.db.transaction import transaction
from plugin.demo_login import DEMO_TOKEN_LIFETIME_S, mint_demo_session_token
from plugin.domain.shops import mark_installed
from plugin.inbox import ensure_shop
from plugin.models.base import utcnow
from plugin.models.shop import Shop
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.scoring.definitions import short_definitions
from plugin.settings import Settings
from plugin.shopify.errors import ShopifyError
from plugin.shopify.tokens import exchange_session_token
from plugin.shopify.verify import (
    InvalidRequest,
    app_config,
    normalize_shop_domain,
    verify_session_token,
)

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"  # noqa: S105 (a route, not a secret)
STATIC_PATH = "/static/admin"
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris.js"
APP_BASE = "/app"
DEMO_BASE = "/demo"

# The workspace's pages, in navigation order: (URL segment = module name, label). The
# first is the home page at the base URL itself.
NAV: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("subscribers", "Subscribers"),
    ("retention", "Retention"),
    ("cancellations", "Cancellations"),
    ("feedback", "Feedback"),
    ("initiatives", "Initiatives"),
    ("review", "Monthly review"),
    ("plans", "Plans"),
    ("billing", "Billing"),
    ("save-offers", "Save offers"),
    ("settings", "Settings"),
)
_DEFINITIONS = short_definitions()
_PAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")

_ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def page_of(path: str, base: str) -> str:
    """The page a workspace URL shows: `/app` → overview, `/app/subscribers/7` → subscribers."""
    rest = path[len(base) :] if path.startswith(base) else path
    first = next((part for part in rest.split("/") if part), "overview")
    return first if _PAGE_NAME.match(first) else "overview"


def render_page(settings: Settings, *, shop: str, demo: bool, page: str = "overview") -> str:
    """The workspace shell; it holds no data. `page` only picks which module to preload."""
    module = f"pages/{page}.js"
    base = DEMO_BASE if demo else APP_BASE
    return _ENV.get_template("app.html").render(
        api_key=settings.api_key,
        shop=shop,
        demo=demo,
        base=base,
        nav=[
            (name, label, base if i == 0 else f"{base}/{name}")
            for i, (name, label) in enumerate(NAV)
        ],
        app_nav=[
            (label, APP_BASE if i == 0 else f"{APP_BASE}/{name}")
            for i, (name, label) in enumerate(NAV)
        ],
        current=page,
        pages=" ".join(name for name, _ in NAV if asset_exists(f"pages/{name}.js")),
        preload=module if asset_exists(module) else None,
        assets=f"{STATIC_PATH}/{ASSET_VERSION}",
        app_bridge_url=APP_BRIDGE_URL,
        polaris_url=POLARIS_URL,
        definitions=_DEFINITIONS,
    )


def _shopify_request(request: Request, settings: Settings) -> RequestInput:
    # The public URL (APP_URL), not the one behind the proxy: shopify_app builds the bounce
    # Location from it.
    query = request.url.query
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": f"{settings.app_url}{request.url.path}" + (f"?{query}" if query else ""),
        "body": "",
    }


def _as_response(res: Res) -> Response:
    """A shopify_app response returned as-is (status, body and its security headers)."""
    return Response(res.body, status_code=res.status, headers=res.headers)


async def app_home(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    settings = runtime.settings
    result = shopify_app.verify_app_home_req(
        _shopify_request(request, settings), app_config(settings), PATCH_ID_TOKEN_PATH
    )
    if not result.ok or result.id_token is None:
        log.info("app home request not verified: %s", result.log.code)
        return _as_response(result.response)
    id_token = result.id_token.token
    try:
        claims = verify_session_token(id_token, settings, subject="staff")
    except InvalidRequest as exc:
        log.info("app home id token refused: %s", exc.reason)
        return PlainTextResponse("Unauthorized", status_code=401)

    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        shop = await tx.session.get_one(Shop, await ensure_shop(tx.session, claims.shop))
        # Shopify only lets an installed app's page open: this is install evidence.
        mark_installed(shop, utcnow())
        if shop.access_token_enc is None:
            refused = await _first_open_exchange(runtime, tx.session, shop, id_token)
            if refused and result.invalid_token_response is not None:
                # Shopify refused this id token: bounce so App Bridge brings a fresh one.
                return _as_response(result.invalid_token_response)

    headers = {**result.response.headers, **NO_STORE}
    page = page_of(request.url.path, APP_BASE)
    return HTMLResponse(
        render_page(settings, shop=claims.shop, demo=False, page=page), headers=headers
    )


async def _first_open_exchange(
    runtime: Runtime, session: AsyncSession, shop: Shop, id_token: str
) -> bool:
    """Exchange the id token for the shop's offline token; True when Shopify refused the token.

    The page reads only our own database, so an unreachable Shopify does not keep the merchant
    out: it is logged and the next open tries again.
    """
    try:
        await exchange_session_token(runtime, session, shop, id_token)
    except InvalidRequest as exc:
        log.warning("token exchange for %s refused: %s", shop.domain, exc.reason)
        return True
    except (TransientError, ShopifyError) as exc:
        log.error("token exchange for %s failed: %s", shop.domain, exc)
    return False


async def patch_id_token(request: Request) -> Response:
    """The page App Bridge uses to re-request a document with a fresh id token."""
    settings: Settings = request.state.runtime.settings
    # shopify_app writes `shop` into a CSP header unchecked: accept only a real shop domain.
    if normalize_shop_domain(request.query_params.get("shop")) is None:
        return PlainTextResponse("Bad Request", status_code=400)
    result = shopify_app.app_home_patch_id_token(
        _shopify_request(request, settings), app_config(settings)
    )
    if not result.ok:
        log.info("patch id token page refused: %s", result.log.code)
    return _as_response(result.response)


# -- local demo --------------------------------------------------------------------------


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_routes(shop: str) -> list[BaseRoute]:
    """`/demo` and `/demo/token` for one demo shop; create_app adds them only when asked."""
    domain = normalize_shop_domain(shop)
    if domain is None:
        raise ValueError(f"not a shop domain: {shop!r}")

    async def demo_page(request: Request) -> Response:
        settings: Settings = request.state.runtime.settings
        # Served top-level on localhost, never framed.
        headers = {"Content-Security-Policy": "frame-ancestors 'none';", **NO_STORE}
        page = page_of(request.url.path, DEMO_BASE)
        return HTMLResponse(
            render_page(settings, shop=domain, demo=True, page=page), headers=headers
        )

    async def demo_token(request: Request) -> Response:
        # A token for the demo shop to anyone who asks: only the machine itself may ask.
        if not _is_loopback(request):
            return JSONResponse({"error": {"code": "forbidden"}}, status_code=403)
        settings: Settings = request.state.runtime.settings
        token = mint_demo_session_token(settings, domain)
        return JSONResponse({"token": token, "expires_in": DEMO_TOKEN_LIFETIME_S}, headers=NO_STORE)

    # The token route comes first: every other path under /demo is a workspace page.
    return [
        Route("/demo/token", demo_token, methods=["GET"]),
        Route("/demo", demo_page, methods=["GET"]),
        Route("/demo/{path:path}", demo_page, methods=["GET"]),
    ]
