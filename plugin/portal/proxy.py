"""App proxy pages: `https://{shop}/apps/{subpath}/…` forwarded by Shopify to `/proxy/…`.

Every request, GET and POST, is verified from its signed query (docs/design.md §4); the shop and
the customer come from that query only, the body is untrusted input. Pages are served as
Liquid so they render inside the store theme (a shop may turn that off), work without
JavaScript, and post back to the storefront path (`path_prefix`) so that Shopify signs the POST
too. Anonymous visitors get a "please log in" page, never anybody's survey. The rate limit here
is per customer only: every proxy request comes from Shopify's servers, whatever the visitor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.db.transaction import transaction
from plugin.models import Shop, Subscriber
from plugin.models.base import utcnow
from plugin.portal.common import (
    CANCEL,
    FIELDS,
    NPS,
    BodyError,
    Rollback,
    body_refusal,
    customer_key,
    error_body,
    read_answer,
    refusal_status,
    runtime_of,
    shop_and_subscriber,
    store_answer,
    survey_error_json,
    thanks_page,
    wants_json,
    within_limit,
)
from plugin.portal.forms import form_token, form_token_valid
from plugin.portal.pages import Page
from plugin.portal.views import cancel_view, pending_nps
from plugin.runtime import Runtime
from plugin.shopify.verify import InvalidRequest, ProxyRequest, verify_app_proxy_query
from plugin.surveys.answers import Channel
from plugin.surveys.errors import AnswerInvalid, NoPendingSurvey, SurveyError
from plugin.surveys.i18n import negotiate, translator
from plugin.surveys.ratelimit import CUSTOMER_LIMIT, retry_after_header
from plugin.surveys.settings import survey_settings
from plugin.surveys.validation import parse_contract_id

log = logging.getLogger(__name__)


@dataclass
class Visit:
    """A verified proxy request of a logged-in customer of an installed shop."""

    proxy: ProxyRequest
    shop: Shop
    customer_id: int
    subscriber: Subscriber | None
    page: Page

    def action(self, name: str) -> str:
        return f"{self.proxy.path_prefix}/{name}"


def _plain_page(request: Request) -> Page:
    """For refusals before we know the shop: a standalone page in the visitor's language."""
    return Page(translator(negotiate(None, accept=request.headers.get("accept-language"))))


def _refuse(request: Request, json_out: bool, status: int, code: str, key: str) -> Response:
    if json_out:
        return JSONResponse(error_body(code, key.replace("_", " ")), status)
    return _plain_page(request).message(key, status)


async def _visit(request: Request, session: AsyncSession, *, json_out: bool) -> Visit | Response:
    """Verify the request and find who is asking; a Response when they cannot go on."""
    rt = runtime_of(request)
    try:
        proxy = verify_app_proxy_query(request.url.query, rt.settings)
    except InvalidRequest as exc:
        log.info("app proxy request refused: %s", exc.reason)
        return _refuse(request, json_out, 401, "unauthorized", "unauthorized")
    shop, subscriber = await shop_and_subscriber(session, proxy.shop, proxy.customer_id)
    if shop is None:
        return _refuse(request, json_out, 404, "unavailable", "unavailable")
    settings = survey_settings(shop)
    locale = negotiate(
        proxy.params.get("locale"),
        accept=request.headers.get("accept-language"),
        fallbacks=(subscriber.locale if subscriber else None, shop.locale),
    )
    page = Page(translator(locale, settings.labels), liquid=settings.proxy_theme_layout)
    if proxy.customer_id is None:
        if json_out:
            return JSONResponse(error_body("not_logged_in", "please log in"), 401)
        target = quote(f"{proxy.path_prefix}/survey", safe="/")
        return page.message(
            "login",
            link_href=f"/account/login?return_url={target}",
            link_text=page.t("login.link"),
        )
    decision = await within_limit(rt, customer_key(shop.id, proxy.customer_id), CUSTOMER_LIMIT)
    if not decision.allowed:
        headers = {"Retry-After": retry_after_header(decision)}
        if json_out:
            return JSONResponse(error_body("rate_limited", "too many requests"), 429, headers)
        response = page.message("rate_limited", 429)
        response.headers.update(headers)
        return response
    return Visit(proxy, shop, proxy.customer_id, subscriber, page)


def _token(request: Request, visit: Visit) -> str:
    return form_token(runtime_of(request).settings, visit.shop.domain, visit.customer_id)


