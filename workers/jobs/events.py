"""process_event(inbox_id): apply one stored webhook to the domain state.

One transaction holds the effect and the "handled" mark (plugin.domain.processing). On failure
it rolls back whole and a second, short transaction records the error on the row:
- a transient failure (database blip, lock conflict, Shopify throttled or down, an event whose
  contract has not arrived yet) keeps the row pending and raises TransientError for a retry;
- a malformed payload marks the row failed at once: no retry can fix it;
- any other error keeps the row pending for the sweeper, up to MAX_ATTEMPTS, then failed.
Failed rows wait for a human; the error is on the row (`last_error`).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from plugin.db.transaction import transaction
from plugin.domain.errors import MalformedPayload
from plugin.domain.processing import process_inbox_row
from plugin.domain.rows import locked
from plugin.models import InboxStatus, WebhookInbox
from plugin.queue import TransientError
from plugin.runtime import Runtime

log = logging.getLogger(__name__)

# Non-transient failures of one event before it is set aside as failed (the sweeper retries
# pending rows every few minutes, so this is roughly half an hour of a persistent bug).
MAX_ATTEMPTS = 10
# PostgreSQL: serialization failure, deadlock, lock not available.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_LAST_ERROR_CHARS = 1000


async def process_event(ctx: dict[str, Any], inbox_id: int) -> None:
    runtime: Runtime = ctx["runtime"]
    inbox_id = int(inbox_id)
    try:
        async with transaction(runtime.sessionmaker, runtime.queue) as tx:
            status = await process_inbox_row(tx, runtime, inbox_id)
    except MalformedPayload as exc:
        log.warning("inbox row %s has a malformed payload: %s", inbox_id, exc)
        await _record_failure(runtime, inbox_id, exc, give_up=True)
        return
    except Exception as exc:
        if is_transient(exc):
            await _record_failure(runtime, inbox_id, exc, give_up=False)
            if isinstance(exc, TransientError):
                raise
            raise TransientError(describe(exc)) from exc
        log.exception("inbox row %s failed", inbox_id)
        await _record_failure(runtime, inbox_id, exc, give_up=None)
        raise
    log.debug("inbox row %s: %s", inbox_id, status)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying as is: the failure is in a dependency, not in the event or our code."""
    if isinstance(exc, TransientError | httpx.TransportError | ConnectionError | TimeoutError):
        return True
    # A unique key taken by a concurrent writer: the retry sees the committed row.
    if isinstance(exc, OperationalError | InterfaceError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        return sqlstate in _RETRYABLE_SQLSTATES
    return False


def describe(exc: BaseException) -> str:
    """A one-line error for the row and logs, without SQL parameters (they hold customer data)."""
    source = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(source).strip().splitlines()
    message = lines[0] if lines else ""
    return f"{type(source).__name__}: {message}"[:_LAST_ERROR_CHARS]


async def _record_failure(
    runtime: Runtime, inbox_id: int, exc: BaseException, *, give_up: bool | None
) -> None:
    """Note the failed try on the row (give_up: True now, None after MAX_ATTEMPTS, False never).

    Best effort: when the database itself is down this fails too, and the row simply stays
    pending with its old counters.
    """
    try:
        async with transaction(runtime.sessionmaker, None) as tx:
            inbox = await locked(
                tx.session, select(WebhookInbox).where(WebhookInbox.id == inbox_id)
            )
            if inbox is None or inbox.status != InboxStatus.PENDING:
                return
            inbox.attempts += 1
            inbox.last_error = describe(exc)
            if give_up or (give_up is None and inbox.attempts >= MAX_ATTEMPTS):
                inbox.status = InboxStatus.FAILED
                log.error(
                    "inbox row %s set aside as failed after %d tries: %s",
                    inbox_id,
                    inbox.attempts,
                    inbox.last_error,
                )
    except Exception:
        log.warning("could not record the failure of inbox row %s", inbox_id, exc_info=True)
