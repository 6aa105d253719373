"""Load one shop's history into column arrays with set-based SQL (docs/design.md §2,
docs/metrics.md).

Each table is read with one SELECT of the columns the engine needs (SQLAlchemy Core, never
ORM objects), filtered on the shop and on the cut-off instant, and fetched in chunks straight
into numpy arrays (`fetch.columns`: binary COPY on PostgreSQL): a large shop's event history
never exists as Python objects, one per row. Text is coded to integers in SQL (statuses,
intervals, kinds; currencies and reason codes through their few distinct values), instants
arrive as epoch seconds (`fetch.instant`) and are mapped to the shop's local days in one
vectorised step (`localtime.LocalCalendar`).

All reads see one snapshot (REPEATABLE READ on PostgreSQL), so the tables agree with each
other even while events keep arriving; on PostgreSQL they run side by side on connections
that import that snapshot (`recompute.LOAD_CONNECTIONS`).

Rows are dated by when they became known, so that an as-of day in the past (risk features of
a training window, a month-end snapshot) sees only what was known then. Cancel attempts and
cadence reasons of subscribers who stayed (`contract_changes` of kinds `cancel_attempt`,
`cadence_reason`, written by the surveys) carry the answer's time, but whether an answer was
an attempt or the reason of a real cancellation is only settled when the shop's cancel answer
window has passed: they are dated at the answer plus that window. Dated at the answer, a
feature window ending a few days after it would count attempts only for the subscribers who
then did not cancel, which is the outcome the features must not know. (Attempts kept from a
retracted cancellation are stored at the comeback, when they became known; the window only
delays them further.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Cancellation,
    CancelReasonOption,
    Contract,
    ContractChange,
    ContractStatusEvent,
    NpsInvitation,
    NpsResponse,
    Order,
    Shop,
    Subscriber,
)
from plugin.scoring.fetch import (
    INT_NULL,
    Col,
    coded,
    columns,
    ident,
    instant,
    maybe_int,
    real,
)
from plugin.scoring.history import NO_DAY, ShopHistory
from plugin.scoring.localtime import LocalCalendar
from plugin.scoring.shop_settings import ValueSettings
from plugin.surveys.settings import survey_settings_from
from plugin.value import BillingInterval, ChangeSource, ContractStatus, EventKind, ReasonCode
from plugin.value.reasons import DEFAULT_REASONS

STATUS_CODES: dict[str, int] = {
    "active": ContractStatus.ACTIVE,
    "paused": ContractStatus.PAUSED,
    "cancelled": ContractStatus.CANCELLED,
    "expired": ContractStatus.EXPIRED,
    "failed": ContractStatus.FAILED,
    "stale": ContractStatus.STALE,
}
INTERVAL_CODES: dict[str, int] = {
    "day": BillingInterval.DAY,
    "week": BillingInterval.WEEK,
    "month": BillingInterval.MONTH,
    "year": BillingInterval.YEAR,
}
# contract_changes.kind → behaviour event. Billing-cycle skips are recorded there too (with
# their source), so billing_cycle_events is not read again: a skip would count twice.
EVENT_KINDS: dict[str, int] = {
    "skip": EventKind.SKIP,
    "delay": EventKind.DELAY,
    "reschedule": EventKind.DELAY,
    "frequency_change": EventKind.FREQUENCY_CHANGE,
    "pause": EventKind.PAUSE,
    "cancel_attempt": EventKind.CANCEL_ATTEMPT,
    "cadence_reason": EventKind.CADENCE_REASON,
}
# Survey answers recorded as contract changes once settled (see the module docstring).
SETTLED_AFTER_ANSWER_WINDOW: tuple[int, ...] = (EventKind.CANCEL_ATTEMPT, EventKind.CADENCE_REASON)
CHANGE_SOURCES: dict[str, int] = {
    "subscriber": ChangeSource.SUBSCRIBER,
    "customer": ChangeSource.SUBSCRIBER,
    "merchant": ChangeSource.MERCHANT,
}


@dataclass(frozen=True)
class LoadedShop:
    """What one load returns: the history, the shop's reason codes and the read instant."""

    history: ShopHistory
    reasons: tuple[ReasonCode, ...]
    read_at: datetime


