"""Replay a simulated history through the app's real pipeline, in simulated time.

Webhook events go in exactly as real ones do: the runtime's inbox writer stores the rows, then
one batch of the workers' inbox job (`plugin.inbox.batches.process_batch`) applies them, each
under its own savepoint with its "handled" mark, a failing row recorded on itself as the worker
would record it. Subscribers' answers go
through the survey services at their simulated times, and due NPS invitations are released as
simulated time passes, as the release cron would.

Recomputes the jobs ask for are held back while the history is half replayed (`ReplayQueue`);
once it is complete, every past month-end and the recent days are scored as of their own day
(`plugin.scoring.recompute.snapshot_history`). The build is the database's only user, so its
SQLite calls run without aiosqlite's thread hop (`plugin.db.engine.sqlite_inline`).

The demo shop's Shopify is the fake Admin API in-process (`plugin.demo.admin_api`): the shop's
plans are created there through our plans service, subscribers buy through them, the worker
fetches each new contract's details from it, and renewals are made by our billing job
(`plugin.billing.run.bill_shop`), run once a simulated day at `BILLING_HOUR_UTC`: the fake
answers each attempt as the simulation planned (success, decline, 3-D Secure) and its webhooks
go through the inbox like any other, dunning retries and final cancellations included.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.run import bill_shop
from plugin.db.engine import sqlite_inline
from plugin.db.transaction import transaction
from plugin.demo.admin_api import DemoAdminApi, is_wired, wired
from plugin.demo.behaviour import NpsAnswer, nps_answer
from plugin.demo.plans import SHOP_CURRENCY
from plugin.demo.save_offers import seed_save_offers
from plugin.demo.simulation import (
    API_VERSION,
    BILLING_HOUR_UTC,
    CancelAnswer,
    DemoConfig,
    DemoHistory,
    SimEvent,
    simulate,
)
from plugin.domain.privacy import erase_shop
from plugin.inbox import PROCESS_INBOX, Delivery, ensure_shop
from plugin.inbox.batches import process_batch
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Cancellation,
    Contract,
    InboxStatus,
    NpsInvitation,
    NpsResponse,
    Order,
    ReasonSource,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.queue import InProcessQueue, JobArg, Queue, check_args
from plugin.runtime import Runtime
from plugin.scoring.recompute import snapshot_history
from plugin.scoring.requests import RECOMPUTE_SHOP
from plugin.shopify.fake import FakeShopify
from plugin.surveys.answers import submit_cancel_reason, submit_nps_answer
from plugin.surveys.errors import SurveyError
from plugin.surveys.invitations import release_due

log = logging.getLogger(__name__)

# progress(label, done, total)
Progress = Callable[[str, int, int | None], None]
REPLAYING = "replaying webhook events"

DEMO_TIMEZONE = "America/New_York"
# Due NPS invitations go out once a simulated day, at this UTC hour (a daily email batch);
# production releases them every few minutes, which only changes the hour they are sent.
RELEASE_HOUR_UTC = 15
# Consecutive deliveries are recorded together (one transaction), then their jobs run in
# event-time order, together in one transaction (see `_Replay._process_together`).
RECORD_BATCH = 200
# Daily snapshots computed from the history once it is in: the admin page's trends (90 days by
# default) and the measured effect of an initiative (its window before and after its start).
DAILY_SNAPSHOT_DAYS = 90
SCORING_HISTORY = "scoring past month-ends and days"

# The demo shop's dunning ends in a cancellation (involuntary churn), not the default pause.
DEMO_BILLING_SETTINGS = {"final_action": "cancel"}

# Heap order among actions at the same instant: release and billing first, then events, then
# answers.
_RELEASE, _BILL, _EVENT, _CANCEL_ANSWER, _NPS_ANSWER = 0, 1, 2, 3, 4


class DemoError(RuntimeError):
    """The demo cannot run in this runtime (or the pipeline refused its events)."""


@dataclass(frozen=True)
class DemoSummary:
    shop_id: int
    shop_domain: str
    events: int
    seconds: float
    subscribers: int
    contracts: dict[str, int]  # by status
    orders: int
    delivered_orders: int
    billing_failures: int
    cancellations: int
    customer_reasons: int
    nps_invitations: int
    nps_responses: int
    failed_events: int
    replay_seconds: float = 0.0
    # Snapshots computed from the complete history (first days of months; days).
    month_snapshots: tuple[date, ...] = ()
    day_snapshots: tuple[date, ...] = ()
    snapshot_seconds: float = 0.0
    # The billing job over simulated time: runs, charges it asked for, and how they matched the
    # simulation's plan (attempts it made on another day than planned, or never made).
    billing_runs: int = 0
    charges: int = 0
    retries: int = 0
    dunning_cancellations: int = 0
    unplanned_attempts: int = 0
    planned_not_made: int = 0

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{n:,} {status}" for status, n in sorted(self.contracts.items()))
        rate = self.events / self.replay_seconds if self.replay_seconds else 0.0
        lines = [
            f"demo shop {self.shop_domain}: {self.events:,} webhook events replayed"
            f" in {self.replay_seconds:.1f} s ({rate:,.0f} events/s), built in"
            f" {self.seconds:.1f} s",
            f"  {self.subscribers:,} subscribers; contracts: {statuses}",
            f"  {self.orders:,} orders ({self.delivered_orders:,} delivered),"
            f" {self.billing_failures:,} failed payments",
            f"  {self.cancellations:,} cancellations, {self.customer_reasons:,} with the"
            f" subscriber's reason",
            f"  {self.nps_invitations:,} NPS invitations, {self.nps_responses:,} answers",
            f"  billing job: {self.billing_runs:,} daily runs, {self.charges:,} charges"
            f" ({self.retries:,} dunning retries), {self.dunning_cancellations:,} contracts"
            f" cancelled after the last retry",
        ]
        if self.unplanned_attempts or self.planned_not_made:
            lines.append(
                f"  billing off the simulation's plan: {self.unplanned_attempts:,} unplanned"
                f" attempts, {self.planned_not_made:,} planned attempts not made"
            )
        if self.month_snapshots or self.day_snapshots:
            months = self.month_snapshots
            span = f" ({months[0]:%Y-%m} to {months[-1]:%Y-%m})" if months else ""
            lines.append(
                f"  {len(months)} month-end snapshots{span} and {len(self.day_snapshots)} daily"
                f" snapshots computed from the complete history in {self.snapshot_seconds:.1f} s"
            )
        return lines


async def build_demo(
    runtime: Runtime,
    config: DemoConfig,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    daily_snapshots: int = DAILY_SNAPSHOT_DAYS,
    shopify: FakeShopify | None = None,
) -> DemoSummary:
    """Replace the demo shop (and only it) with a freshly simulated history, then compute its
    month-end snapshots and the daily snapshots of the `daily_snapshots` days before `now`
    (default: the current time) from the complete history.

    `shopify` is the demo shop's Admin API, which `runtime` must already talk to
    (`plugin.demo.admin_api.wire`; the CLI keeps serving with it); without it the build uses a
    fake of its own for its duration."""
    if shopify is None:
        shopify = FakeShopify()
        async with wired(runtime, shopify) as runtime_wired:
            return await build_demo(
                runtime_wired,
                config,
                progress=progress,
                now=now,
                daily_snapshots=daily_snapshots,
                shopify=shopify,
            )
    if not is_wired(runtime):
        raise DemoError("the runtime does not talk to the demo's Admin API: see admin_api.wire")
    queue = runtime.queue
    if not isinstance(queue, InProcessQueue) or PROCESS_INBOX not in queue.handlers:
        raise DemoError(
            "the demo replays events through the in-process queue: build the runtime with "
            "plugin.app.build_app_runtime and no REDIS_URL"
        )
    started = time.perf_counter()
    history = simulate(config)
    # The build is the engine's only user until it returns: SQLite calls skip aiosqlite's
    # thread hop (see plugin.db.engine).
    with sqlite_inline(runtime.engine):
        shop_id = await reset_demo_shop(runtime, config.shop_domain, installed_at=history.start)
        admin = DemoAdminApi(shopify, config.shop_domain)
        await admin.connect(runtime, shop_id)
        await admin.create_plans(runtime, shop_id)
        admin.script(history.attempts)
        replay = _Replay(runtime, queue, history, shop_id, progress, admin)
        await replay.run()
        await seed_save_offers(runtime, shop_id, end=config.end, seed=config.seed)
        replayed = time.perf_counter()
        # Recomputes were held back during the replay (see ReplayQueue): the snapshots of the
        # past are computed once, from the complete history, each as of its own day.
        snapshots = await snapshot_history(
            runtime,
            shop_id,
            days=daily_snapshots,
            now=now,
            progress=None if progress is None else partial(progress, SCORING_HISTORY),
        )
        summary = await summarise(
            runtime, shop_id, config.shop_domain, time.perf_counter() - started
        )
    return dataclasses.replace(
        summary,
        replay_seconds=replayed - started,
        month_snapshots=snapshots.months,
        day_snapshots=snapshots.days,
        snapshot_seconds=snapshots.seconds.get("total", 0.0),
        billing_runs=replay.billing_runs,
        charges=replay.charges,
        retries=replay.retries,
        dunning_cancellations=replay.dunning_cancellations,
        unplanned_attempts=len(admin.unplanned),
        planned_not_made=admin.planned_not_made(config.end),
    )


async def reset_demo_shop(runtime: Runtime, domain: str, *, installed_at: datetime) -> int:
    """Erase the demo shop if it exists (never another shop) and create it afresh."""
    async with transaction(runtime.sessionmaker, None) as tx:
        existing = await tx.session.scalar(select(Shop.id).where(Shop.domain == domain))
        if existing is not None:
            await erase_shop(tx.session, existing)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop_id = await ensure_shop(tx.session, domain)
        shop = await tx.session.get(Shop, shop_id)
        assert shop is not None
        # A store in the Eastern time zone (its metrics use the shop's days and months) that
        # installed the app when it started selling subscriptions.
        shop.timezone = DEMO_TIMEZONE
        shop.currency = SHOP_CURRENCY
        shop.installed_at = installed_at
        shop.settings = {**(shop.settings or {}), "billing": DEMO_BILLING_SETTINGS}
    return shop_id


# UUID-shaped ids of the webhooks the Admin API sends during the replay (version-4 layout).
_BILLING_WEBHOOK = "b1111ed0-0000-4000-8000-"
_BILLING_EVENT = "b1111ed0-0000-4000-9000-"


class ReplayQueue:
    """The queue the jobs see during the replay: the shop's recompute requests are held back,
    since a recompute now would score a half-replayed history (the demo scores the complete
    history once it is in); any other job goes to the runtime's queue."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.held_recomputes = 0

    async def enqueue(
        self, job: str, *args: JobArg, key: str | None = None, delay_s: float | None = None
    ) -> bool:
        if job == RECOMPUTE_SHOP:
            check_args(args)
            self.held_recomputes += 1
            return False
        return await self.queue.enqueue(job, *args, key=key, delay_s=delay_s)

    async def ping(self) -> bool:
        return await self.queue.ping()

    async def close(self) -> None:
        """The runtime's queue outlives the replay."""


