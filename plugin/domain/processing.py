"""Process one inbox row inside the caller's transaction: exactly once in effect.

The row is locked, skipped if already processed, dispatched on its topic, and marked handled in
the same transaction as the effect, so a crash at any point leaves either both or neither. An
event that changed what the metrics read asks for a (debounced) recompute of its shop, queued
after commit.
"""

from __future__ import annotations

import logging
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from plugin.db.transaction import Tx
from plugin.domain.context import SHOP_ERASED, EventContext, event_time
from plugin.domain.dispatch import HANDLERS
from plugin.domain.errors import MalformedPayload
from plugin.domain.rows import locked
from plugin.domain.shops import note_install_evidence
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.scoring.requests import request_recompute

log = logging.getLogger(__name__)

# Topics whose effects no shop metric reads: they need no recompute.
_NO_METRIC_EFFECT = frozenset(
    {"app/scopes_update", "bulk_operations/finish", "customers/data_request", "customers/update"}
)


async def process_inbox_row(tx: Tx, runtime: Runtime, inbox_id: int) -> str | None:
    """Apply the row's event; the status it ends in, or None when the row does not exist.

    Raises MalformedPayload for data no retry can fix; any other error leaves the row pending.
    """
    session = tx.session
    inbox, shop = await _row_and_shop(session, inbox_id)
    if inbox is None:
        return None  # pruned, or erased with its shop
    if inbox.status != InboxStatus.PENDING:
        return inbox.status  # a redelivered job or a sweeper race: already done
    handler = HANDLERS.get(inbox.topic)
    if handler is None:
        log.warning("inbox row %s: no handler for topic %r; ignored", inbox.id, inbox.topic)
        status = InboxStatus.IGNORED
    else:
        if not isinstance(inbox.payload, dict):
            raise MalformedPayload("payload is not a JSON object")
        if shop is None:
            return None
        ctx = EventContext(tx, runtime, shop, inbox, event_time(inbox))
        note_install_evidence(ctx)
        status = await handler(ctx)
        if status == SHOP_ERASED:
            return status
        if status == InboxStatus.HANDLED and inbox.topic not in _NO_METRIC_EFFECT:
            request_recompute(tx, shop.id, debounce_s=runtime.settings.recompute_debounce_seconds)
    await _mark(session, inbox, status)
    return status


async def _mark(session: AsyncSession, inbox: WebhookInbox, status: str) -> None:
    """Record the outcome on the row, in this transaction: one prepared UPDATE, and the same
    values set on the loaded row as if they had been read (the unit of work has nothing
    left to write for them)."""
    values = {"status": status, "handled_at": utcnow(), "attempts": inbox.attempts + 1}
    await session.execute(
        _MARK, {"inbox_id": inbox.id, **{f"new_{key}": value for key, value in values.items()}}
    )
    for key, value in (*values.items(), ("last_error", None)):
        set_committed_value(inbox, key, value)


_INBOX = cast(Table, WebhookInbox.__table__)
_MARK = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("inbox_id"))
    .values(
        status=bindparam("new_status"),
        handled_at=bindparam("new_handled_at", type_=_INBOX.c.handled_at.type),
        attempts=bindparam("new_attempts"),
        last_error=None,
    )
)


# The row, locked, with its shop in the same statement (the shop is read, never locked).
_ROW_AND_SHOP = (
    select(WebhookInbox, Shop)
    .outerjoin(Shop, Shop.id == WebhookInbox.shop_id)
    .where(WebhookInbox.id == bindparam("inbox_id"))
    .with_for_update(of=WebhookInbox)
)


async def _row_and_shop(
    session: AsyncSession, inbox_id: int
) -> tuple[WebhookInbox | None, Shop | None]:
    """The inbox row, locked and freshly loaded, and its shop as `session.get` returns it.

    The usual case (the row is not in the session yet, as in a job's fresh session) is one
    statement; a row the session already holds is refreshed under the lock instead.
    """
    if identity_key(WebhookInbox, inbox_id) in session.identity_map:
        inbox = await locked(session, select(WebhookInbox).where(WebhookInbox.id == inbox_id))
        if inbox is None:
            return None, None
        return inbox, await session.get(Shop, inbox.shop_id)
    row = (await session.execute(_ROW_AND_SHOP, {"inbox_id": inbox_id})).one_or_none()
    if row is None:
        return None, None
    return row[0], row[1]
