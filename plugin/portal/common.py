"""What the three portal channels share: looking up the shop and subscriber, reading an answer
body, rate limits, status codes for refusals, and the JSON shapes of stored answers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.bounded import loads_json
from plugin.db.transaction import Tx
from plugin.flow.events import cancel_reason_given, nps_answered
from plugin.models import Cancellation, NpsResponse, Shop, Subscriber
from plugin.portal.pages import Page
from plugin.runtime import Runtime
from plugin.scoring.requests import request_recompute
from plugin.surveys.answers import submit_cancel_reason, submit_nps_answer
from plugin.surveys.errors import AnswerInvalid, AnswerLocked, NoPendingSurvey, SurveyError
from plugin.surveys.ratelimit import Decision, Limit, RateLimiter, build_limiter
from plugin.surveys.validation import parse_contract_id, parse_optional_id, single_values

log = logging.getLogger(__name__)

LIMITER_KEY = "survey_rate_limiter"
# An answer is a few hundred bytes; 64 KB leaves room for a 2,000-character comment in any
# encoding and refuses anything that is clearly not an answer before parsing it.
MAX_BODY_BYTES = 64 * 1024
NPS = "nps"
CANCEL = "cancel-reason"
FIELDS = {
    NPS: ("score", "value_for_money", "comment", "invitation_id", "_ft"),
    CANCEL: ("contract_id", "reason", "comment", "_ft"),
}


def runtime_of(request: Request) -> Runtime:
    return request.state.runtime  # type: ignore[no-any-return]


async def shop_and_subscriber(
    session: AsyncSession, domain: str, customer_id: int | None
) -> tuple[Shop | None, Subscriber | None]:
    """The installed shop of a verified domain and, when given, its subscriber with that
    Shopify customer id: one query, as every portal request starts with both."""
    row = (
        await session.execute(
            select(Shop, Subscriber)
            .outerjoin(
                Subscriber,
                (Subscriber.shop_id == Shop.id) & (Subscriber.customer_id == customer_id),
            )
            .where(Shop.domain == domain, Shop.uninstalled_at.is_(None))
        )
    ).first()
    if row is None:
        return None, None
    return row[0], row[1] if customer_id is not None else None


def limiter(runtime: Runtime) -> RateLimiter:
    """The process's limiter (Redis-backed when REDIS_URL is set), made on first use."""
    found = runtime.extras.get(LIMITER_KEY)
    if found is None:
        found = runtime.extras[LIMITER_KEY] = build_limiter(runtime.settings.redis_url)
    return found  # type: ignore[no-any-return]


async def within_limit(runtime: Runtime, key: str, limit: Limit) -> Decision:
    """Count one request against `key`. Fails open: a limiter outage must not take the
    surveys down with it (the limits guard against abuse, not against correctness)."""
    try:
        return await limiter(runtime).hit(key, limit)
    except Exception:
        log.warning("rate limiter unavailable; request allowed", exc_info=True)
        return Decision(True, 0.0)


def customer_key(shop_id: int, customer_id: int) -> str:
    return f"customer:{shop_id}:{customer_id}"


class Rollback(Exception):
    """Leave the transaction without committing, answering with `response` (rendered while the
    session was still usable, e.g. the form again with the error beside its field)."""

    def __init__(self, response: Response) -> None:
        super().__init__("rolled back")
        self.response = response


class BodyError(Exception):
    def __init__(self, status: int, error: AnswerInvalid) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


def body_refusal(
    exc: BodyError, page: Page, *, json_out: bool, headers: dict[str, str] | None = None
) -> Response:
    """An answer body that could not be read: JSON naming the field, or a page asking the
    subscriber to reload the form (an HTML form only sends a bad body when it is stale)."""
    if json_out:
        body = error_body(exc.error.code, exc.error.message, exc.error.field)
        return JSONResponse(body, exc.status, headers=headers)
    return page.message("form_expired", exc.status)


def thanks_page(page: Page, editable_until: datetime) -> Response:
    """The page after an answer is stored, saying until when it can be changed."""
    until = editable_until.strftime("%Y-%m-%d %H:%M")
    return page.message("thanks", note=page.t("thanks.edit_until", time=until))


