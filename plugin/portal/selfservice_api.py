"""Self-service and the cancel flow for the customer-account UI extension (JSON, CORS).

    GET  /api/portal/subscriptions                  the customer's live subscriptions
    GET  /api/portal/subscriptions/{id}             one, as Shopify has it now, with
                                                    "payment_problem" (a failed payment) or null
    POST /api/portal/subscriptions/{id}             {"action": "skip", "cycle": 4} | frequency
                                                    (plan_id) | quantity (line, quantity) |
                                                    pause | resume | payment_update_email
    POST /api/portal/cancel-flow                    {"contract_id", "reason", "comment"} →
                                                    {"flow_id", "offer": {...} | null}
    POST /api/portal/cancel-flow/{flow}             {"decision": "accept" | "cancel", "plan_id"}

The customer comes from the session token only (`api._claims`); refusals are JSON
`{"error": {"code", "message", "field"}}` with the statuses of the proxy pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.bounded import parse_id
from plugin.db.transaction import Tx, transaction
from plugin.models import Contract, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.portal.api import _claims, _json, customer_of
from plugin.portal.common import (
    BodyError,
    error_body,
    read_answer,
    runtime_of,
)
from plugin.portal.selfservice_pages import CHANGE_FIELDS, DECISION_FIELDS, REASON_FIELDS, status_of
from plugin.saveoffers.flow import accept_offer, confirm_cancel, own_flow, shown_offer, start_flow
from plugin.selfservice.payment_update import carry_out, payment_notice
from plugin.selfservice.service import (
    SelfServiceRefused,
    editor_for,
    open_view,
    own_contract,
    own_contracts,
    subscription_view,
)
from plugin.surveys.answers import Channel
from plugin.surveys.errors import AnswerInvalid
from plugin.surveys.validation import parse_contract_id

Handler = Callable[[Request, Tx, Shop, Subscriber], Awaitable[Response]]


def _refused(refused: SelfServiceRefused) -> JSONResponse:
    return _json(error_body(refused.code, refused.message, refused.field), status_of(refused))


def _not_found() -> JSONResponse:
    return _json(error_body("not_found", "no such subscription of yours"), 404)


async def _as_customer(request: Request, handler: Handler) -> Response:
    """Verify the token, find the shop and subscriber, count the request, then `handler`."""
    claims = _claims(request)
    if isinstance(claims, JSONResponse):
        return claims
    rt = runtime_of(request)
    async with transaction(rt.sessionmaker, rt.queue) as tx:
        found = await customer_of(tx, rt, claims)
        if isinstance(found, JSONResponse):
            return found
        shop, subscriber = found
        if subscriber is None:
            return _not_found()
        try:
            return await handler(request, tx, shop, subscriber)
        except SelfServiceRefused as refused:
            return _refused(refused)


def _path_id(request: Request, name: str) -> int:
    """A path id as a number; anything else (letters, `²`, 5,000 digits) is nobody's: 0."""
    return parse_id(str(request.path_params[name])) or 0


