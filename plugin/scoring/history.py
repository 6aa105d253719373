"""A shop's history as column arrays, and the engine's inputs as of any day in it.

`loaders.load_history` fills a `ShopHistory` once per recompute with set-based SQL; this
module turns it into `ShopInputs` for one as-of day without touching the database again, so
the latest figures and any month-end snapshot (for reviews and trends) come from one load.

Days are local day numbers (days since 1970-01-01 in the shop's timezone); `NO_DAY` marks
"never" and compares after every real day. A row is known at as-of day D when its day ≤ D.
A contract's status at D is its current row when that state was reached by D, else it is
rebuilt from the status history (the latest entry by D; an ended contract ended with the
first ending after its last non-ended entry, as `plugin.domain.contracts.settle` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plugin.value import (
    AnswerColumns,
    BillingAttemptColumns,
    CancellationColumns,
    ContractColumns,
    ContractStatus,
    DeliveryColumns,
    EndSource,
    EventColumns,
    InvitationColumns,
    PlanValueModel,
    ShopInputs,
    SubscriberColumns,
)
from plugin.value.reasons import end_source_for_reason

NO_DAY = np.iinfo(np.int64).max
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
S = npt.NDArray[np.str_]

_LIVE = np.array([ContractStatus.ACTIVE, ContractStatus.PAUSED], dtype=np.int8)
_ENDED = np.array(
    [ContractStatus.CANCELLED, ContractStatus.EXPIRED, ContractStatus.FAILED], dtype=np.int8
)
# Same-instant tie-break as the domain: an ending beats a pause, which beats being active.
_TIE_RANK = np.zeros(max(ContractStatus) + 1, dtype=np.int64)
for _status, _rank in (
    (ContractStatus.ACTIVE, 0),
    (ContractStatus.STALE, 1),
    (ContractStatus.PAUSED, 2),
    (ContractStatus.FAILED, 3),
    (ContractStatus.EXPIRED, 4),
    (ContractStatus.CANCELLED, 5),
):
    _TIE_RANK[_status] = _rank


@dataclass(frozen=True)
class ShopHistory:
    """One shop's rows, as arrays. Row references are positions (contract.sub → subscriber
    row, attempt.contract → contract row, …), as in `plugin.value.inputs`.

    subscribers: `sub_id` (database id, ascending) and `customer_id`.
    contracts (database id ascending): current status code, the day that state was reached,
        start and end days, currency, recurring amount (0 where unknown: `con_amount_known`),
        interval code and count, plan index (−1 without a value model).
    status history (`st_*`): entries of the contracts whose current state is newer than the
        earliest as-of asked for; `st_order` is a total order key within a contract.
    the rest: one row per billing attempt, NPS answer, sent invitation, cancellation,
        behaviour event and fulfilled subscription order.
    """

    sub_id: I64
    customer_id: I64
    con_id: I64
    con_sub: I64
    con_status: I8
    con_status_day: I64
    con_start_day: I64
    con_end_day: I64
    con_currency: S
    con_amount: F64
    con_amount_known: B
    con_interval: I8
    con_interval_count: I64
    con_plan: I64
    st_contract: I64
    st_status: I8
    st_day: I64
    st_order: I64
    att_contract: I64
    att_day: I64
    att_ok: B
    ans_sub: I64
    ans_day: I64
    ans_score: F64
    ans_vfm: F64
    inv_sub: I64
    inv_day: I64
    inv_answer_day: I64
    can_contract: I64
    can_day: I64
    can_reason: S
    ev_sub: I64
    ev_day: I64
    ev_kind: I8
    ev_source: I8
    del_fulfilled: npt.NDArray[np.datetime64]
    del_delivered: npt.NDArray[np.datetime64]
    plans: tuple[PlanValueModel, ...] = ()

    @property
    def first_day(self) -> int | None:
        """Day the shop's first contract started (None without contracts)."""
        return int(self.con_start_day.min()) if self.con_start_day.size else None


@dataclass(frozen=True)
class InputsAsOf:
    """The engine's inputs at one day, and the database ids of its subscriber rows."""

    inputs: ShopInputs
    subscriber_ids: I64
    contracts_without_amount: int


def _days(values: I64) -> npt.NDArray[np.datetime64]:
    out = values.astype("datetime64[D]")
    out[values == NO_DAY] = np.datetime64("NaT")
    return out


def _status_at(h: ShopHistory, day: int, rows: I64) -> tuple[I8, I64]:
    """Status code and end day at `day` of contract rows `rows` whose current state came later."""
    status = np.full(rows.size, ContractStatus.ACTIVE, dtype=np.int8)
    end = np.full(rows.size, NO_DAY, dtype=np.int64)
    if rows.size == 0:
        return status, end
    known = (h.st_day <= day) & np.isin(h.st_contract, rows)
    c, s, o = h.st_contract[known], h.st_status[known], h.st_order[known]
    order = np.lexsort((_TIE_RANK[s], o, c))
    c, s, d = c[order], s[order], h.st_day[known][order]
    if c.size == 0:
        return status, end
    last = np.r_[c[1:] != c[:-1], True]
    pos = np.searchsorted(rows, c[last])
    status[pos] = s[last]
    # The ending that ended it: the first entry after the contract's last non-ended entry.
    ended = np.isin(s, _ENDED)
    idx = np.arange(c.size)
    group_first = np.maximum.accumulate(np.where(np.r_[True, c[1:] != c[:-1]], idx, 0))
    last_live = np.maximum.accumulate(np.where(~ended, idx, -1))
    tail = np.flatnonzero(last)
    run_start = np.where(
        last_live[tail] < group_first[tail], group_first[tail], last_live[tail] + 1
    )
    ended_now = ended[tail]
    end[pos[ended_now]] = d[run_start[ended_now]]
    return status, end


