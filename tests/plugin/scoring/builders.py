"""Hand-built shops for scoring tests: rows written directly, so each test states its data.

shop = await ShopBuilder.create(runtime, "a.myshopify.com", timezone="Europe/Paris")
ada = await shop.subscriber(501)
c = await shop.contract(ada, 9001, started=at(2026, 1, 3), amount="25.00")
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from plugin.db.transaction import transaction
from plugin.models import (
    BillingAttempt,
    Cancellation,
    Contract,
    ContractChange,
    ContractStatusEvent,
    NpsInvitation,
    NpsResponse,
    Order,
    Shop,
    Subscriber,
)
from plugin.runtime import Runtime

_ids = itertools.count(10_000)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class ShopBuilder:
    runtime: Runtime
    shop_id: int
    domain: str

    @classmethod
    async def create(cls, runtime: Runtime, domain: str, **fields: Any) -> ShopBuilder:
        async with transaction(runtime.sessionmaker, None) as tx:
            shop = Shop(domain=domain, **fields)
            tx.session.add(shop)
            await tx.session.flush()
            shop_id = shop.id
        return cls(runtime, shop_id, domain)

    async def add(self, *rows: Any) -> None:
        async with transaction(self.runtime.sessionmaker, None) as tx:
            tx.session.add_all(rows)

    async def subscriber(self, customer_id: int, **fields: Any) -> int:
        async with transaction(self.runtime.sessionmaker, None) as tx:
            sub = Subscriber(shop_id=self.shop_id, customer_id=customer_id, **fields)
            tx.session.add(sub)
            await tx.session.flush()
            return sub.id

    async def contract(
        self,
        subscriber_id: int,
        *,
        started: datetime,
        status: str = "active",
        status_at: datetime | None = None,
        ended: datetime | None = None,
        amount: str | None = "25.00",
        currency: str = "USD",
        interval: str = "month",
        count: int = 1,
        plan: str | None = None,
        history: list[tuple[str, datetime]] | None = None,
    ) -> int:
        """A contract with its status history (default: created active at `started`, then
        `status` at `status_at` or `ended`)."""
        when = status_at or ended or started
        async with transaction(self.runtime.sessionmaker, None) as tx:
            row = Contract(
                shop_id=self.shop_id,
                contract_id=next(_ids),
                subscriber_id=subscriber_id,
                status=status,
                status_at=when,
                started_at=started,
                ended_at=ended,
                currency=currency,
                billing_interval=interval,
                billing_interval_count=count,
                recurring_amount=Decimal(amount) if amount is not None else None,
                plan_name=plan,
            )
            tx.session.add(row)
            await tx.session.flush()
            entries = history or [("active", started)] + (
                [(status, when)] if when != started else []
            )
            for entry_status, occurred in entries:
                tx.session.add(
                    ContractStatusEvent(
                        shop_id=self.shop_id,
                        contract_pk=row.id,
                        status=entry_status,
                        occurred_at=occurred,
                        topic=f"subscription_contracts/{entry_status}",
                    )
                )
            return row.id

    async def attempt(self, contract_pk: int, when: datetime, *, ok: bool = True) -> None:
        attempt_id = next(_ids)
        await self.add(
            BillingAttempt(
                shop_id=self.shop_id,
                attempt_id=attempt_id,
                attempt_key=f"id:{attempt_id}",
                contract_pk=contract_pk,
                status="success" if ok else "failure",
                error_code=None if ok else "insufficient_funds",
                occurred_at=when,
            )
        )

    async def cancellation(
        self,
        contract_pk: int,
        subscriber_id: int,
        when: datetime,
        reason: str,
        *,
        source: str = "customer",
        status: str = "cancelled",
    ) -> None:
        await self.add(
            Cancellation(
                shop_id=self.shop_id,
                contract_pk=contract_pk,
                subscriber_id=subscriber_id,
                cancelled_at=when,
                end_status=status,
                reason_code=reason,
                reason_source=source,
            )
        )

    async def change(
        self, contract_pk: int, kind: str, when: datetime, source: str = "unknown"
    ) -> None:
        await self.add(
            ContractChange(
                shop_id=self.shop_id,
                contract_pk=contract_pk,
                kind=kind,
                source=source,
                occurred_at=when,
            )
        )

    async def nps(
        self,
        subscriber_id: int,
        sent: datetime,
        *,
        score: int | None = None,
        answered: datetime | None = None,
        value_for_money: int | None = None,
    ) -> None:
        """An invitation sent at `sent`, answered with `score` at `answered` if given."""
        async with transaction(self.runtime.sessionmaker, None) as tx:
            inv = NpsInvitation(
                shop_id=self.shop_id,
                subscriber_id=subscriber_id,
                order_id=next(_ids),
                trigger="delivered",
                status="answered" if score is not None else "pending",
                send_at=sent,
                sent_at=sent,
                expires_at=sent.replace(year=sent.year + 1),
            )
            tx.session.add(inv)
            await tx.session.flush()
            if score is not None:
                assert answered is not None
                tx.session.add(
                    NpsResponse(
                        shop_id=self.shop_id,
                        invitation_id=inv.id,
                        subscriber_id=subscriber_id,
                        score=score,
                        value_for_money=value_for_money,
                        channel="proxy",
                        answered_at=answered,
                        updated_at=answered,
                        editable_until=answered,
                    )
                )

    async def order(
        self,
        contract_pk: int | None,
        subscriber_id: int | None,
        created: datetime,
        *,
        fulfilled: datetime | None = None,
        delivered: datetime | None = None,
    ) -> None:
        await self.add(
            Order(
                shop_id=self.shop_id,
                order_id=next(_ids),
                contract_pk=contract_pk,
                subscriber_id=subscriber_id,
                created_at_shop=created,
                fulfilled_at=fulfilled,
                delivered_at=delivered,
            )
        )


def days_since_epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days
