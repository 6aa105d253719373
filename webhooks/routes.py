"""POST /webhooks: verify, store, enqueue after commit, answer. Nothing else (docs/design.md).

The row is committed by the runtime's inbox writer before the shop's job is woken, so a worker
never looks for a row it cannot read; if the wake-up fails (Redis down) the sweeper wakes the
shop.

Answers (docs/design.md, "Public contract"): 200 accepted, duplicate or ignored; 401 bad or
missing signature; 413 a body over `WEBHOOK_MAX_BODY_BYTES`; 400 malformed headers or body; 503
when the database cannot take the row, so Shopify retries. Nothing is stored unless the answer
is 200.

The body is bounded before it is read: no signature header, no read at all (an unsigned
request costs nothing however large its body); a declared or streamed length past the limit is
refused as soon as it is seen, without reading the rest.

Unknown topics get 200 and are logged but not stored: we never subscribed to them, nothing
would process them, and an inbox row would only sit there as unfinished work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from plugin.inbox import Delivery, is_data_error, wake
from plugin.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REFUSED
from plugin.runtime import Runtime
from plugin.shopify.verify import verify_webhook_hmac
from plugin.topics import is_known
from webhooks.parsing import MalformedDelivery, parse_body, read_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: bool = False


_ACCEPTED = Answer(200, b'{"status":"accepted"}')
_DUPLICATE = Answer(200, b'{"status":"duplicate"}')
_IGNORED = Answer(200, b'{"status":"ignored"}')
_UNAUTHORIZED = Answer(401, b'{"error":"invalid webhook signature"}')
_TOO_LARGE = Answer(413, b'{"error":"body larger than the limit for webhooks"}')
_UNAVAILABLE = Answer(503, b'{"error":"database unavailable, retry later"}', retry_after=True)


class WebhookEndpoint:
    """A plain ASGI endpoint: the hot path skips Starlette's Request and Response objects and
    its per-route exception wrapper (errors still reach the app's middleware)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime: Runtime = scope["state"]["runtime"]
        # ASGI header names are lower-case bytes; the first of repeated headers wins.
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        answer = _refused_unread(headers, runtime.settings.webhook_max_body_bytes)
        if answer is None:
            body = await _read_body(receive, runtime.settings.webhook_max_body_bytes)
            if body is None:
                return  # the client went away; Shopify will deliver again
            if body is _OVER_LIMIT:
                answer = _refused(_TOO_LARGE, "too_large", headers)
            else:
                answer = await receive_webhook(runtime, headers, body)
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        if answer.retry_after:
            response_headers.append((b"retry-after", b"5"))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": answer.body})


def _refused_unread(headers: Mapping[str, str], limit: int) -> Answer | None:
    """The answer decided by the headers alone, before any of the body is read."""
    if not headers.get("x-shopify-hmac-sha256"):
        return _refused(_UNAUTHORIZED, "missing_signature", headers)
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        return _refused(_TOO_LARGE, "too_large", headers)
    return None


_OVER_LIMIT = b"<over limit>"  # a sentinel: compared by identity, never a real body


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, `_OVER_LIMIT` as soon as it grows past `limit` (the rest unread), or
    None when the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _OVER_LIMIT
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _refused(answer: Answer, reason: str, headers: Mapping[str, str]) -> Answer:
    WEBHOOKS_REFUSED.inc(reason=reason)
    log.warning(
        "webhook refused: %s (topic %.128r, shop %.255r)",
        reason.replace("_", " "),
        headers.get("x-shopify-topic"),
        headers.get("x-shopify-shop-domain"),
    )
    return answer


async def receive_webhook(runtime: Runtime, headers: Mapping[str, str], body: bytes) -> Answer:
    """Verify, store, wake the worker; `headers` keyed by lower-case name."""
    signature = headers.get("x-shopify-hmac-sha256")
    if not verify_webhook_hmac(body, signature, runtime.settings.webhook_secrets):
        reason = "missing_signature" if not signature else "invalid_signature"
        return _refused(_UNAUTHORIZED, reason, headers)
    try:
        parsed = read_headers(headers)
        if not is_known(parsed.topic):
            log.info("webhook ignored: unknown topic %r from %s", parsed.topic, parsed.shop_domain)
            WEBHOOKS_RECEIVED.inc(outcome="ignored")
            return _IGNORED
        payload, payload_json = parse_body(body)
    except MalformedDelivery as exc:
        log.warning("webhook refused: %s", exc)
        WEBHOOKS_REFUSED.inc(reason="malformed")
        return _bad_request(str(exc))

    delivery = Delivery(
        shop_domain=parsed.shop_domain,
        topic=parsed.topic,
        webhook_id=parsed.webhook_id,
        event_id=parsed.event_id,
        api_version=parsed.api_version,
        triggered_at=parsed.triggered_at,
        payload=payload,
        payload_json=payload_json,
    )
    try:
        stored = await runtime.inbox.store(delivery)
    except DBAPIError as exc:
        # Log the driver's message only: SQLAlchemy's own would print the payload (customer data).
        if is_data_error(exc):
            # The database refused a value JSON allows (e.g. "\u0000" in a string, for jsonb).
            log.warning(
                "webhook refused: payload not storable (topic %s, shop %s): %s",
                delivery.topic,
                delivery.shop_domain,
                exc.orig,
            )
            WEBHOOKS_REFUSED.inc(reason="not_storable")
            return _bad_request("body holds values the database cannot store")
        return _database_unavailable(delivery, exc.orig)
    except (PoolTimeoutError, OSError) as exc:
        return _database_unavailable(delivery, exc)
    if stored is None:
        WEBHOOKS_RECEIVED.inc(outcome="duplicate")
        return _DUPLICATE
    # After the commit, never before: a worker must never see a row it cannot read.
    await wake(runtime.queue, stored.shop_id)
    WEBHOOKS_RECEIVED.inc(outcome="accepted")
    return _ACCEPTED


def _database_unavailable(delivery: Delivery, error: BaseException | None) -> Answer:
    WEBHOOKS_REFUSED.inc(reason="database_unavailable")
    log.error(
        "webhook not stored, database unavailable (topic %s, shop %s): %s: %s",
        delivery.topic,
        delivery.shop_domain,
        type(error).__name__,
        error,
    )
    return _UNAVAILABLE


def _bad_request(message: str) -> Answer:
    return Answer(400, json.dumps({"error": message}).encode())


ROUTES: list[BaseRoute] = [Route("/webhooks", WebhookEndpoint(), methods=["POST"])]
