"""The webhook inbox, from insert to prune: one home for the row's whole life.

| step | module |
|---|---|
| insert a delivery once per (shop, webhook id); the runtime's `InboxWriter` | `deliveries` |
| wake the shop's job after commit; the one job key | `wakeups` |
| claim a batch, apply each row under a savepoint, mark, record failures | `batches` |
| sweep lost wake-ups, prune old rows | `upkeep` |

Statuses are `plugin.models.InboxStatus`; the row is `plugin.models.WebhookInbox`.
"""

from plugin.inbox.deliveries import (
    Delivery,
    InboxWriter,
    Stored,
    ensure_shop,
    is_data_error,
    record_delivery,
)
from plugin.inbox.wakeups import PROCESS_INBOX, inbox_job_key, wake, wake_after_commit

__all__ = [
    "PROCESS_INBOX",
    "Delivery",
    "InboxWriter",
    "Stored",
    "ensure_shop",
    "inbox_job_key",
    "is_data_error",
    "record_delivery",
    "wake",
    "wake_after_commit",
]
