"""Two-proportion z test: did a rate (billing success, churn, capture …) really change?

The pooled two-sample z test for proportions (e.g. Agresti, "An Introduction to Categorical
Data Analysis", 3rd ed., §2.1; NIST/SEMATECH e-Handbook 7.3.3):
    p = (x1 + x2) / (n1 + n2),  z = (x2/n2 − x1/n1) / sqrt(p (1 − p) (1/n1 + 1/n2)),
two-sided p-value 2·(1 − Φ(|z|)). The normal approximation is trusted only when every cell
(successes and failures of both samples) holds at least `MIN_CELL` observations; below that
the difference is still reported but never called real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

MIN_CELL = 5


@dataclass(frozen=True)
class ProportionComparison:
    """Change from `before` to `after` (after − before, as a share).

    difference: None when a sample is empty. z, p_value: None when the test cannot run
    (an empty sample, or no variation at all). real_change: p < alpha with every cell large
    enough; `reason` says why not otherwise.
    """

    before: float | None
    after: float | None
    difference: float | None
    z: float | None
    p_value: float | None
    real_change: bool
    reason: str | None


def compare_proportions(
    x_before: int, n_before: int, x_after: int, n_after: int, alpha: float = 0.05
) -> ProportionComparison:
    """Pooled two-proportion z test of x_after/n_after against x_before/n_before."""
    for name, x, n in (("before", x_before, n_before), ("after", x_after, n_after)):
        if n < 0 or x < 0 or x > n:
            raise ValueError(f"{name}: need 0 <= x <= n, got x={x}, n={n}")
    before = x_before / n_before if n_before else None
    after = x_after / n_after if n_after else None
    if before is None or after is None:
        return ProportionComparison(
            before, after, None, None, None, False, "a period has no observations"
        )
    difference = after - before
    pooled = (x_before + x_after) / (n_before + n_after)
    variance = pooled * (1.0 - pooled) * (1.0 / n_before + 1.0 / n_after)
    if variance == 0.0:
        return ProportionComparison(
            before, after, difference, None, None, False, "no variation in either period"
        )
    z = difference / math.sqrt(variance)
    p_value = float(2.0 * norm.sf(abs(z)))
    smallest = min(x_before, n_before - x_before, x_after, n_after - x_after)
    if smallest < MIN_CELL:
        too_few = f"too few observations to test (a cell has {smallest} < {MIN_CELL})"
        return ProportionComparison(before, after, difference, z, p_value, False, too_few)
    real = p_value < alpha
    reason = None if real else f"not significant (p = {p_value:.3f} ≥ {alpha})"
    return ProportionComparison(before, after, difference, z, p_value, real, reason)