def inputs_as_of(h: ShopHistory, day: int) -> InputsAsOf:
    """The engine's inputs for local day `day`: rows known by the end of that day only."""
    c_in = np.flatnonzero(h.con_start_day <= day)
    status = h.con_status[c_in].copy()
    end_day = h.con_end_day[c_in].copy()
    later = h.con_status_day[c_in] > day
    if later.any():
        st, en = _status_at(h, day, c_in[later])
        status[later] = st
        end_day[later] = en
    live = np.isin(status, _LIVE)
    end_day[live] = NO_DAY
    # Stale contracts are not billing; the engine needs an end day for every non-live status.
    missing_end = ~live & (end_day == NO_DAY)
    end_day[missing_end] = np.minimum(h.con_status_day[c_in][missing_end], day)

    con_pos = np.full(h.con_id.size, -1, dtype=np.int64)
    con_pos[c_in] = np.arange(c_in.size)
    # Sorted distinct positions without a sort: the subscribers holding a known contract.
    used = np.zeros(h.sub_id.size, dtype=bool)
    used[h.con_sub[c_in]] = True
    subs_used = np.flatnonzero(used)
    sub_pos = np.full(h.sub_id.size, -1, dtype=np.int64)
    sub_pos[subs_used] = np.arange(subs_used.size)

    # Churn source: the customer's or system reason of a cancellation known by `day`, else
    # what the status says (a failed contract is a billing failure, an expiry an expiry).
    end_source = np.full(c_in.size, EndSource.NONE, dtype=np.int8)
    ended = ~live
    end_source[ended] = EndSource.UNKNOWN
    end_source[ended & (status == ContractStatus.FAILED)] = EndSource.INVOLUNTARY
    end_source[ended & (status == ContractStatus.EXPIRED)] = EndSource.EXPIRED
    can_known = (h.can_day <= day) & (con_pos[h.can_contract] >= 0)
    can_rows = con_pos[h.can_contract[can_known]]
    can_reason = h.can_reason[can_known]
    if can_rows.size:
        codes, inverse = np.unique(can_reason, return_inverse=True)
        by_code = np.array([end_source_for_reason(str(code)) for code in codes], dtype=np.int8)
        source_of_row = by_code[inverse.ravel()]
        use = ended[can_rows]
        end_source[can_rows[use]] = source_of_row[use]

    contracts = ContractColumns(
        subscriber=sub_pos[h.con_sub[c_in]],
        status=status,
        currency=h.con_currency[c_in],
        amount=h.con_amount[c_in],
        interval=h.con_interval[c_in],
        interval_count=h.con_interval_count[c_in],
        started_on=_days(h.con_start_day[c_in]),
        ended_on=_days(end_day),
        end_source=end_source,
        plan=h.con_plan[c_in],
    )

    att = (h.att_day <= day) & (con_pos[h.att_contract] >= 0)
    attempts = BillingAttemptColumns(
        contract=con_pos[h.att_contract[att]],
        attempted_on=_days(h.att_day[att]),
        succeeded=h.att_ok[att],
    )
    ans = (h.ans_day <= day) & (sub_pos[h.ans_sub] >= 0)
    answers = AnswerColumns(
        subscriber=sub_pos[h.ans_sub[ans]],
        answered_on=_days(h.ans_day[ans]),
        score=h.ans_score[ans],
        value_for_money=h.ans_vfm[ans],
    )
    inv = (h.inv_day <= day) & (sub_pos[h.inv_sub] >= 0)
    invitations = InvitationColumns(
        subscriber=sub_pos[h.inv_sub[inv]],
        invited_on=_days(h.inv_day[inv]),
        answered=h.inv_answer_day[inv] <= day,
    )
    cancellations = CancellationColumns(
        contract=can_rows, cancelled_on=_days(h.can_day[can_known]), reason=can_reason
    )
    ev = (h.ev_day <= day) & (sub_pos[h.ev_sub] >= 0)
    events = EventColumns(
        subscriber=sub_pos[h.ev_sub[ev]],
        occurred_on=_days(h.ev_day[ev]),
        kind=h.ev_kind[ev],
        source=h.ev_source[ev],
    )
    fulfilled_day = h.del_fulfilled.astype("datetime64[D]").astype(np.int64)
    dl = fulfilled_day <= day
    delivered = h.del_delivered[dl].copy()
    delivered[delivered.astype("datetime64[D]").astype(np.int64) > day] = np.datetime64("NaT")
    deliveries = DeliveryColumns(fulfilled_at=h.del_fulfilled[dl], delivered_at=delivered)

    inputs = ShopInputs(
        subscribers=SubscriberColumns(customer_id=h.customer_id[subs_used]),
        contracts=contracts,
        billing_attempts=attempts,
        answers=answers,
        invitations=invitations,
        cancellations=cancellations,
        events=events,
        deliveries=deliveries,
        plans=h.plans,
    )
    unknown_amount = int((~h.con_amount_known[c_in] & (status == ContractStatus.ACTIVE)).sum())
    return InputsAsOf(inputs, h.sub_id[subs_used], unknown_amount)
