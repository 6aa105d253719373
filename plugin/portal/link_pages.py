"""Signed survey links from emails: `GET|POST /s/{token}`, no login.

The token names one invitation, its shop and customer, and when it expires (see
`plugin.surveys.links`). `GET /s/{token}?score=9` (the one-click links of an email) records
nothing: mail scanners fetch every link of a message, and would answer the survey. It shows
the form with that score chosen, and a script (allowed by its hash in the CSP) posts the form
at once and says the score is saved; without script, a button next to the scale does the same.
One click for a person, nothing for a scanner that does not run the page. The two optional
questions follow; the whole form then POSTs to the same URL.

Rate limits here are per client IP (these pages are reached directly, not through Shopify) and
per customer. Pages are standalone documents: `Referrer-Policy: no-referrer` keeps the token out
of other sites' logs, and they are not indexed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.db.transaction import transaction
from plugin.models import InvitationStatus, NpsInvitation, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.portal.common import (
    FIELDS,
    NPS,
    BodyError,
    Rollback,
    body_refusal,
    customer_key,
    error_body,
    read_answer,
    runtime_of,
    store_answer,
    survey_error_json,
    thanks_page,
    wants_json,
    within_limit,
)
from plugin.portal.pages import Page
from plugin.portal.views import invitation_view
from plugin.surveys.answers import Channel
from plugin.surveys.errors import AnswerInvalid, AnswerLocked, SurveyError
from plugin.surveys.i18n import negotiate, translator
from plugin.surveys.links import InvalidLink, read_token
from plugin.surveys.ratelimit import CUSTOMER_LIMIT, IP_LIMIT, retry_after_header
from plugin.surveys.settings import survey_settings
from plugin.surveys.validation import parse_score, single_values

log = logging.getLogger(__name__)

# Posts the one-click page's form as it stands (the chosen score and any earlier answers),
# then shows the "saved" status. Constant, so the CSP can allow exactly it by its hash.
ONE_CLICK_SCRIPT = (
    "(function(){var f=document.querySelector('form[data-vh-one-click]');"
    "if(!f||!window.fetch||!window.URLSearchParams)return;"
    "fetch(f.action,{method:'POST',credentials:'omit',headers:{'Accept':'application/json'},"
    "body:new URLSearchParams(new FormData(f))}).then(function(r){"
    "if(r.ok){document.getElementById('vh-recorded').hidden=false;}});})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(ONE_CLICK_SCRIPT.encode()).digest()).decode()

LINK_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


@dataclass
class LinkVisit:
    shop: Shop
    invitation: NpsInvitation
    subscriber: Subscriber
    page: Page
    action: str


def _page(request: Request, shop: Shop | None = None, sub: Subscriber | None = None) -> Page:
    labels = survey_settings(shop).labels if shop is not None else {}
    locale = negotiate(
        request.query_params.get("locale"),
        accept=request.headers.get("accept-language"),
        fallbacks=(sub.locale if sub else None, shop.locale if shop else None),
    )
    return Page(translator(locale, labels), headers=dict(LINK_HEADERS))


def _refuse(request: Request, status: int, code: str, key: str, **headers: str) -> Response:
    if wants_json(request):
        return JSONResponse(
            error_body(code, key.replace("_", " ")), status, headers={**LINK_HEADERS, **headers}
        )
    response = _page(request).message(key, status)
    response.headers.update(headers)
    return response


async def _visit(request: Request, session: AsyncSession) -> LinkVisit | Response:
    rt = runtime_of(request)
    client_ip = request.client.host if request.client else "unknown"
    decision = await within_limit(rt, f"ip:{client_ip}", IP_LIMIT)
    if not decision.allowed:
        return _refuse(
            request,
            429,
            "rate_limited",
            "rate_limited",
            **{"Retry-After": retry_after_header(decision)},
        )
    token = request.path_params["token"]
    now = utcnow()
    try:
        claims = read_token(token, rt.settings, now=now)
    except InvalidLink as exc:
        log.info("survey link refused: %s", exc.reason)
        return _refuse(request, 401, "invalid_link", "link_invalid")
    row = (
        await session.execute(
            select(NpsInvitation, Subscriber, Shop)
            .join(Subscriber, Subscriber.id == NpsInvitation.subscriber_id)
            .join(Shop, Shop.id == NpsInvitation.shop_id)
            .where(
                NpsInvitation.id == claims.invitation_id,
                NpsInvitation.shop_id == claims.shop_id,
                Subscriber.shop_id == claims.shop_id,
                Subscriber.customer_id == claims.customer_id,
                Shop.uninstalled_at.is_(None),
            )
        )
    ).first()
    if row is None:
        # Signed by us but naming nothing that is still there (erased, uninstalled).
        return _refuse(request, 401, "invalid_link", "link_invalid")
    invitation, subscriber, shop = row
    decision = await within_limit(rt, customer_key(shop.id, claims.customer_id), CUSTOMER_LIMIT)
    if not decision.allowed:
        return _refuse(
            request,
            429,
            "rate_limited",
            "rate_limited",
            **{"Retry-After": retry_after_header(decision)},
        )
    return LinkVisit(shop, invitation, subscriber, _page(request, shop, subscriber), f"/s/{token}")


async def _form(
    session: AsyncSession, visit: LinkVisit, status: int = 200, **context: object
) -> Response:
    view = await invitation_view(session, visit.invitation, utcnow())
    if view.final:
        return _closed(visit, AnswerLocked())
    context.setdefault("answer", view.answer)
    return visit.page.render(
        "nps.html",
        status,
        title=visit.page.t("nps.title"),
        action=visit.action,
        form_token=None,
        invitation_id=visit.invitation.id,
        **context,
    )


def _closed(visit: LinkVisit, error: SurveyError | None = None) -> Response:
    note = visit.page.t(f"errors.{error.code}") if error is not None else None
    return visit.page.message("closed", 409, note=note)


async def link_page(request: Request) -> Response:
    """GET /s/{token}[?score=N]: the survey, with the link's score chosen (recorded only when
    the page posts it)."""
    rt = runtime_of(request)
    try:
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            visit = await _visit(request, tx.session)
            if isinstance(visit, Response):
                return visit
            if visit.invitation.status not in (
                InvitationStatus.PENDING,
                InvitationStatus.ANSWERED,
            ):
                return _closed(visit)
            scores = request.query_params.getlist("score")
            if not scores:
                return await _form(tx.session, visit)
            try:
                values = single_values([("score", s) for s in scores], ["score"])
                score = parse_score(values["score"])
            except SurveyError as error:
                raise Rollback(await _refused(tx.session, visit, error, {})) from error
            view = await invitation_view(tx.session, visit.invitation, utcnow())
            if view.final:
                return _closed(visit, AnswerLocked())
            # The score is chosen, what the subscriber wrote before stays in the form.
            return await _form(
                tx.session,
                visit,
                answer={**view.answer, "score": score},
                one_click=True,
                one_click_script=ONE_CLICK_SCRIPT,
            )
    except Rollback as rollback:
        return rollback.response


async def _refused(
    session: AsyncSession, visit: LinkVisit, error: SurveyError, values: dict[str, object]
) -> Response:
    if not isinstance(error, AnswerInvalid):
        return _closed(visit, error)
    field_errors, errors = visit.page.invalid(error)
    context: dict[str, object] = {"field_errors": field_errors, "errors": errors}
    if values:
        context["answer"] = {
            k: int(v) if isinstance(v, str) and v.strip().isdigit() else v
            for k, v in values.items()
        }
    return await _form(session, visit, 422, **context)


async def link_submit(request: Request) -> Response:
    """POST /s/{token}: the whole answer (form or JSON); a thank-you page or 201 JSON."""
    rt = runtime_of(request)
    json_out = wants_json(request)
    try:
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            visit = await _visit(request, tx.session)
            if isinstance(visit, Response):
                return visit
            values: dict[str, object] = {}
            try:
                values, _ = await read_answer(request, FIELDS[NPS])
                result, editable_until = await store_answer(
                    tx,
                    rt,
                    NPS,
                    shop_id=visit.shop.id,
                    subscriber=visit.subscriber,
                    values=values,
                    channel=Channel.LINK,
                    now=utcnow(),
                    invitation_id=visit.invitation.id,
                )
            except BodyError as exc:
                return body_refusal(exc, visit.page, json_out=json_out, headers=LINK_HEADERS)
            except SurveyError as error:
                refusal = (
                    survey_error_json(error, headers=LINK_HEADERS)
                    if json_out
                    else await _refused(tx.session, visit, error, values)
                )
                raise Rollback(refusal) from error
            if json_out:
                return JSONResponse(result, 201, headers=LINK_HEADERS)
            return thanks_page(visit.page, editable_until)
    except Rollback as rollback:
        return rollback.response
