"""The monthly value review pack: what a review meeting reads, as data (docs/design.md §1).

Every figure is a `Row`: this month's value, the previous month's, and the test that may call
the change real. Renderers (plugin.review.render) only format what is here; the "what
changed" list is computed from the rows (plugin.review.changes), never written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Unit = Literal["share", "points", "money", "days", "count", "score"]


class ReviewError(Exception):
    """The pack cannot be built as asked; the message is for the merchant."""


class ReviewNotAvailable(ReviewError):
    """No snapshot for that month (the shop was not scored then, or not installed yet)."""


@dataclass(frozen=True)
class ChangeTest:
    """A significance test of the change from the previous value.

    kind: "nps" (adjusted-Wald two-sample z test) or "proportion" (pooled two-proportion z).
    real: p < 0.05 with enough data; `reason` says why not otherwise.
    """

    kind: str
    z: float | None
    p_value: float | None
    real: bool
    reason: str | None


@dataclass(frozen=True)
class Row:
    """One metric. `metric` is a stable key (the document path, or a derived one such as
    `cancel_reasons.too_expensive.share`); `previous` is the previous month's value, or for a
    cohort shift the earlier cohorts' baseline (said in `note`). `n`: the observations behind
    `value` where it is a sample (answers, attempts, a cohort's subscribers)."""

    metric: str
    label: str
    unit: Unit
    value: float | None
    previous: float | None = None
    note: str | None = None
    test: ChangeTest | None = None
    currency: str | None = None
    n: int | None = None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class InitiativeItem:
    """An initiative as the review lists it, with its measured effect as of the month's end."""

    id: int
    title: str
    hypothesis: str
    driver: str
    owner: str
    status: str
    target_metric: str
    target_label: str
    unit: Unit
    expected_direction: str
    expected_change: float
    starts_on: date | None
    ends_on: date | None
    window_days: int
    before: float | None
    after: float | None
    effect_change: float | None
    verdict: str
    verdict_reason: str | None
    p_value: float | None
    as_expected: bool | None


@dataclass(frozen=True)
class ReviewPack:
    shop: str
    month: str  # YYYY-MM
    as_of: date | None  # the day the month's figures describe (its last day once it is over)
    previous_month: str | None  # None when there is no snapshot of the month before
    window: tuple[date, date] | None  # what the windowed figures cover
    currency: str | None
    sections: tuple[Section, ...]
    initiatives: tuple[InitiativeItem, ...]
    changes: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