class _Replay:
    def __init__(
        self,
        runtime: Runtime,
        queue: InProcessQueue,
        history: DemoHistory,
        shop_id: int,
        progress: Progress | None,
        admin: DemoAdminApi,
    ) -> None:
        self.admin = admin
        self.billing_runs = self.charges = self.retries = self.dunning_cancellations = 0
        self.queue = ReplayQueue(runtime.queue)
        self.runtime = dataclasses.replace(runtime, queue=self.queue)
        self.history = history
        self.config: DemoConfig = history.config
        self.shop_id = shop_id
        self.progress = progress
        # Answers to invitations depend on which invitations the app released, so they are
        # drawn during the replay, from their own seeded stream.
        self.rng = np.random.default_rng([self.config.seed, 1])
        self.subscriber_ids: dict[int, int] = {}
        self.heap: list[tuple[datetime, int, int, Any]] = []
        self._seq = 0
        self.processed = 0

    def _push(self, at: datetime, kind: int, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (at, kind, self._seq, item))

    async def run(self) -> None:
        history = self.history
        for event in history.events:
            self.heap.append((event.at, _EVENT, len(self.heap), event))
        for answer in history.cancel_answers:
            self.heap.append((answer.at, _CANCEL_ANSWER, len(self.heap), answer))
        day = history.start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < self.config.end:
            for hour, kind in ((RELEASE_HOUR_UTC, _RELEASE), (BILLING_HOUR_UTC, _BILL)):
                at = day.replace(hour=hour)
                if history.start <= at < self.config.end:
                    self.heap.append((at, kind, len(self.heap), None))
            day += timedelta(days=1)
        self._seq = len(self.heap)
        heapq.heapify(self.heap)
        total = history.deliveries()
        while self.heap:
            at, kind, _, item = heapq.heappop(self.heap)
            if kind == _EVENT:
                batch = [item]
                while self.heap and self.heap[0][1] == _EVENT and len(batch) < RECORD_BATCH:
                    batch.append(heapq.heappop(self.heap)[3])
                await self._events(batch)
                if self.progress is not None:
                    self.progress(REPLAYING, self.processed, total)
            elif kind == _RELEASE:
                await self._release(at)
            elif kind == _BILL:
                await self._bill(at)
            elif kind == _CANCEL_ANSWER:
                await self._cancel_answer(item)
            else:
                await self._nps_answer(at, item)
        if self.progress is not None:
            self.progress(REPLAYING, total, total)

    async def _events(self, events: list[SimEvent]) -> None:
        """Store consecutive deliveries as the webhook endpoint would, then apply them as one
        batch of the workers' inbox job (each row under its own savepoint)."""
        inbox_ids: list[int] = []
        for event in events:
            self.admin.follow(event)
        async with transaction(self.runtime.sessionmaker, None) as tx:
            for event in events:
                stored = await self.runtime.inbox.record(
                    tx.session,
                    Delivery(
                        shop_domain=self.config.shop_domain,
                        topic=event.topic,
                        webhook_id=event.webhook_id,
                        event_id=event.event_id,
                        api_version=API_VERSION,
                        triggered_at=event.at,
                        payload=event.payload,
                    ),
                )
                if stored is None:
                    raise DemoError(f"webhook {event.webhook_id} was already stored")
                inbox_ids.append(stored.inbox_id)
        await process_batch(self.runtime, self.shop_id, limit=len(inbox_ids), ids=inbox_ids)
        self.processed += len(events)

    async def _bill(self, at: datetime) -> None:
        """The day's billing run (the shop's day: 14:00 UTC is morning in New York), then
        Shopify's webhooks for what it did, at their simulated times."""
        result = await bill_shop(self.runtime, self.config.shop_domain, at.date())
        self.billing_runs += 1
        self.charges += result.charged + result.retried
        self.retries += result.retried
        self.dunning_cancellations += len(result.final_actions)
        for when, topic, payload in self.admin.answers(at, self.config.end):
            self._seq += 1
            ids = f"{self._seq:012x}"
            event = SimEvent(
                when, topic, payload, f"{_BILLING_WEBHOOK}{ids}", f"{_BILLING_EVENT}{ids}"
            )
            self._push(when, _EVENT, event)

    async def _subscriber_id(self, session: AsyncSession, customer_id: int) -> int | None:
        found = self.subscriber_ids.get(customer_id)
        if found is None:
            found = await session.scalar(
                select(Subscriber.id).where(
                    Subscriber.shop_id == self.shop_id, Subscriber.customer_id == customer_id
                )
            )
            if found is not None:
                self.subscriber_ids[customer_id] = found
        return found

    async def _cancel_answer(self, answer: CancelAnswer) -> None:
        try:
            async with transaction(self.runtime.sessionmaker, None) as tx:
                subscriber_id = await self._subscriber_id(tx.session, answer.customer_id)
                if subscriber_id is None:
                    return
                await submit_cancel_reason(
                    tx.session,
                    shop_id=self.shop_id,
                    subscriber_id=subscriber_id,
                    contract_id=answer.contract_id,
                    reason=answer.answer.reason,
                    comment=answer.answer.comment,
                    channel=answer.answer.channel,
                    now=answer.at,
                )
        except SurveyError as exc:
            log.info("demo cancel answer refused: %s", exc)

    async def _release(self, now: datetime) -> None:
        async with transaction(self.runtime.sessionmaker, None) as tx:
            released = await release_due(tx.session, now=now, shop_id=self.shop_id)
            if not released:
                return
            customers = dict(
                (
                    await tx.session.execute(
                        select(Subscriber.id, Subscriber.customer_id).where(
                            Subscriber.shop_id == self.shop_id,
                            Subscriber.id.in_({i.subscriber_id for i in released}),
                        )
                    )
                ).all()
            )
        for invitation in released:
            persona = self.history.personas.get(customers[invitation.subscriber_id])
            if persona is None:
                continue
            answer = nps_answer(
                persona,
                self.rng,
                delivery_days=self.history.delivery_days.get(invitation.order_id),
            )
            if answer is None:
                continue
            at = now + timedelta(hours=answer.delay_hours)
            if at < invitation.expires_at and at < self.config.end:
                self._push(at, _NPS_ANSWER, (invitation.subscriber_id, invitation.id, answer))

    async def _nps_answer(self, at: datetime, item: tuple[int, int, NpsAnswer]) -> None:
        subscriber_id, invitation_id, answer = item
        try:
            async with transaction(self.runtime.sessionmaker, None) as tx:
                await submit_nps_answer(
                    tx.session,
                    shop_id=self.shop_id,
                    subscriber_id=subscriber_id,
                    score=answer.score,
                    value_for_money=answer.value_for_money,
                    comment=answer.comment,
                    channel=answer.channel,
                    now=at,
                    invitation_id=invitation_id,
                )
        except SurveyError as exc:
            log.info("demo NPS answer refused: %s", exc)


