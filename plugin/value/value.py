"""Money value of subscribers: expected residual value, predicted LTV and the customer value
model (docs/metrics.md "Expected residual value", "Value to the customer").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def expected_residual_value(
    amount: npt.ArrayLike, margin: float, derl: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Expected residual value = recurring amount per cycle × margin × DERL (docs/metrics.md).

    DERL counts expected discounted future payments, so multiplying by the per-cycle margin
    gives the present value of what the subscriber is still expected to bring.
    """
    if not 0.0 <= margin <= 1.0:
        raise ValueError("margin is a share between 0 and 1")
    return np.asarray(amount, dtype=np.float64) * margin * np.asarray(derl, dtype=np.float64)


def predicted_ltv(
    amount: npt.ArrayLike, margin: float, del_value: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Predicted LTV of a new subscriber = amount × margin × DEL (docs/metrics.md)."""
    if not 0.0 <= margin <= 1.0:
        raise ValueError("margin is a share between 0 and 1")
    return np.asarray(amount, dtype=np.float64) * margin * np.asarray(del_value, dtype=np.float64)


@dataclass(frozen=True)
class PlanValueModel:
    """The merchant's customer value model for one plan, all money per billing cycle.

    price: what the subscriber pays per cycle.
    one_time_price: what the same goods cost as a one-time purchase (the saving vs the
        one-time price is one_time_price − price).
    shipping_included: shipping the subscriber would otherwise pay.
    perks: money value of perks (gifts, members-only items).
    time_saved: money value of the time the subscription saves.
    """

    plan_id: str
    currency: str
    price: float
    one_time_price: float
    shipping_included: float = 0.0
    perks: float = 0.0
    time_saved: float = 0.0

    @property
    def benefits(self) -> float:
        """Benefits in money per cycle: the goods at their one-time price plus the extras."""
        return self.one_time_price + self.shipping_included + self.perks + self.time_saved

    @property
    def value_per_cycle(self) -> float:
        """Value to the customer per cycle = benefits − price (docs/design.md §1, docs/metrics.md).

        Equals saving vs one-time price + shipping included + perks + time saved.
        """
        return self.benefits - self.price


def customer_value(
    plan_index: npt.ArrayLike, cycles_paid: npt.ArrayLike, plans: Sequence[PlanValueModel]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(value per cycle, cumulated value) per subscriber from their plan's value model.

    plan_index: index into `plans`, −1 when the subscriber's plan has no value model (NaN
    out: not modelled is not the same as zero value). Cumulated value = value per cycle ×
    cycles paid.
    """
    idx = np.asarray(plan_index, dtype=np.int64)
    cycles = np.asarray(cycles_paid, dtype=np.float64)
    table = np.array([p.value_per_cycle for p in plans] + [np.nan], dtype=np.float64)
    if idx.size and idx.max() >= len(plans):
        raise ValueError("plan_index out of range")
    per_cycle = table[np.where(idx < 0, len(plans), idx)]
    return per_cycle, per_cycle * cycles
