"""Inbox rows as their handlers read them: what every handler does first for each row."""

from __future__ import annotations

from plugin.db.transaction import Tx
from plugin.domain.context import EventContext, event_time
from plugin.domain.errors import MalformedPayload
from plugin.domain.shops import note_install_evidence
from plugin.models import Shop, WebhookInbox
from plugin.runtime import Runtime


def context_of(tx: Tx, runtime: Runtime, shop: Shop, row: WebhookInbox) -> EventContext:
    """The row's context, dated by its event time, taken as evidence of the install. Raises
    MalformedPayload, with nothing noted, when the payload is not a JSON object."""
    if not isinstance(row.payload, dict):
        raise MalformedPayload("payload is not a JSON object")
    ctx = EventContext(tx, runtime, shop, row, event_time(row))
    note_install_evidence(ctx)
    return ctx
