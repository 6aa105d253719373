"""One shop's billing day: charge the cycles due, retry failed ones, take final actions.

`bill_shop(runtime, domain, day)` is what the daily job and `valuehealth bill SHOP --date D`
run. The day is the shop's calendar day (its timezone); a cycle is due on D when Shopify
expects its billing attempt on D in the shop's time. Cycles of the previous
`LOOKBACK_DAYS` days that are still unbilled and were never charged are charged too, so a day
the job did not run (outage, deploy) is caught up the next day rather than lost.

Only active contracts are looked at, and Shopify's own cycle list decides: skipped cycles and
cycles already billed are left alone; Shopify refuses paused and ended contracts too. Every
charge goes through `plugin.billing.charges`, whose idempotency keys make any rerun charge
nothing twice. Then the shop's open dunning cases due by D are worked in order: a retry, a
retry skipped because only a new payment method can help, or, when none is left, the
merchant's final action (pause or cancel the contract).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, update

from plugin.billing.charges import charge_cycle, contract_gid
from plugin.billing.dunning import notify_end, retry_day
from plugin.billing.settings import BillingSettings, billing_settings
from plugin.db.transaction import transaction
from plugin.models import BillingCharge, Contract, DunningCase, Shop
from plugin.models.base import utcnow
from plugin.models.billing import DunningStatus
from plugin.models.subscription import ContractStatus
from plugin.runtime import Runtime
from plugin.scoring.localtime import shop_zone
from plugin.shopify.billing import billing_cycles
from plugin.shopify.contract_edits import ContractEditor, ContractEditRefused
from plugin.shopify.graphql import AdminGraphQL, admin_client_for

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 7
LOOKAHEAD_DAYS = 32  # a monthly cycle's next date is at most 31 days on
Progress = Callable[[str, int, int | None], None]


class BillingUnavailable(Exception):
    """The shop cannot be billed now (unknown, uninstalled, no token); the message says why."""


@dataclass
class BillResult:
    shop: str
    day: date
    contracts_checked: int = 0
    charged: int = 0  # new attempts asked of Shopify (scheduled charges)
    already: int = 0  # due cycles looked at again that an earlier run had charged
    earlier_today: int = 0  # charges earlier runs asked for on this day (before this run)
    skipped_cycles: int = 0  # due cycles the subscriber or merchant skipped
    retried: int = 0
    retries_skipped: int = 0  # retries that could not succeed (payment method to update)
    final_actions: list[tuple[int, str]] = field(default_factory=list)  # (contract, action)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (contract, Shopify's reason)

    def describe(self) -> str:
        lines = [
            f"billing of {self.shop} for {self.day.isoformat()} (shop time):",
            f"  contracts checked      {self.contracts_checked}",
            f"  cycles charged now     {self.charged}",
            f"  charged by earlier run {self.already}",
            f"  asked earlier this day {self.earlier_today}",
            f"  skipped cycles         {self.skipped_cycles} (not charged)",
            f"  retries charged        {self.retried}",
            f"  retries skipped        {self.retries_skipped} (await a new payment method)",
            f"  final actions          {len(self.final_actions)}",
        ]
        lines += [f"    contract {c}: {a}" for c, a in self.final_actions]
        lines.append(f"  refused by Shopify     {len(self.refused)}")
        lines += [f"    contract {c}: {why}" for c, why in self.refused]
        lines.append(
            "Outcomes arrive as billing-attempt webhooks; a second run today charges nothing."
        )
        return "\n".join(lines)


def day_bounds(zone_name: str, day: date) -> tuple[datetime, datetime]:
    """UTC instants of the shop's day: [local midnight, next local midnight)."""
    zone = shop_zone(zone_name)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


async def _shop_and_client(runtime: Runtime, domain: str) -> tuple[Shop, AdminGraphQL]:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.scalar(select(Shop).where(Shop.domain == domain))
        if shop is None:
            raise BillingUnavailable(f"no shop {domain} in this database")
        if shop.uninstalled_at is not None:
            raise BillingUnavailable(f"{domain} has uninstalled the app")
        # Refreshes the token if due, persisting the new pair in this transaction.
        client = await admin_client_for(runtime, tx.session, shop)
        if client is None:
            raise BillingUnavailable(
                f"{domain} has no access token yet: the merchant must open the app once"
            )
        tx.session.expunge(shop)
    return shop, client


