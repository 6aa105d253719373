"""Apply one inbox row's event to the domain state, inside the caller's transaction.

The inbox (`plugin.inbox.batches`) claims and locks the row, calls `apply_event` under a
savepoint and records the status it returns on the row in the same transaction, so a crash at
any point leaves either both or neither.
"""

from __future__ import annotations

import logging

from plugin.db.transaction import Tx
from plugin.domain.context import RunHandler
from plugin.domain.dispatch import HANDLERS, RUN_HANDLERS
from plugin.domain.event_rows import context_of
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.runtime import Runtime

log = logging.getLogger(__name__)

# Topics whose effects no shop metric reads: they need no recompute.
_NO_METRIC_EFFECT = frozenset(
    {"app/scopes_update", "bulk_operations/finish", "customers/data_request", "customers/update"}
)


def run_handler_of(topic: str) -> RunHandler | None:
    """The handler that applies rows of this topic a run at a time, if it has one: consecutive
    rows with the same run handler go to it together."""
    return RUN_HANDLERS.get(topic)


def changes_metrics(topic: str) -> bool:
    """Whether a handled event of this topic changes what the shop's metrics read."""
    return topic not in _NO_METRIC_EFFECT


async def apply_event(tx: Tx, runtime: Runtime, shop: Shop, inbox: WebhookInbox) -> str:
    """Dispatch the row on its topic; the status to record (handled or ignored), or
    `SHOP_ERASED` when the event deleted the shop's data, this row included.

    Raises MalformedPayload for data no retry can fix.
    """
    run_handler = run_handler_of(inbox.topic)
    if run_handler is not None:
        [outcome] = await run_handler(tx, runtime, shop, [inbox])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    handler = HANDLERS.get(inbox.topic)
    if handler is None:
        log.warning("inbox row %s: no handler for topic %r; ignored", inbox.id, inbox.topic)
        return InboxStatus.IGNORED
    return await handler(context_of(tx, runtime, shop, inbox))