async def summarise(runtime: Runtime, shop_id: int, domain: str, seconds: float) -> DemoSummary:
    """Counts read back from the database (what the app itself now knows)."""

    async with runtime.sessionmaker() as session:

        async def count(model: Any, *where: Any) -> int:
            query = select(func.count()).select_from(model).where(model.shop_id == shop_id, *where)
            return int(await session.scalar(query) or 0)

        statuses = dict(
            (
                await session.execute(
                    select(Contract.status, func.count())
                    .where(Contract.shop_id == shop_id)
                    .group_by(Contract.status)
                )
            ).all()
        )
        return DemoSummary(
            shop_id=shop_id,
            shop_domain=domain,
            events=await count(WebhookInbox),
            seconds=seconds,
            subscribers=await count(Subscriber),
            contracts={str(k): int(v) for k, v in statuses.items()},
            orders=await count(Order),
            delivered_orders=await count(Order, Order.delivered_at.is_not(None)),
            billing_failures=await count(
                BillingAttempt, BillingAttempt.status == BillingAttemptStatus.FAILURE
            ),
            cancellations=await count(Cancellation, Cancellation.cancelled_at.is_not(None)),
            customer_reasons=await count(
                Cancellation, Cancellation.reason_source == ReasonSource.CUSTOMER
            ),
            nps_invitations=await count(NpsInvitation, NpsInvitation.sent_at.is_not(None)),
            nps_responses=await count(NpsResponse),
            failed_events=await count(WebhookInbox, WebhookInbox.status != InboxStatus.HANDLED),
        )