async def bill_shop(
    runtime: Runtime, domain: str, day: date | None = None, progress: Progress | None = None
) -> BillResult:
    shop, client = await _shop_and_client(runtime, domain)
    zone = shop_zone(shop.timezone)
    day = day or utcnow().astimezone(zone).date()
    result = BillResult(domain, day)
    async with runtime.sessionmaker() as session:
        result.earlier_today = int(
            await session.scalar(
                select(func.count())
                .select_from(BillingCharge)
                .where(BillingCharge.shop_id == shop.id, BillingCharge.billed_on == day)
            )
            or 0
        )
    settings = billing_settings(shop)
    await _charge_due_cycles(runtime, client, shop, day, result, progress)
    await _work_dunning(runtime, client, shop, day, settings, result, progress)
    return result


async def _charge_due_cycles(
    runtime: Runtime,
    client: AdminGraphQL,
    shop: Shop,
    day: date,
    result: BillResult,
    progress: Progress | None,
) -> None:
    window_start, _ = day_bounds(shop.timezone, day - timedelta(days=LOOKBACK_DAYS))
    # Past the day by a little more than the longest cycle, so the answer also names each
    # contract's next cycle after the day (kept as our copy's next billing date).
    _, window_end = day_bounds(shop.timezone, day + timedelta(days=LOOKAHEAD_DAYS))
    async with runtime.sessionmaker() as session:
        # Our copy of the next billing date preselects (a day of slack either way for the
        # timezone); Shopify's cycle list then decides exactly what is due.
        contracts = (
            await session.scalars(
                select(Contract)
                .where(
                    Contract.shop_id == shop.id,
                    Contract.status == ContractStatus.ACTIVE,
                    Contract.next_billing_date.is_not(None),
                    Contract.next_billing_date <= day + timedelta(days=1),
                )
                .order_by(Contract.id)
            )
        ).all()
    zone = shop_zone(shop.timezone)
    total = len(contracts)
    for done, contract in enumerate(contracts, start=1):
        cycles = await billing_cycles(client, contract_gid(contract), window_start, window_end)
        settled = True
        for cycle in cycles:
            if cycle.expected_at.astimezone(zone).date() > day:
                continue
            if cycle.skipped:
                result.skipped_cycles += 1
                continue
            if cycle.billed:
                result.already += 1
                continue
            outcome = await charge_cycle(
                runtime,
                client,
                contract,
                cycle.index,
                cycle.expected_at.astimezone(zone).date(),
                0,
                day,
            )
            if outcome.status == "submitted":
                result.charged += 1
            elif outcome.status == "already":
                result.already += 1
            else:
                settled = False
                result.refused.append((contract.contract_id, outcome.message or "refused"))
        # Only once the due cycles are settled: a run that dies before this, or a cycle
        # Shopify refused today, is looked at again by the next run (within the look-back).
        upcoming = [
            c for c in cycles if c.expected_at.astimezone(zone).date() > day and not c.skipped
        ]
        if upcoming and settled:
            await _keep_next_billing_date(runtime, contract, upcoming[0].expected_at)
        result.contracts_checked = done
        if progress:
            progress("charging due cycles", done, total)


async def _keep_next_billing_date(runtime: Runtime, contract: Contract, at: datetime) -> None:
    """Our copy of the next billing date moves on with Shopify's cycles, so that tomorrow's
    run does not ask again about a contract billed today (dates in UTC, as the details)."""
    upcoming = at.astimezone(UTC).date()
    if contract.next_billing_date == upcoming:
        return
    async with transaction(runtime.sessionmaker, None) as tx:
        await tx.session.execute(
            update(Contract)
            .where(Contract.shop_id == contract.shop_id, Contract.id == contract.id)
            .values(next_billing_date=upcoming)
        )


async def _work_dunning(
    runtime: Runtime,
    client: AdminGraphQL,
    shop: Shop,
    day: date,
    settings: BillingSettings,
    result: BillResult,
    progress: Progress | None,
) -> None:
    async with runtime.sessionmaker() as session:
        case_ids = (
            await session.scalars(
                select(DunningCase.id)
                .where(
                    DunningCase.shop_id == shop.id,
                    DunningCase.status == DunningStatus.OPEN,
                    DunningCase.next_retry_on <= day,
                )
                .order_by(DunningCase.next_retry_on, DunningCase.id)
            )
        ).all()
    for done, case_id in enumerate(case_ids, start=1):
        await _work_case(runtime, client, shop, case_id, day, settings, result)
        if progress:
            progress("dunning retries", done, len(case_ids))


