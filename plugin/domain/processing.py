"""Process one inbox row inside the caller's transaction: exactly once in effect.

The row is locked, skipped if already processed, dispatched on its topic, and marked handled in
the same transaction as the effect, so a crash at any point leaves either both or neither. An
event that changed what the metrics read asks for a (debounced) recompute of its shop, queued
after commit.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

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
    inbox = await locked(session, select(WebhookInbox).where(WebhookInbox.id == inbox_id))
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
        shop = await session.get(Shop, inbox.shop_id)
        if shop is None:
            return None
        ctx = EventContext(tx, runtime, shop, inbox, event_time(inbox))
        note_install_evidence(ctx)
        status = await handler(ctx)
        if status == SHOP_ERASED:
            return status
        if status == InboxStatus.HANDLED and inbox.topic not in _NO_METRIC_EFFECT:
            request_recompute(tx, shop.id, debounce_s=runtime.settings.recompute_debounce_seconds)
    inbox.status = status
    inbox.handled_at = utcnow()
    inbox.attempts += 1
    inbox.last_error = None
    return status
