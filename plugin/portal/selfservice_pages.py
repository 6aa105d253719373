"""App proxy pages of subscriber self-service and the cancel flow (no JavaScript needed).

    GET  /proxy/subscriptions               the subscriber's live subscriptions
    GET  /proxy/subscriptions/{id}          one: next delivery, frequency, quantity, status,
                                            and a failed payment (plugin.selfservice.payment_update)
    POST /proxy/subscriptions/{id}          a change (skip, frequency, quantity, pause, resume),
                                            or `payment_update_email` (Shopify's card-update email)
    GET  /proxy/cancel?contract_id=         the cancel flow: why are you cancelling?
    POST /proxy/cancel                      the reason → the offer (or the confirmation)
    POST /proxy/cancel/{flow}               `decision` = accept (the offer) | cancel

Who is asking comes from the signed query only (`proxy._visit`); forms carry the form token;
a contract or flow of another subscriber is a 404, like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from plugin.db.transaction import Tx, transaction
from plugin.models import Contract
from plugin.models.base import utcnow
from plugin.portal.common import BodyError, read_answer, runtime_of
from plugin.portal.forms import form_token_valid
from plugin.portal.proxy import Visit, _token, _visit
from plugin.portal.views import cancel_view
from plugin.saveoffers.flow import accept_offer, confirm_cancel, own_flow, shown_offer, start_flow
from plugin.selfservice.payment_update import PaymentNotice, carry_out, payment_notice
from plugin.selfservice.service import (
    MAX_QUANTITY,
    SelfServiceRefused,
    SubscriptionView,
    editor_for,
    open_view,
    own_contract,
    own_contracts,
    subscription_view,
)
from plugin.surveys.answers import Channel
from plugin.surveys.errors import AnswerInvalid
from plugin.surveys.validation import parse_contract_id

CHANGE_FIELDS = ("action", "cycle", "plan_id", "line", "quantity", "_ft")
REASON_FIELDS = ("contract_id", "reason", "comment", "_ft")
DECISION_FIELDS = ("decision", "plan_id", "_ft")


ProxyHandler = Callable[[Request, Tx, Visit], Awaitable[Response]]


def _proxy_page(handler: ProxyHandler) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint: one transaction, the verified visitor (or the page refusing them), then
    `handler`. A response returned commits what the handler recorded, refusals included."""

    async def endpoint(request: Request) -> Response:
        rt = runtime_of(request)
        async with transaction(rt.sessionmaker, rt.queue) as tx:
            visit = await _visit(request, tx.session, json_out=False)
            if isinstance(visit, Response):
                return visit
            return await handler(request, tx, visit)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def status_of(refused: SelfServiceRefused) -> int:
    if refused.code == "unavailable":
        return 503
    if refused.code == "invalid":
        return 422
    if refused.code == "not_found":
        return 404
    if refused.code == "rate_limited":
        return 429
    return 409


def _message(
    visit: Visit, title: str, body: str, status: int = 200, *, done: str | None = None
) -> Response:
    return visit.page.render("message.html", status, title=title, body=body, status_text=done)


def _not_found(visit: Visit) -> Response:
    return visit.page.message("not_found", 404)


async def _form(
    request: Request, visit: Visit, fields: tuple[str, ...]
) -> dict[str, Any] | Response:
    """The posted form, or the page refusing it (unreadable, or without our form token)."""
    try:
        values, is_form = await read_answer(request, fields)
    except BodyError as exc:
        return visit.page.message("form_expired", exc.status)
    if not is_form or not form_token_valid(
        runtime_of(request).settings, values.get("_ft"), visit.shop.domain, visit.customer_id
    ):
        return visit.page.message("form_expired", 403)
    return values


def _choices(view: SubscriptionView) -> list[dict[str, Any]]:
    return view.as_json()["frequency_choices"]  # type: ignore[no-any-return]


def _subscription_page(
    request: Request,
    visit: Visit,
    view: SubscriptionView,
    status: int = 200,
    *,
    done: str | None = None,
    problem: str | None = None,
    notice: PaymentNotice | None = None,
) -> Response:
    return visit.page.render(
        "subscription.html",
        status,
        title=f"Subscription #{view.contract_id}",
        view=view,
        choices=_choices(view),
        action=visit.action(f"subscriptions/{view.contract_id}"),
        cancel_href=f"{visit.action('cancel')}?contract_id={view.contract_id}",
        form_token=_token(request, visit),
        max_quantity=MAX_QUANTITY,
        done=done,
        problem=problem,
        notice=notice,
    )