async def _work_case(
    runtime: Runtime,
    client: AdminGraphQL,
    shop: Shop,
    case_id: int,
    day: date,
    settings: BillingSettings,
    result: BillResult,
) -> None:
    # Decide and record the step in one transaction (the case row locked, so a second worker
    # waits and then finds the step taken), then make the charge, which is idempotent itself.
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        case = await tx.session.scalar(
            select(DunningCase)
            .where(DunningCase.shop_id == shop.id, DunningCase.id == case_id)
            .with_for_update()
        )
        if case is None or case.status != DunningStatus.OPEN or not case.next_retry_on:
            return
        if case.next_retry_on > day:
            return
        contract = await tx.session.get(Contract, case.contract_pk)
        if contract is None or contract.status != ContractStatus.ACTIVE:
            # Paused, cancelled or ended meanwhile: nothing left for dunning to do.
            case.status, case.closed_at, case.next_retry_on = DunningStatus.CLOSED, utcnow(), None
            if contract is not None:
                await notify_end(tx, case, DunningStatus.CLOSED)
            return
        if case.needs_payment_update and retry_day(case, settings) is not None:
            # Only a new card can help: this retry is spent without charging the old one.
            case.retries_used += 1
            result.retries_skipped += 1
            later = retry_day(case, settings)
            if later is not None:
                case.next_retry_on = later
                return
        next_day = retry_day(case, settings)
        # The retry's try number follows from the case as stored, and the case moves on only
        # once Shopify has the attempt: a run that dies in between sends the same key again.
        try_number = None if next_day is None else case.retries_used + 1
        action = settings.final_action if next_day is None else None
        tx.session.expunge(contract)
        cycle_index, cycle_date = case.cycle_index, case.cycle_date
    if try_number is not None:
        outcome = await charge_cycle(
            runtime, client, contract, cycle_index, cycle_date, try_number, day
        )
        if outcome.status == "rejected":
            result.refused.append((contract.contract_id, outcome.message or "refused"))
            await _close(runtime, case_id, DunningStatus.CLOSED, None)
            return
        await _retry_sent(runtime, case_id, try_number)
        if outcome.status == "submitted":
            result.retried += 1
        return
    assert action is not None
    try:
        editor = ContractEditor(client)
        end = editor.pause if action == "pause" else editor.cancel
        await end(contract_gid(contract))
    except ContractEditRefused as exc:
        result.refused.append((contract.contract_id, str(exc)))
        await _close(runtime, case_id, DunningStatus.CLOSED, None)
        return
    await _close(runtime, case_id, DunningStatus.EXHAUSTED, action)
    result.final_actions.append((contract.contract_id, action))


async def _retry_sent(runtime: Runtime, case_id: int, try_number: int) -> None:
    """Shopify has retry `try_number`: the case counts it and waits for its outcome (unless
    the outcome's webhook came first and has dated the next step already)."""
    async with transaction(runtime.sessionmaker, None) as tx:
        case = await tx.session.get(DunningCase, case_id, with_for_update=True)
        if case is None or case.retries_used >= try_number:
            return
        case.retries_used = try_number
        if case.status == DunningStatus.OPEN:
            case.next_retry_on = None


async def _close(runtime: Runtime, case_id: int, status: str, action: str | None) -> None:
    async with transaction(runtime.sessionmaker, runtime.queue) as tx:
        case = await tx.session.get(DunningCase, case_id, with_for_update=True)
        if case is not None and case.status == DunningStatus.OPEN:
            case.status, case.final_action = status, action
            case.closed_at, case.next_retry_on = utcnow(), None
            await notify_end(tx, case, action or status)


async def charges_on(runtime: Runtime, shop_id: int, day: date) -> list[BillingCharge]:
    """The charges a run on `day` asked for (the Billing page's 'today' table)."""
    async with runtime.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(BillingCharge)
                    .where(BillingCharge.shop_id == shop_id, BillingCharge.billed_on == day)
                    .order_by(BillingCharge.id)
                )
            ).all()
        )