def row_position(ids: npt.NDArray[np.int64], sorted_ids: npt.NDArray[np.int64]) -> npt.NDArray:
    """Row position of each id in `sorted_ids`, −1 where absent."""
    if sorted_ids.size == 0:
        return np.full(ids.size, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, sorted_ids.size - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1).astype(np.int64)


def _valid(values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return values != INT_NULL


async def _distinct(conn: AsyncConnection, column: Any, *where: Any) -> list[str]:
    """The distinct values of a text column (few: currencies, reason codes)."""
    rows = await conn.execute(select(column).where(*where).distinct())
    return sorted(str(v) for (v,) in rows if v is not None)


async def shop_reasons(conn: AsyncConnection, shop_id: int) -> tuple[ReasonCode, ...]:
    """The shop's reason codes and drivers (latest version of each), defaults included."""
    opt = CancelReasonOption.__table__
    rows = (
        await conn.execute(
            select(opt.c.code, opt.c.driver, opt.c.requires_comment)
            .where(opt.c.shop_id == shop_id)
            .order_by(opt.c.code, opt.c.version)
        )
    ).all()
    latest = {row.code: ReasonCode(row.code, row.driver, row.requires_comment) for row in rows}
    defaults = [r for r in DEFAULT_REASONS if r.code not in latest]
    return (*defaults, *latest.values())


async def answer_window_s(conn: AsyncConnection, shop_id: int) -> int:
    """The shop's cancel answer window in whole seconds (its survey setting)."""
    shop_settings = await conn.scalar(select(Shop.__table__.c.settings).where(Shop.id == shop_id))
    window = survey_settings_from(shop_settings, shop_id).cancel_answer_window
    return int(window.total_seconds())


class _Readers:
    """Connections on one snapshot, each lent to one read at a time: the reads of a load run
    side by side on as many connections as the caller opened (with one, one after another)."""

    def __init__(self, conns: Sequence[AsyncConnection]) -> None:
        self._free: asyncio.Queue[AsyncConnection] = asyncio.Queue()
        for conn in conns:
            self._free.put_nowait(conn)

    async def columns(self, cols: Sequence[Col], *where: Any, **kw: Any) -> list[npt.NDArray[Any]]:
        conn = await self._free.get()
        try:
            return await columns(conn, cols, *where, **kw)
        finally:
            self._free.put_nowait(conn)


async def load_history(
    conn: AsyncConnection,
    shop_id: int,
    calendar_zone: Any,
    cutoff: datetime,
    earliest_cutoff: datetime,
    settings: ValueSettings,
    read_at: datetime,
    deliveries_since: datetime | None = None,
    helpers: Sequence[AsyncConnection] = (),
) -> LoadedShop:
    """The shop's rows known before `cutoff`, with status history for every contract whose
    current state was reached at or after `earliest_cutoff` (the earliest as-of asked for).
    Deliveries only feed the delivery-time driver over a recent window: those fulfilled
    before `deliveries_since` are not read. `helpers`: more connections reading the very
    snapshot `conn` reads (PostgreSQL: imported from it), for the large reads to share."""
    c = Contract.__table__
    k = Cancellation.__table__
    known = (c.c.shop_id == shop_id, c.c.started_at < cutoff)
    ended = (k.c.shop_id == shop_id, k.c.cancelled_at.is_not(None), k.c.cancelled_at < cutoff)
    currencies = await _distinct(conn, c.c.currency, *known)
    reasons = await _distinct(conn, k.c.reason_code, *ended)
    s = Subscriber.__table__
    e = ContractStatusEvent.__table__
    a = BillingAttempt.__table__
    r = NpsResponse.__table__
    i = NpsInvitation.__table__
    ch = ContractChange.__table__
    o = Order.__table__
    needs_history = select(c.c.id).where(*known, c.c.status_at >= earliest_cutoff)
    recent = [o.c.fulfilled_at >= deliveries_since] if deliveries_since is not None else []
    readers = _Readers([conn, *helpers])
    # The largest reads first, so that the connections finish about together.
    (
        (att_con, att_s, att_ok),
        (inv_sub, inv_s, inv_answer_s),
        (ful_s, dlv_s),
        (
            con_id,
            con_sub_id,
            con_status,
            con_status_s,
            con_start_s,
            con_end_s,
            con_currency,
            con_amount,
            con_interval,
            con_interval_count,
            con_plan,
        ),
        (sub_id, customer_id),
        (ev_con, ev_kind, ev_source, ev_s),
        (ans_sub, ans_s, ans_score, ans_vfm),
        (can_con, can_s, can_reason),
        (st_con, st_status, st_s, st_rev),
    ) = await asyncio.gather(
        readers.columns(
            [
                ident(a.c.contract_pk),
                instant(a.c.occurred_at),
                coded(a.c.status, {BillingAttemptStatus.SUCCESS: 1}, 0),
            ],
            a.c.shop_id == shop_id,
            a.c.occurred_at < cutoff,
        ),
        readers.columns(
            [ident(i.c.subscriber_id), instant(i.c.sent_at), instant(r.c.answered_at)],
            i.c.shop_id == shop_id,
            i.c.sent_at.is_not(None),
            i.c.sent_at < cutoff,
            select_from=i.outerjoin(r, (r.c.invitation_id == i.c.id) & (r.c.shop_id == shop_id)),
        ),
        readers.columns(
            [instant(o.c.fulfilled_at), instant(o.c.delivered_at)],
            o.c.shop_id == shop_id,
            o.c.contract_pk.is_not(None),
            o.c.fulfilled_at.is_not(None),
            o.c.fulfilled_at < cutoff,
            *recent,
        ),
        readers.columns(
            [
                ident(c.c.id),
                ident(c.c.subscriber_id),
                coded(c.c.status, STATUS_CODES, ContractStatus.STALE),
                instant(c.c.status_at),
                instant(c.c.started_at),
                instant(c.c.ended_at),
                coded(c.c.currency, {code: n for n, code in enumerate(currencies)}, 0),
                real(c.c.recurring_amount),
                coded(c.c.billing_interval, INTERVAL_CODES, BillingInterval.MONTH),
                ident(c.c.billing_interval_count),
                coded(c.c.plan_name, settings.plan_index(), -1),
            ],
            *known,
            order_by=c.c.id,
        ),
        readers.columns(
            [ident(s.c.id), ident(s.c.customer_id)],
            s.c.shop_id == shop_id,
            s.c.id.in_(select(c.c.subscriber_id).where(*known)),
            order_by=s.c.id,
        ),
        readers.columns(
            [
                ident(ch.c.contract_pk),
                coded(ch.c.kind, EVENT_KINDS, EventKind.OTHER_CHANGE),
                coded(ch.c.source, CHANGE_SOURCES, ChangeSource.UNKNOWN),
                instant(ch.c.occurred_at),
            ],
            ch.c.shop_id == shop_id,
            ch.c.occurred_at < cutoff,
        ),
        readers.columns(
            [
                ident(r.c.subscriber_id),
                instant(r.c.answered_at),
                real(r.c.score),
                real(r.c.value_for_money),
            ],
            r.c.shop_id == shop_id,
            r.c.answered_at < cutoff,
        ),
        readers.columns(
            [
                ident(k.c.contract_pk),
                instant(k.c.cancelled_at),
                coded(k.c.reason_code, {code: n + 1 for n, code in enumerate(reasons)}, 0),
            ],
            *ended,
        ),
        readers.columns(
            [
                ident(e.c.contract_pk),
                coded(e.c.status, STATUS_CODES, ContractStatus.STALE),
                instant(e.c.occurred_at),
                maybe_int(e.c.revision_id),
            ],
            e.c.shop_id == shop_id,
            e.c.occurred_at < cutoff,
            e.c.contract_pk.in_(needs_history),
        ),
    )
    end = int(cutoff.timestamp())
    first = int(con_start_s.min()) if con_start_s.size else end
    cal = LocalCalendar(calendar_zone, min(first, end), end)

    st_rev = np.where(_valid(st_rev), st_rev, 0)
    # Dense rank of (event time, revision): equal keys share a rank, so the status tie-break
    # decides between them, as in the domain.
    by_time = np.lexsort((st_rev, st_s))
    new_key = np.r_[True, (np.diff(st_s[by_time]) != 0) | (np.diff(st_rev[by_time]) != 0)]
    st_order = np.empty(st_s.size, dtype=np.int64)
    st_order[by_time] = np.cumsum(new_key) - 1

    settled_late = np.isin(ev_kind, SETTLED_AFTER_ANSWER_WINDOW)
    if settled_late.any():
        ev_s = np.where(settled_late, ev_s + await answer_window_s(conn, shop_id), ev_s)

    # The subscriber query uses the contracts' own filter, so every contract finds its row.
    con_sub = row_position(con_sub_id, sub_id)
    att_row = row_position(att_con, con_id)
    att_ok_rows = att_row >= 0
    can_row = row_position(can_con, con_id)
    can_ok = can_row >= 0
    ev_row = row_position(ev_con, con_id)
    ev_ok = (ev_row >= 0) & (ev_s < end)
    st_row = row_position(st_con, con_id)
    st_ok = st_row >= 0
    # Answers and invitations of people with no contract before the cut-off are not scored.
    ans_row = row_position(ans_sub, sub_id)
    ans_ok = ans_row >= 0
    inv_row = row_position(inv_sub, sub_id)
    inv_ok = inv_row >= 0
    has_end = _valid(con_end_s)
    inv_answered = _valid(inv_answer_s)
    reason_names = np.array(["", *reasons], dtype=str)
    currency_names = np.array(currencies or ["USD"], dtype=str)
    history = ShopHistory(
        sub_id=sub_id,
        customer_id=customer_id,
        con_id=con_id,
        con_sub=con_sub,
        con_status=con_status.astype(np.int8),
        con_status_day=cal.days(con_status_s),
        con_start_day=cal.days(con_start_s),
        con_end_day=np.where(has_end, cal.days(con_end_s), NO_DAY),
        con_currency=currency_names[con_currency],
        con_amount=np.nan_to_num(con_amount, nan=0.0),
        con_amount_known=~np.isnan(con_amount),
        con_interval=con_interval.astype(np.int8),
        con_interval_count=np.maximum(con_interval_count, 1),
        con_plan=con_plan,
        st_contract=st_row[st_ok],
        st_status=st_status[st_ok].astype(np.int8),
        st_day=cal.days(st_s)[st_ok],
        st_order=st_order[st_ok],
        att_contract=att_row[att_ok_rows],
        att_day=cal.days(att_s)[att_ok_rows],
        att_ok=att_ok[att_ok_rows].astype(bool),
        ans_sub=ans_row[ans_ok],
        ans_day=cal.days(ans_s)[ans_ok],
        ans_score=ans_score[ans_ok],
        ans_vfm=ans_vfm[ans_ok],
        inv_sub=inv_row[inv_ok],
        inv_day=cal.days(inv_s)[inv_ok],
        inv_answer_day=np.where(inv_answered, cal.days(inv_answer_s), NO_DAY)[inv_ok],
        can_contract=can_row[can_ok],
        can_day=cal.days(can_s)[can_ok],
        can_reason=reason_names[can_reason[can_ok]],
        ev_sub=con_sub[ev_row[ev_ok]],
        ev_day=cal.days(ev_s)[ev_ok],
        ev_kind=ev_kind[ev_ok].astype(np.int8),
        ev_source=ev_source[ev_ok].astype(np.int8),
        del_fulfilled=cal.seconds(ful_s),
        del_delivered=cal.seconds(dlv_s, _valid(dlv_s)),
        plans=settings.plans,
    )
    return LoadedShop(history, await shop_reasons(conn, shop_id), read_at)