async def read_answer(request: Request, fields: Iterable[str]) -> tuple[dict[str, Any], bool]:
    """The answer fields of a JSON object or an urlencoded form; (fields, came as a form).

    Unknown fields are ignored; a field sent twice in a form is refused (422)."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError(413, AnswerInvalid("body", "is too large"))
        chunks.append(chunk)
    body = b"".join(chunks)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(422, AnswerInvalid("body", "must be UTF-8")) from None
    if media == "application/json":
        try:
            data = loads_json(text)
        except ValueError:
            raise BodyError(422, AnswerInvalid("body", "is not valid JSON")) from None
        if not isinstance(data, dict):
            raise BodyError(422, AnswerInvalid("body", "must be a JSON object"))
        return {k: v for k, v in data.items() if k in set(fields)}, False
    if media == "application/x-www-form-urlencoded":
        try:
            items = parse_qsl(text, keep_blank_values=True, max_num_fields=50)
        except ValueError:
            raise BodyError(422, AnswerInvalid("body", "has too many fields")) from None
        return single_values(items, fields), True
    raise BodyError(415, AnswerInvalid("body", "must be JSON or form data"))


def wants_json(request: Request) -> bool:
    """JSON unless the client prefers HTML (a browser submitting the form sends text/html)."""
    accept = request.headers.get("accept", "").lower()
    if "text/html" in accept:
        return False
    if "application/json" in accept:
        return True
    return request.headers.get("content-type", "").lower().startswith("application/json")


def refusal_status(error: SurveyError) -> int:
    if isinstance(error, AnswerInvalid):
        return 422
    if isinstance(error, NoPendingSurvey | AnswerLocked):
        return 409
    return 400


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def survey_error_json(error: SurveyError, headers: dict[str, str] | None = None) -> JSONResponse:
    field = error.field if isinstance(error, AnswerInvalid) else None
    message = getattr(error, "message", str(error))
    return JSONResponse(
        error_body(error.code, message, field), status_code=refusal_status(error), headers=headers
    )


async def store_answer(
    tx: Tx,
    runtime: Runtime,
    kind: str,
    *,
    shop_id: int,
    subscriber: Subscriber | None,
    values: dict[str, Any],
    channel: str,
    now: datetime,
    invitation_id: int | None = None,
) -> tuple[dict[str, Any], datetime]:
    """Save an answer read from a request; (its JSON, until when it can be changed). The
    shop's figures are recomputed (debounced) once the transaction commits.

    `invitation_id` pins the invitation (signed link); otherwise the body may name one."""
    if subscriber is None:
        raise NoPendingSurvey()
    session = tx.session
    if kind == NPS:
        response = await submit_nps_answer(
            session,
            shop_id=shop_id,
            subscriber_id=subscriber.id,
            score=values.get("score"),
            value_for_money=values.get("value_for_money"),
            comment=values.get("comment"),
            channel=channel,
            now=now,
            invitation_id=invitation_id
            or parse_optional_id("invitation_id", values.get("invitation_id")),
        )
        stored, editable_until = {"response": nps_json(response)}, response.editable_until
        await nps_answered(
            tx,
            shop_id=shop_id,
            response_id=response.id,
            customer_id=subscriber.customer_id,
            score=response.score,
            value_for_money=response.value_for_money,
            comment=response.comment,
        )
    else:
        cancellation = await submit_cancel_reason(
            session,
            shop_id=shop_id,
            subscriber_id=subscriber.id,
            contract_id=values.get("contract_id"),
            reason=values.get("reason"),
            comment=values.get("comment"),
            channel=channel,
            now=now,
        )
        assert cancellation.editable_until is not None
        contract_id = parse_contract_id(values.get("contract_id"))
        stored = {"cancellation": cancellation_json(cancellation, contract_id)}
        await cancel_reason_given(
            tx,
            shop_id=shop_id,
            cancellation_id=cancellation.id,
            customer_id=subscriber.customer_id,
            reason=cancellation.reason_code or "",
            comment=cancellation.comment,
            contract_id=contract_id,
        )
        editable_until = cancellation.editable_until
    request_recompute(tx, shop_id, debounce_s=runtime.settings.recompute_debounce_seconds)
    return stored, editable_until


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def nps_json(response: NpsResponse) -> dict[str, Any]:
    return {
        "id": response.id,
        "invitation_id": response.invitation_id,
        "score": response.score,
        "value_for_money": response.value_for_money,
        "comment": response.comment,
        "channel": response.channel,
        "answered_at": _iso(response.answered_at),
        "editable_until": _iso(response.editable_until),
    }


def cancellation_json(cancellation: Cancellation, contract_id: int) -> dict[str, Any]:
    return {
        "contract_id": contract_id,
        "reason": cancellation.reason_code,
        "reason_version": cancellation.reason_version,
        "comment": cancellation.comment,
        "channel": cancellation.channel,
        "answered_at": _iso(cancellation.answered_at),
        "editable_until": _iso(cancellation.editable_until),
        "cancelled_at": _iso(cancellation.cancelled_at),
    }
