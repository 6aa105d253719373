"""MRR, ARPU and revenue at risk, per currency (docs/metrics.md: "MRR", "ARPU", "revenue at
risk")."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from plugin.value.codes import ContractStatus
from plugin.value.money import PerCurrency, monthly_factor, sum_by_currency


def contract_mrr(
    amount: npt.ArrayLike,
    interval: npt.ArrayLike,
    interval_count: npt.ArrayLike,
    status: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Monthly recurring revenue of each contract.

    docs/metrics.md MRR: recurring line amount × 30.4375 / billing interval in days, for active
    contracts only; a paused contract counts $0 (it is shown separately, not as churn).
    `amount` must already exclude tax, shipping and one-off discounts.
    """
    amount = np.asarray(amount, dtype=np.float64)
    active = np.asarray(status) == ContractStatus.ACTIVE
    out = np.zeros_like(amount)
    if active.any():
        interval = np.asarray(interval)
        count = np.asarray(interval_count)
        out[active] = amount[active] * monthly_factor(interval[active], count[active])
    return out


def mrr_by_currency(
    amount: npt.ArrayLike,
    currency: npt.ArrayLike,
    interval: npt.ArrayLike,
    interval_count: npt.ArrayLike,
    status: npt.ArrayLike,
) -> PerCurrency:
    """Shop MRR per currency: sum of `contract_mrr` over active contracts (docs/metrics.md).

    A currency whose contracts are all paused is listed with 0, so the merchant sees that
    revenue is paused rather than gone.
    """
    codes = np.asarray(status)
    per_contract = contract_mrr(amount, interval, interval_count, codes)
    live = (codes == ContractStatus.ACTIVE) | (codes == ContractStatus.PAUSED)
    return sum_by_currency(per_contract, currency, live)


def active_subscribers_by_currency(
    subscriber: npt.ArrayLike, currency: npt.ArrayLike, status: npt.ArrayLike
) -> dict[str, int]:
    """Distinct subscribers with at least one active contract, per contract currency.

    A subscriber holding two active contracts in one currency counts once there.
    """
    active = np.asarray(status) == ContractStatus.ACTIVE
    subs = np.asarray(subscriber)[active]
    curr = np.asarray(currency)[active]
    if subs.size == 0:
        return {}
    codes, inverse = np.unique(curr, return_inverse=True)
    pairs = np.unique(subs.astype(np.int64) * codes.size + inverse.ravel())
    counts = np.bincount(pairs % codes.size, minlength=codes.size)
    return {str(c): int(n) for c, n in zip(codes, counts, strict=True)}


def arpu_by_currency(
    mrr: PerCurrency, active_subscribers: dict[str, int]
) -> dict[str, float | None]:
    """ARPU = MRR / active subscribers (docs/metrics.md), per currency.

    The divisor is the subscribers active in that currency so a second currency does not
    dilute the first; None when a currency has no active subscriber.
    """
    out: dict[str, float | None] = {}
    for code in sorted(set(mrr) | set(active_subscribers)):
        n = active_subscribers.get(code, 0)
        out[code] = mrr.get(code, 0.0) / n if n > 0 else None
    return out


def revenue_at_risk(
    contract_monthly: npt.ArrayLike,
    currency: npt.ArrayLike,
    subscriber: npt.ArrayLike,
    high_risk_subscriber: npt.ArrayLike,
) -> PerCurrency:
    """MRR of high-risk subscribers, per currency (docs/metrics.md "revenue at risk").

    Summed over contracts (not subscribers) so each contract's MRR stays in its own currency.
    """
    high = np.asarray(high_risk_subscriber, dtype=bool)
    subs = np.asarray(subscriber, dtype=np.int64)
    monthly = np.asarray(contract_monthly, dtype=np.float64)
    at_risk = high[subs] & (monthly > 0)
    total = sum_by_currency(monthly, currency, at_risk)
    # Currencies with live revenue but nobody at risk report 0 rather than disappearing.
    for code in sum_by_currency(monthly, currency, monthly > 0):
        total.setdefault(code, 0.0)
    return total