async def survey_page(request: Request) -> Response:
    """GET /proxy/survey: the pending NPS survey, or with ?contract_id= the cancel form."""
    rt = runtime_of(request)
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        visit = await _visit(request, tx.session, json_out=False)
        if isinstance(visit, Response):
            return visit
        page, subscriber = visit.page, visit.subscriber
        raw_contract = visit.proxy.params.get("contract_id")
        if raw_contract is not None:
            return await _cancel_form(request, tx.session, visit, raw_contract)
        nps = (
            await pending_nps(tx.session, visit.shop, subscriber, utcnow())
            if subscriber is not None
            else None
        )
        if nps is None:
            return page.message("none")
        return page.render(
            "nps.html",
            title=page.t("nps.title"),
            action=visit.action(NPS),
            form_token=_token(request, visit),
            invitation_id=nps.invitation_id,
        )


async def _cancel_form(
    request: Request,
    session: AsyncSession,
    visit: Visit,
    raw_contract: object,
    status: int = 200,
    **context: Any,
) -> Response:
    page = visit.page
    try:
        contract_id = parse_contract_id(raw_contract)
    except AnswerInvalid:
        return page.message("not_found", 404 if status == 200 else status)
    view = (
        await cancel_view(session, visit.shop, visit.subscriber, contract_id, page.t.locale)
        if visit.subscriber is not None
        else None
    )
    if view is None:
        return page.message("not_found", 404 if status == 200 else status)
    context.setdefault("answer", view.answer)
    return page.render(
        "cancel.html",
        status,
        title=page.t("cancel.title"),
        action=visit.action(CANCEL),
        form_token=_token(request, visit),
        contract_id=view.contract_id,
        reasons=view.reasons,
        **context,
    )


def _as_shown(values: dict[str, Any]) -> dict[str, Any]:
    """What the subscriber sent, put back into the form next to the error."""
    shown = dict(values)
    for name in ("score", "value_for_money"):
        raw = shown.get(name)
        if isinstance(raw, str) and raw.strip().isdigit():
            shown[name] = int(raw)
    return shown


async def _refused(
    request: Request,
    session: AsyncSession,
    kind: str,
    visit: Visit,
    values: dict[str, Any],
    error: SurveyError,
) -> Response:
    """The form again with the error beside its field (422), or why nothing can be answered."""
    page = visit.page
    if not isinstance(error, AnswerInvalid):
        key = "none" if isinstance(error, NoPendingSurvey) else "closed"
        return page.message(key, refusal_status(error), note=page.t(f"errors.{error.code}"))
    field_errors, errors = page.invalid(error)
    context: dict[str, Any] = {
        "answer": _as_shown(values),
        "field_errors": field_errors,
        "errors": errors,
    }
    if kind == CANCEL:
        contract = values.get("contract_id")
        return await _cancel_form(request, session, visit, contract, 422, **context)
    return page.render(
        "nps.html",
        422,
        title=page.t("nps.title"),
        action=visit.action(NPS),
        form_token=_token(request, visit),
        invitation_id=values.get("invitation_id") or "",
        **context,
    )


async def _answer(request: Request, kind: str) -> Response:
    rt: Runtime = runtime_of(request)
    json_out = wants_json(request)
    try:
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            visit = await _visit(request, tx.session, json_out=json_out)
            if isinstance(visit, Response):
                return visit
            values: dict[str, Any] = {}
            try:
                values, is_form = await read_answer(request, FIELDS[kind])
                if is_form and not form_token_valid(
                    rt.settings, values.get("_ft"), visit.shop.domain, visit.customer_id
                ):
                    if json_out:
                        return JSONResponse(error_body("form_expired", "reload the form"), 403)
                    return visit.page.message("form_expired", 403)
                result, editable_until = await store_answer(
                    tx,
                    rt,
                    kind,
                    shop_id=visit.shop.id,
                    subscriber=visit.subscriber,
                    values=values,
                    channel=Channel.PROXY,
                    now=utcnow(),
                )
            except BodyError as exc:
                return body_refusal(exc, visit.page, json_out=json_out)
            except SurveyError as error:
                # Rendered before the transaction rolls back: nothing of this answer is stored.
                refusal = (
                    survey_error_json(error)
                    if json_out
                    else await _refused(request, tx.session, kind, visit, values, error)
                )
                raise Rollback(refusal) from error
            if json_out:
                return JSONResponse(result, 201)
            return thanks_page(visit.page, editable_until)
    except Rollback as rollback:
        return rollback.response


async def submit_nps(request: Request) -> Response:
    """POST /proxy/nps (form or JSON)."""
    return await _answer(request, NPS)


async def submit_cancel(request: Request) -> Response:
    """POST /proxy/cancel-reason (form or JSON)."""
    return await _answer(request, CANCEL)