@_proxy_page
async def subscriptions_page(request: Request, tx: Tx, visit: Visit) -> Response:
    """GET /proxy/subscriptions."""
    contracts = (
        await own_contracts(tx.session, visit.shop.id, visit.subscriber.id)
        if visit.subscriber is not None
        else []
    )
    return visit.page.render(
        "subscriptions.html",
        title="Your subscriptions",
        contracts=[
            {
                "href": visit.action(f"subscriptions/{c.contract_id}"),
                "name": c.plan_name or f"Subscription #{c.contract_id}",
                "status": c.status,
            }
            for c in contracts
        ],
    )


async def _contract_of(request: Request, session: AsyncSession, visit: Visit) -> Contract | None:
    raw = request.path_params.get("contract_id")
    return await own_contract(session, visit.shop.id, visit.subscriber, int(raw)) if raw else None


@_proxy_page
async def subscription_page(request: Request, tx: Tx, visit: Visit) -> Response:
    """GET /proxy/subscriptions/{contract_id}."""
    contract = await _contract_of(request, tx.session, visit)
    if contract is None or visit.subscriber is None:
        return _not_found(visit)
    try:
        _editor, view = await open_view(
            runtime_of(request), tx.session, visit.shop, contract, visit.subscriber, utcnow()
        )
    except SelfServiceRefused as refused:
        return _message(visit, "Subscription", refused.message, status_of(refused))
    notice = await payment_notice(tx.session, visit.shop, contract)
    return _subscription_page(request, visit, view, notice=notice)


@_proxy_page
async def change_subscription(request: Request, tx: Tx, visit: Visit) -> Response:
    """POST /proxy/subscriptions/{contract_id}: one change, then the page again saying how it
    went. A refusal is recorded (committed) and the contract is unchanged."""
    contract = await _contract_of(request, tx.session, visit)
    if contract is None or visit.subscriber is None:
        return _not_found(visit)
    values = await _form(request, visit, CHANGE_FIELDS)
    if isinstance(values, Response):
        return values
    now = utcnow()
    try:
        editor, view = await open_view(
            runtime_of(request), tx.session, visit.shop, contract, visit.subscriber, now
        )
    except SelfServiceRefused as refused:
        return _message(visit, "Subscription", refused.message, status_of(refused))
    action = str(values.get("action") or "")
    try:
        done = await carry_out(
            tx.session,
            editor,
            view,
            shop=visit.shop,
            contract=contract,
            subscriber=visit.subscriber,
            action=action,
            values=values,
            channel=Channel.PROXY,
            now=now,
        )
    except SelfServiceRefused as refused:
        notice = await payment_notice(tx.session, visit.shop, contract)
        return _subscription_page(
            request, visit, view, status_of(refused), problem=refused.message, notice=notice
        )
    notice = await payment_notice(tx.session, visit.shop, contract)
    try:
        view = await subscription_view(editor, contract, visit.subscriber, utcnow())
    except SelfServiceRefused:
        return _message(visit, "Subscription", done, done=done)
    return _subscription_page(request, visit, view, done=done, notice=notice)


async def _reason_form(
    request: Request,
    session: AsyncSession,
    visit: Visit,
    raw_contract: Any,
    status: int = 200,
    **context: Any,
) -> Response:
    try:
        contract_id = parse_contract_id(raw_contract)
    except AnswerInvalid:
        return _not_found(visit)
    view = (
        await cancel_view(session, visit.shop, visit.subscriber, contract_id, visit.page.t.locale)
        if visit.subscriber is not None
        else None
    )
    if view is None:
        return _not_found(visit)
    return visit.page.render(
        "cancel.html",
        status,
        title=visit.page.t("cancel.title"),
        action=visit.action("cancel"),
        form_token=_token(request, visit),
        contract_id=view.contract_id,
        reasons=view.reasons,
        **context,
    )


