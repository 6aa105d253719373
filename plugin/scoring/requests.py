"""Asking for a shop's recompute: debounced, so a burst of events costs one recompute.

Call `request_recompute(tx, shop_id)` inside the transaction that changed the shop's data
(event processing, survey answers): the job is queued after commit, deferred by the debounce
window, under a key that names the shop and the window. Every request of the same shop in the
same window lands on the one queued job (the queue refuses a second job with the same key).

Why the window is in the key: Arq keeps a job's key while the job runs, so with a fixed key
a request arriving during a recompute would be dropped and its change left unscored until the
nightly run. A request during a run belongs to a later window (the job runs at least one window
after the first request of its own), so it gets its own job. The job is told its window's end
and skips itself when a recompute that read the data after that instant has already stored
its results (`recompute.recompute_due`).
"""

from __future__ import annotations

import math
import time

from plugin.db.transaction import Tx
from plugin.queue import Queue
from plugin.settings import Settings

RECOMPUTE_SHOP = "recompute_shop"
RECOMPUTE_ALL_SHOPS = "recompute_all_shops"
# The Settings default; callers holding a runtime may pass runtime.settings' value.
DEFAULT_DEBOUNCE_S: float = Settings.recompute_debounce_seconds


def window_end(now: float, debounce_s: float) -> int:
    """End (epoch seconds) of the debounce window containing `now`."""
    size = max(debounce_s, 1.0)
    return int((math.floor(now / size) + 1) * size)


def recompute_key(shop_id: int, window: int) -> str:
    """The queue key of a shop's recompute for the window ending at `window`."""
    return f"recompute:{shop_id}:{window}"


def request_recompute(
    tx: Tx, shop_id: int, *, debounce_s: float = DEFAULT_DEBOUNCE_S, now: float | None = None
) -> None:
    """Queue a recompute of the shop after this transaction commits (debounced)."""
    at = time.time() if now is None else now
    window = window_end(at, debounce_s)
    tx.enqueue_after_commit(
        RECOMPUTE_SHOP,
        shop_id,
        window,
        key=recompute_key(shop_id, window),
        delay_s=max(float(debounce_s), 0.0) or None,
    )


async def enqueue_recompute(
    queue: Queue, shop_id: int, *, delay_s: float | None, now: float | None = None
) -> bool:
    """Queue a recompute outside a transaction (the nightly run, a busy shop retried later);
    False when one is already queued for the window."""
    at = time.time() if now is None else now
    window = window_end(at + (delay_s or 0.0), DEFAULT_DEBOUNCE_S)
    return await queue.enqueue(
        RECOMPUTE_SHOP, shop_id, window, key=recompute_key(shop_id, window), delay_s=delay_s
    )
