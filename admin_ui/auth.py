"""Session-token authentication of `/api/admin/*` (docs/design.md §4, §6).

The embedded page sends `Authorization: Bearer <session token>`: an App Bridge JWT signed
HS256 with the app secret, `aud` = the API key, issued to a staff member of the shop named by
`dest`. The shop comes from the verified token only; nothing in the request can name another.
Failures are 401 with a JSON reason and the header App Bridge's `fetch` watches
(`X-Shopify-Retry-Invalid-Session-Request`): it then retries once with a fresh token, which is
what an expired token (they live about a minute) needs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.models import Shop
from plugin.portal.common import error_body
from plugin.runtime import Runtime
from plugin.shopify.verify import InvalidRequest, SessionClaims, verify_session_token

log = logging.getLogger(__name__)

RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class AdminContext:
    """An authenticated admin request: the shop (from the token) and a read session.

    shop_id is None while we hold no record of the shop (a merchant can open the app before
    any webhook has arrived): there is then nothing stored to show yet.
    """

    runtime: Runtime
    session: AsyncSession
    claims: SessionClaims
    shop_domain: str
    shop_id: int | None


AdminHandler = Callable[[Request, AdminContext], Awaitable[Response]]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def unauthorized(code: str, message: str) -> JSONResponse:
    return JSONResponse(
        error_body(code, message),
        status_code=401,
        headers={
            **NO_STORE,
            "WWW-Authenticate": 'Bearer error="invalid_token"',
            RETRY_HEADER: "1",
        },
    )


def admin_endpoint(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that authenticates the request, then calls `handler`."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.state.runtime
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return unauthorized("missing_token", "send the session token as a Bearer token")
        try:
            claims = verify_session_token(token, runtime.settings, subject="staff")
        except InvalidRequest as exc:
            # The reason is a short code (never the token): safe to log and to return.
            log.info("admin API refused a session token: %s", exc.reason)
            return unauthorized("invalid_session_token", f"session token refused: {exc.reason}")
        async with runtime.sessionmaker() as session:
            shop_id = await session.scalar(select(Shop.id).where(Shop.domain == claims.shop))
            ctx = AdminContext(runtime, session, claims, claims.shop, shop_id)
            response = await handler(request, ctx)
        response.headers.update(NO_STORE)
        return response

    endpoint.__name__ = handler.__name__
    return endpoint
