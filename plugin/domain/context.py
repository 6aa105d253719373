"""What a handler gets for one webhook event, and the event time everything is dated by."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import Tx
from plugin.domain.payloads import timestamp
from plugin.models import Shop, WebhookInbox
from plugin.runtime import Runtime

# Payload timestamps in order of preference when Shopify sent no X-Shopify-Triggered-At:
# the moment the thing happened beats the last change, which beats creation.
_PAYLOAD_TIME_KEYS = ("happened_at", "updated_at", "completed_at", "created_at")


def event_time(inbox: WebhookInbox) -> datetime:
    """When the event happened (docs/design.md §4): header, else payload timestamps, else
    receipt."""
    if inbox.triggered_at is not None:
        return inbox.triggered_at
    payload = inbox.payload if isinstance(inbox.payload, dict) else {}
    for key in _PAYLOAD_TIME_KEYS:
        found = timestamp(payload.get(key))
        if found is not None:
            return found
    return inbox.received_at


@dataclass
class EventContext:
    """One inbox row being processed inside the job's transaction."""

    tx: Tx
    runtime: Runtime
    shop: Shop
    inbox: WebhookInbox
    occurred_at: datetime

    @property
    def session(self) -> AsyncSession:
        return self.tx.session

    @property
    def shop_id(self) -> int:
        return self.shop.id

    @property
    def topic(self) -> str:
        return self.inbox.topic

    @property
    def payload(self) -> dict[str, Any]:
        return self.inbox.payload

    @property
    def event_key(self) -> str:
        """Shopify's id of the event (shared by its redeliveries), else of this delivery."""
        return self.inbox.event_id or self.inbox.webhook_id


# A handler applies one event and returns the inbox status to record (handled or ignored),
# or SHOP_ERASED when the event deleted the shop's data, its own inbox row included.
Handler = Callable[[EventContext], Awaitable[str]]
SHOP_ERASED = "erased"
# A run handler applies a run of rows (in event order, all of topics it handles) at once and
# returns, for each row, its status, or the error it would raise applied alone: a row declined
# (nothing of it written), whose failure the batch records on it. Raising undoes the run, whose
# rows are then applied one by one.
RunOutcome = str | Exception
RunHandler = Callable[[Tx, Runtime, Shop, Sequence[WebhookInbox]], Awaitable[list[RunOutcome]]]