@_proxy_page
async def cancel_page(request: Request, tx: Tx, visit: Visit) -> Response:
    """GET /proxy/cancel?contract_id=…: the first step of the cancel flow."""
    return await _reason_form(request, tx.session, visit, visit.proxy.params.get("contract_id"))


async def _offer_page(
    request: Request,
    session: AsyncSession,
    visit: Visit,
    flow_id: int,
    offer: Any,
    view: SubscriptionView | None,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    return visit.page.render(
        "offer.html",
        status,
        title="Before you cancel" if offer else "Confirm your cancellation",
        action=visit.action(f"cancel/{flow_id}"),
        form_token=_token(request, visit),
        offer=offer,
        choices=_choices(view) if view is not None else [],
        problem=problem,
    )


@_proxy_page
async def submit_reason(request: Request, tx: Tx, visit: Visit) -> Response:
    """POST /proxy/cancel: record the reason, start the flow, show the offer or the confirmation."""
    values = await _form(request, visit, REASON_FIELDS)
    if isinstance(values, Response):
        return values
    try:
        contract_id = parse_contract_id(values.get("contract_id"))
    except AnswerInvalid:
        return _not_found(visit)
    contract = await own_contract(tx.session, visit.shop.id, visit.subscriber, contract_id)
    if contract is None or visit.subscriber is None:
        return _not_found(visit)
    try:
        # Validation comes before any write: a refused reason stores nothing.
        flow = await start_flow(
            tx.session,
            shop_id=visit.shop.id,
            subscriber=visit.subscriber,
            contract=contract,
            reason=values.get("reason"),
            comment=values.get("comment"),
            channel=Channel.PROXY,
            now=utcnow(),
        )
    except SelfServiceRefused as refused:
        return _message(visit, "Subscription", refused.message, status_of(refused))
    except AnswerInvalid as error:
        field_errors, errors = visit.page.invalid(error)
        answer = {"reason": values.get("reason"), "comment": values.get("comment")}
        return await _reason_form(
            request,
            tx.session,
            visit,
            contract_id,
            422,
            answer=answer,
            field_errors=field_errors,
            errors=errors,
        )
    offer = shown_offer(flow)
    view = None
    if offer is not None and offer.kind == "cadence":
        try:
            _editor, view = await open_view(
                runtime_of(request), tx.session, visit.shop, contract, visit.subscriber, utcnow()
            )
        except SelfServiceRefused as refused:
            return await _offer_page(
                request, tx.session, visit, flow.id, offer, None, 200, refused.message
            )
    return await _offer_page(request, tx.session, visit, flow.id, offer, view)


@_proxy_page
async def decide(request: Request, tx: Tx, visit: Visit) -> Response:
    """POST /proxy/cancel/{flow_id}: accept the offer, or confirm the cancellation."""
    found = await own_flow(
        tx.session, visit.shop.id, visit.subscriber, int(request.path_params["flow_id"])
    )
    if found is None or visit.subscriber is None:
        return _not_found(visit)
    flow, contract = found
    values = await _form(request, visit, DECISION_FIELDS)
    if isinstance(values, Response):
        return values
    decision = values.get("decision")
    offer = shown_offer(flow)
    now = utcnow()
    view: SubscriptionView | None = None
    try:
        editor = await editor_for(runtime_of(request), tx.session, visit.shop)
        if decision == "accept" and offer is not None:
            view = await subscription_view(editor, contract, visit.subscriber, now)
            done = await accept_offer(
                tx.session, editor, view, flow, contract, visit.subscriber, values, now
            )
            return _message(
                visit, "Thank you for staying", "Your subscription continues.", done=done
            )
        if decision == "cancel":
            await confirm_cancel(tx.session, editor, flow, contract, visit.subscriber, now)
            return _message(
                visit,
                "Your subscription is cancelled",
                "No further orders will be charged. You are welcome back any time.",
                done="Cancelled.",
            )
    except SelfServiceRefused as refused:
        return await _offer_page(
            request,
            tx.session,
            visit,
            flow.id,
            offer,
            view,
            status_of(refused),
            refused.message,
        )
    return await _offer_page(
        request, tx.session, visit, flow.id, offer, view, 422, "Choose one of the buttons."
    )