async def _body(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    try:
        values, _ = await read_answer(request, fields)
    except BodyError as exc:
        raise SelfServiceRefused(exc.error.message, code="invalid", field=exc.error.field) from exc
    return values


async def _with_notice(
    tx: Tx, shop: Shop, contract: Contract, body: dict[str, Any]
) -> dict[str, Any]:
    """The subscription's JSON with its failed payment (what the page says), or null."""
    notice = await payment_notice(tx.session, shop, contract)
    return {**body, "payment_problem": None if notice is None else notice.as_json()}


async def subscriptions(request: Request) -> Response:
    async def handler(_r: Request, tx: Tx, shop: Shop, subscriber: Subscriber) -> Response:
        contracts = await own_contracts(tx.session, shop.id, subscriber.id)
        return _json(
            {
                "subscriptions": [
                    {"contract_id": c.contract_id, "name": c.plan_name, "status": c.status}
                    for c in contracts
                ]
            }
        )

    return await _as_customer(request, handler)


async def subscription(request: Request) -> Response:
    async def handler(r: Request, tx: Tx, shop: Shop, subscriber: Subscriber) -> Response:
        contract = await own_contract(tx.session, shop.id, subscriber, _path_id(r, "contract_id"))
        if contract is None:
            return _not_found()
        _editor, view = await open_view(
            runtime_of(r), tx.session, shop, contract, subscriber, utcnow()
        )
        return _json(await _with_notice(tx, shop, contract, view.as_json()))

    return await _as_customer(request, handler)


async def change(request: Request) -> Response:
    async def handler(r: Request, tx: Tx, shop: Shop, subscriber: Subscriber) -> Response:
        contract = await own_contract(tx.session, shop.id, subscriber, _path_id(r, "contract_id"))
        if contract is None:
            return _not_found()
        values = await _body(r, CHANGE_FIELDS)
        now = utcnow()
        editor, view = await open_view(runtime_of(r), tx.session, shop, contract, subscriber, now)
        action = str(values.get("action") or "")
        try:
            done = await carry_out(
                tx.session,
                editor,
                view,
                shop=shop,
                contract=contract,
                subscriber=subscriber,
                action=action,
                values=values,
                channel=Channel.EXTENSION,
                now=now,
            )
        except SelfServiceRefused as refused:
            return _refused(refused)  # returned, not raised: the refusal's record is committed
        view = await subscription_view(editor, contract, subscriber, utcnow())
        body = await _with_notice(tx, shop, contract, view.as_json())
        return _json({"done": done, "subscription": body})

    return await _as_customer(request, handler)


async def start_cancel(request: Request) -> Response:
    async def handler(r: Request, tx: Tx, shop: Shop, subscriber: Subscriber) -> Response:
        values = await _body(r, REASON_FIELDS)
        try:
            contract_id = parse_contract_id(values.get("contract_id"))
            contract = await own_contract(tx.session, shop.id, subscriber, contract_id)
            if contract is None:
                return _not_found()
            flow = await start_flow(
                tx.session,
                shop_id=shop.id,
                subscriber=subscriber,
                contract=contract,
                reason=values.get("reason"),
                comment=values.get("comment"),
                channel=Channel.EXTENSION,
                now=utcnow(),
            )
        except AnswerInvalid as error:
            # Validation runs before any write: nothing of this request is stored.
            return _json(error_body(error.code, error.message, error.field), 422)
        offer = shown_offer(flow)
        body: dict[str, Any] = {"flow_id": flow.id, "offer": None}
        if offer is not None:
            body["offer"] = {"kind": offer.kind, "text": offer.text, **offer.params}
            if offer.kind == "cadence":
                _, view = await open_view(
                    runtime_of(r), tx.session, shop, contract, subscriber, utcnow()
                )
                body["offer"]["frequency_choices"] = view.as_json()["frequency_choices"]
        return _json(body, 201)

    return await _as_customer(request, handler)


async def decide_cancel(request: Request) -> Response:
    async def handler(r: Request, tx: Tx, shop: Shop, subscriber: Subscriber) -> Response:
        found = await own_flow(tx.session, shop.id, subscriber, _path_id(r, "flow_id"))
        if found is None:
            return _json(error_body("not_found", "no such cancel flow of yours"), 404)
        flow, contract = found
        values = await _body(r, DECISION_FIELDS)
        decision = values.get("decision")
        editor = await editor_for(runtime_of(r), tx.session, shop)
        now = utcnow()
        try:
            if decision == "accept":
                view = await subscription_view(editor, contract, subscriber, now)
                done = await accept_offer(
                    tx.session, editor, view, flow, contract, subscriber, values, now
                )
                return _json({"outcome": "accepted", "done": done})
            if decision == "cancel":
                await confirm_cancel(tx.session, editor, flow, contract, subscriber, now)
                return _json({"outcome": "cancelled"})
        except SelfServiceRefused as refused:
            return _refused(refused)  # returned: the refusal's record is committed
        return _json(error_body("invalid", "decision must be accept or cancel", "decision"), 422)

    return await _as_customer(request, handler)
