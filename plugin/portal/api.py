"""JSON API for the customer-account UI extension: `/api/portal/…`.

Authentication: `Authorization: Bearer <session token>` signed by Shopify with the app secret,
`dest` = the shop, `sub` = the customer's GID (docs/design.md §4). The shop and customer come from
the token only.

CORS: every response, and the `OPTIONS` preflight (204), allow any origin, without
credentials. The extension's code runs in a sandboxed worker whose origin Shopify serves from
its CDN (https://extensions.shopifycdn.com today) and does not promise to keep; Shopify's
network-access guidance for UI extensions is to accept any origin. That costs nothing here:
the API reads no cookies, so a page elsewhere gains nothing from CORS without a valid token,
and the token (not the origin) is what authenticates.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.db.transaction import Tx, transaction
from plugin.models import Shop, Subscriber
from plugin.models.base import utcnow
from plugin.portal.common import (
    CANCEL,
    FIELDS,
    NPS,
    BodyError,
    customer_key,
    error_body,
    read_answer,
    runtime_of,
    shop_and_subscriber,
    store_answer,
    survey_error_json,
    within_limit,
)
from plugin.portal.views import cancel_view, pending_nps
from plugin.runtime import Runtime
from plugin.shopify.verify import InvalidRequest, SessionClaims, verify_session_token
from plugin.surveys.answers import Channel
from plugin.surveys.errors import AnswerInvalid, SurveyError
from plugin.surveys.i18n import negotiate
from plugin.surveys.ratelimit import CUSTOMER_LIMIT, retry_after_header
from plugin.surveys.validation import MAX_COMMENT_CHARS, parse_contract_id

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Accept-Language",
    "Access-Control-Max-Age": "86400",
}


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(
        body, status, headers={**CORS_HEADERS, "Cache-Control": "no-store", **headers}
    )


async def preflight(_request: Request) -> Response:
    """OPTIONS /api/portal/…: the CORS preflight."""
    return Response(status_code=204, headers=CORS_HEADERS)


def _claims(request: Request) -> SessionClaims | JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _json(error_body("unauthorized", "a Bearer session token is required"), 401)
    try:
        claims = verify_session_token(
            token.strip(), runtime_of(request).settings, subject="customer"
        )
    except InvalidRequest as exc:
        log.info("portal API token refused: %s", exc.reason)
        return _json(error_body("unauthorized", "invalid session token"), 401)
    if claims.customer_id is None:
        return _json(error_body("not_logged_in", "the customer is not logged in"), 401)
    return claims


async def customer_of(
    tx: Tx, rt: Runtime, claims: SessionClaims
) -> tuple[Shop, Subscriber | None] | JSONResponse:
    """The token's shop and subscriber, the request counted against the customer's limit; the
    refusal when the shop is unknown or the customer over the limit."""
    assert claims.customer_id is not None
    shop, subscriber = await shop_and_subscriber(tx.session, claims.shop, claims.customer_id)
    if shop is None:
        return _json(error_body("unavailable", "this store does not offer surveys"), 404)
    decision = await within_limit(rt, customer_key(shop.id, claims.customer_id), CUSTOMER_LIMIT)
    if not decision.allowed:
        return _json(
            error_body("rate_limited", "too many requests"),
            429,
            **{"Retry-After": retry_after_header(decision)},
        )
    return shop, subscriber


def _refusal(error: SurveyError) -> JSONResponse:
    return survey_error_json(error, headers={**CORS_HEADERS, "Cache-Control": "no-store"})


async def survey(request: Request) -> Response:
    """GET /api/portal/survey[?contract_id=…&locale=…]: what to ask this customer."""
    claims = _claims(request)
    if isinstance(claims, JSONResponse):
        return claims
    assert claims.customer_id is not None
    rt = runtime_of(request)
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        found = await customer_of(tx, rt, claims)
        if isinstance(found, JSONResponse):
            return found
        shop, subscriber = found
        locale = negotiate(
            request.query_params.get("locale"),
            accept=request.headers.get("accept-language"),
            fallbacks=(subscriber.locale if subscriber else None, shop.locale),
        )
        body: dict[str, Any] = {"locale": locale, "nps": None, "cancel": None}
        if subscriber is None:
            return _json(body)
        nps = await pending_nps(tx.session, shop, subscriber, utcnow())
        if nps is not None:
            body["nps"] = {
                "invitation_id": nps.invitation_id,
                "expires_at": nps.expires_at.isoformat(),
                "max_comment": MAX_COMMENT_CHARS,
            }
        raw_contract = request.query_params.get("contract_id")
        if raw_contract is not None:
            try:
                view = await cancel_view(
                    tx.session, shop, subscriber, parse_contract_id(raw_contract), locale
                )
            except AnswerInvalid as error:
                return _refusal(error)
            if view is None:
                return _refusal(AnswerInvalid("contract_id", "is not a subscription of yours"))
            body["cancel"] = {
                "contract_id": view.contract_id,
                "reasons": [
                    {"code": r.code, "label": r.label, "requires_comment": r.requires_comment}
                    for r in view.reasons
                ],
                "answer": view.answer or None,
                "max_comment": MAX_COMMENT_CHARS,
            }
        return _json(body)


async def _answer(request: Request, kind: str) -> Response:
    claims = _claims(request)
    if isinstance(claims, JSONResponse):
        return claims
    customer_id = claims.customer_id
    assert customer_id is not None
    rt = runtime_of(request)
    try:
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            found = await customer_of(tx, rt, claims)
            if isinstance(found, JSONResponse):
                return found
            shop, subscriber = found
            try:
                values, _ = await read_answer(request, FIELDS[kind])
            except BodyError as exc:
                body = error_body(exc.error.code, exc.error.message, exc.error.field)
                return _json(body, exc.status)
            result, _ = await store_answer(
                tx,
                rt,
                kind,
                shop_id=shop.id,
                subscriber=subscriber,
                values=values,
                channel=Channel.EXTENSION,
                now=utcnow(),
            )
    except SurveyError as error:
        return _refusal(error)
    return _json(result, 201)


async def submit_nps(request: Request) -> Response:
    """POST /api/portal/nps."""
    return await _answer(request, NPS)


async def submit_cancel(request: Request) -> Response:
    """POST /api/portal/cancel-reason."""
    return await _answer(request, CANCEL)
