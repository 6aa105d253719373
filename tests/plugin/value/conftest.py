"""Shared test data for the value engine: a vectorised synthetic shop generator."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from plugin.value import (
    AnswerColumns,
    BillingAttemptColumns,
    BillingInterval,
    CancellationColumns,
    ChangeSource,
    ContractColumns,
    ContractStatus,
    DeliveryColumns,
    EndSource,
    EventColumns,
    EventKind,
    InvitationColumns,
    PlanValueModel,
    ShopInputs,
    SubscriberColumns,
)

AS_OF = date(2025, 6, 30)
_REASONS = np.array(
    [
        "too_expensive",
        "too_much_product",
        "deliveries_too_often",
        "product_not_liked",
        "no_longer_needed",
        "taking_a_break",
        "budget",
        "switching_brand",
    ]
)


def make_shop(n: int, months: int = 24, seed: int = 0, as_of: date = AS_OF) -> ShopInputs:
    """A shop with `n` subscribers and `months` of history; churn follows an sBG process
    (θ ~ Beta(0.8, 4) per renewal) and behaviour events cluster before churn so a risk
    model has something to learn. Built with numpy only (no Python loop over rows)."""
    rng = np.random.default_rng(seed)
    today = np.datetime64(as_of, "D")
    start = today - rng.integers(0, months * 30, n).astype("timedelta64[D]")
    kind = rng.choice(4, n, p=[0.80, 0.10, 0.07, 0.03])
    interval = np.array(
        [BillingInterval.MONTH, BillingInterval.WEEK, BillingInterval.MONTH, BillingInterval.YEAR]
    )[kind]
    count = np.array([1, 2, 2, 1])[kind]
    period = np.array([30, 14, 61, 365])[kind]
    theta = rng.beta(0.8, 4.0, n)
    lifetime = rng.geometric(np.clip(theta, 1e-3, 1.0))  # churn period T ≥ 1
    end = start + (lifetime * period).astype("timedelta64[D]")
    ended = end <= today
    renewals = np.where(ended, lifetime - 1, (today - start).astype(np.int64) // period)
    status = np.where(ended, ContractStatus.CANCELLED, ContractStatus.ACTIVE)
    paused = ~ended & (rng.random(n) < 0.05)
    status[paused] = ContractStatus.PAUSED
    source = np.where(
        ended, rng.choice([1, 2, 3, 4], n, p=[0.7, 0.2, 0.05, 0.05]), EndSource.NONE
    ).astype(np.int8)
    status[ended & (source == EndSource.INVOLUNTARY)] = ContractStatus.FAILED
    status[ended & (source == EndSource.EXPIRED)] = ContractStatus.EXPIRED
    currency = np.where(rng.random(n) < 0.1, "EUR", "USD")
    amount = np.round(rng.choice([19.0, 29.0, 39.0, 59.0], n) * count, 2)
    plan = rng.choice([-1, 0, 1], n, p=[0.2, 0.5, 0.3])
    contracts = ContractColumns(
        subscriber=np.arange(n),
        status=status,
        currency=currency,
        amount=amount,
        interval=interval,
        interval_count=count,
        started_on=start,
        ended_on=np.where(ended, end, np.datetime64("NaT")),
        end_source=source,
        plan=plan,
    )

    # Billing attempts: one success per renewal, failures before involuntary ends.
    a_contract = np.repeat(np.arange(n), renewals)
    k = np.arange(a_contract.size) - np.repeat(np.cumsum(renewals) - renewals, renewals) + 1
    a_on = start[a_contract] + (k * period[a_contract]).astype("timedelta64[D]")
    invol = np.flatnonzero(ended & (source == EndSource.INVOLUNTARY))
    f_contract = np.repeat(invol, 2)
    f_on = end[f_contract] - np.tile([7, 2], invol.size).astype("timedelta64[D]")
    attempts = BillingAttemptColumns(
        contract=np.r_[a_contract, f_contract],
        attempted_on=np.r_[a_on, f_on],
        succeeded=np.r_[np.ones(a_contract.size, bool), np.zeros(f_contract.size, bool)],
    )

    # Behaviour: background noise for everyone, plus a burst before each churn.
    m = 2 * n
    e_sub = rng.integers(0, n, m)
    e_on = start[e_sub] + rng.integers(0, months * 30, m).astype("timedelta64[D]")
    e_kind = rng.choice(
        [EventKind.SKIP, EventKind.PAUSE, EventKind.FREQUENCY_CHANGE, EventKind.DELAY],
        m,
        p=[0.5, 0.1, 0.2, 0.2],
    )
    churners = np.flatnonzero(ended)
    pre = churners[rng.random(churners.size) < 0.6]
    p_on = end[pre] - rng.integers(3, 40, pre.size).astype("timedelta64[D]")
    p_kind = rng.choice([EventKind.CANCEL_ATTEMPT, EventKind.SKIP, EventKind.PAUSE], pre.size)
    ev_sub = np.r_[e_sub, pre]
    ev_on = np.r_[e_on, p_on]
    keep = ev_on <= today
    events = EventColumns(
        subscriber=ev_sub[keep],
        occurred_on=ev_on[keep],
        kind=np.r_[e_kind, p_kind][keep],
        source=rng.choice(
            [ChangeSource.SUBSCRIBER, ChangeSource.MERCHANT, ChangeSource.UNKNOWN],
            keep.sum(),
            p=[0.6, 0.3, 0.1],
        ),
    )

    # NPS: a third answered once; churners lean detractor.
    who = np.flatnonzero(rng.random(n) < 0.35)
    span_days = np.maximum((np.minimum(end[who], today) - start[who]).astype(np.int64), 1)
    ans_on = start[who] + (rng.random(who.size) * span_days).astype("timedelta64[D]")
    base = np.where(ended[who], rng.integers(0, 9, who.size), rng.integers(5, 11, who.size))
    vfm = np.where(rng.random(who.size) < 0.7, np.clip(np.round(base / 2.2), 1, 5), np.nan)
    answers = AnswerColumns(subscriber=who, answered_on=ans_on, score=base, value_for_money=vfm)
    inv_sub = np.r_[who, rng.integers(0, n, who.size)]
    inv_on = np.r_[ans_on - np.timedelta64(2, "D"), start[inv_sub[who.size :]]]
    invitations = InvitationColumns(
        subscriber=inv_sub,
        invited_on=inv_on,
        answered=np.r_[np.ones(who.size, bool), np.zeros(who.size, bool)],
    )

    vol = np.flatnonzero(ended & (source == EndSource.VOLUNTARY))
    captured = rng.random(vol.size) < 0.7
    reason = np.where(captured, rng.choice(_REASONS, vol.size), "unknown")
    others = np.flatnonzero(ended & (source != EndSource.VOLUNTARY))
    sys_reason = np.array(["", "", "payment_failed", "merchant_cancelled", "expired", "unknown"])
    cancellations = CancellationColumns(
        contract=np.r_[vol, others],
        cancelled_on=np.r_[end[vol], end[others]],
        reason=np.r_[reason, sys_reason[source[others]]],
    )

    shipped = a_on[rng.random(a_on.size) < 0.2]
    fulfilled = shipped.astype("datetime64[s]") + np.timedelta64(10, "h")
    delivered = fulfilled + (rng.integers(24, 150, shipped.size) * 3600).astype("timedelta64[s]")
    deliveries = DeliveryColumns(fulfilled_at=fulfilled, delivered_at=delivered)

    plans = (
        PlanValueModel(
            "coffee-monthly",
            "USD",
            price=29.0,
            one_time_price=34.0,
            shipping_included=5.0,
            perks=1.0,
        ),
        PlanValueModel(
            "coffee-premium",
            "USD",
            price=39.0,
            one_time_price=44.0,
            shipping_included=5.0,
            time_saved=2.0,
        ),
    )
    return ShopInputs(
        subscribers=SubscriberColumns(customer_id=np.arange(n) + 10_000),
        contracts=contracts,
        billing_attempts=attempts,
        answers=answers,
        invitations=invitations,
        cancellations=cancellations,
        events=events,
        deliveries=deliveries,
        plans=plans,
    )


@pytest.fixture(scope="session")
def synthetic_shop_20k() -> ShopInputs:
    return make_shop(20_000, seed=7)
