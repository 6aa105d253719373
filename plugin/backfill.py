"""`valuehealth backfill SHOP`: import a shop's existing subscription contracts.

Webhooks only tell us what happens after the app is installed. The backfill asks Shopify for
every contract through one bulk operation (`plugin.shopify.contracts.iter_contract_details`),
streams the result, and brings each contract in through the domain's own contract service
(`plugin.domain.contracts.import_contract`, the code webhooks use), a batch per transaction.
Running it again is harmless: a contract we know gets one more dated statement of its status
and fresh details; events that fired later still win.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.domain.contracts import import_contract
from plugin.domain.errors import MalformedPayload
from plugin.models import Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.scoring.requests import request_recompute
from plugin.shopify.contracts import ContractDetails, iter_contract_details
from plugin.shopify.graphql import Sleep, admin_client_for

log = logging.getLogger(__name__)

# progress(label, done, total); total None while it is not known
Progress = Callable[[str, int, int | None], None]

WAITING = "waiting for Shopify's bulk operation (objects so far)"
IMPORTING = "importing contracts"
# Contracts per transaction: large enough to be quick, small enough not to hold locks long.
BATCH_SIZE = 200


class BackfillError(RuntimeError):
    """The backfill cannot run for this shop; the message says why and what to do."""


@dataclass(frozen=True)
class BackfillResult:
    shop: str
    observed_at: datetime
    contracts: int  # imported (new + already known)
    new: int
    skipped: int  # snapshots we could not read (logged)
    seconds: float

    @property
    def known(self) -> int:
        return self.contracts - self.new

    def describe(self) -> str:
        text = (
            f"backfill of {self.shop}: {self.contracts:,} contracts imported"
            f" ({self.new:,} new, {self.known:,} already known) in {self.seconds:.1f} s"
        )
        if self.skipped:
            text += f"; {self.skipped:,} skipped (see the log)"
        return text


async def backfill_shop(
    runtime: Runtime,
    shop_domain: str,
    *,
    progress: Progress | None = None,
    poll_interval: float = 5.0,
    sleep: Sleep = asyncio.sleep,
) -> BackfillResult:
    """Import every subscription contract of the shop from Shopify (see the module docstring).

    Raises BackfillError when the shop is unknown, uninstalled or has no usable token;
    Shopify errors (BulkOperationError, TransientError) propagate: a rerun starts afresh.
    """
    started = time.perf_counter()
    # Snapshot time: taken before the bulk query starts, so a webhook that fires while the
    # query runs is later than the snapshot and keeps precedence over it.
    observed_at = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.scalar(select(Shop).where(Shop.domain == shop_domain))
        if shop is None:
            raise BackfillError(
                f"no shop {shop_domain} in this database: it appears once the merchant installs"
                " the app (or Shopify sends its first webhook)"
            )
        if shop.uninstalled_at is not None:
            raise BackfillError(f"{shop_domain} has uninstalled the app")
        # A refreshed token is stored by this transaction's commit.
        client = await admin_client_for(runtime, tx.session, shop, sleep=sleep)
        shop_id = shop.id
    if client is None:
        raise BackfillError(
            f"{shop_domain} has no usable access token: the merchant must open the app in"
            " their Shopify admin once"
        )

    def polled(operation: dict[str, object]) -> None:
        if progress is not None:
            progress(WAITING, int(str(operation.get("objectCount") or 0)), None)

    counts = _Counts()
    batch: list[ContractDetails] = []
    async for details in iter_contract_details(
        client, poll_interval=poll_interval, sleep=sleep, on_progress=polled
    ):
        batch.append(details)
        if len(batch) >= BATCH_SIZE:
            await _import(runtime, shop_id, batch, observed_at, counts)
            batch.clear()
            if progress is not None:
                progress(IMPORTING, counts.contracts, None)
    await _import(runtime, shop_id, batch, observed_at, counts, last=True)
    if progress is not None:
        progress(IMPORTING, counts.contracts, counts.contracts)
    result = BackfillResult(
        shop=shop_domain,
        observed_at=observed_at,
        contracts=counts.contracts,
        new=counts.new,
        skipped=counts.skipped,
        seconds=time.perf_counter() - started,
    )
    log.info("%s", result.describe())
    return result


@dataclass
class _Counts:
    contracts: int = 0
    new: int = 0
    skipped: int = 0


async def _import(
    runtime: Runtime,
    shop_id: int,
    batch: list[ContractDetails],
    observed_at: datetime,
    counts: _Counts,
    *,
    last: bool = False,
) -> None:
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        shop = await tx.session.get(Shop, shop_id)
        if shop is None:
            raise BackfillError("the shop was erased while the backfill ran")
        for details in batch:
            try:
                created = await import_contract(tx.session, shop, details, observed_at=observed_at)
            except MalformedPayload as exc:
                # Checked before anything is written: the rest of the batch goes on.
                log.warning("shop %s: contract skipped: %s", shop_id, exc)
                counts.skipped += 1
                continue
            counts.contracts += 1
            counts.new += int(created)
        if last and counts.contracts:
            # The shop's figures changed: recompute them (debounced, after this commit).
            request_recompute(tx, shop_id, debounce_s=runtime.settings.recompute_debounce_seconds)
