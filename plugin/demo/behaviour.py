"""How demo subscribers behave and answer: latent traits and the answers they lead to.

Each subscriber gets hidden traits when they sign up: a per-cycle churn propensity (Beta
distributed across the base, so the shifted-beta-geometric model has real heterogeneity to
find), a satisfaction level that is negatively correlated with that propensity (so detractors
churn more) and one latent cause of dissatisfaction. The cause shapes behaviour (cadence-bothered
subscribers skip, price-sensitive ones have more failed payments) and the reason they give when
they cancel, so the reason mix in the app reflects something true about the simulated shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Latent causes with their share of the base and the reasons such a subscriber gives.
CAUSE_SHARES: dict[str, float] = {
    "price": 0.24,
    "cadence": 0.20,
    "product": 0.16,
    "life": 0.20,
    "shipping": 0.07,
    "competition": 0.06,
    "service": 0.04,
    "other": 0.03,
}
CAUSE_REASONS: dict[str, dict[str, float]] = {
    "price": {"too_expensive": 0.75, "budget": 0.25},
    "cadence": {"too_much_product": 0.55, "deliveries_too_often": 0.45},
    "product": {"product_not_liked": 0.6, "product_quality": 0.4},
    "life": {"no_longer_needed": 0.5, "taking_a_break": 0.35, "budget": 0.15},
    "shipping": {"shipping_problems": 1.0},
    "competition": {"switching_brand": 1.0},
    "service": {"customer_service": 1.0},
    "other": {"other": 1.0},
}
# Share of answers that do not match the latent cause: people are not perfectly consistent.
REASON_NOISE = 0.10
ALL_REASONS: tuple[str, ...] = tuple(sorted({r for mix in CAUSE_REASONS.values() for r in mix}))

CANCEL_COMMENTS: dict[str, tuple[str, ...]] = {
    "too_expensive": ("Found a cheaper roaster nearby.", "Price went up too much for me."),
    "budget": ("Cutting back on spending for now.",),
    "too_much_product": ("Bags pile up in the cupboard.", "We can't drink it fast enough."),
    "deliveries_too_often": ("Every month is too often for us.",),
    "product_not_liked": ("Too dark a roast for my taste.", "Didn't enjoy the last two origins."),
    "product_quality": ("Beans arrived stale.", "The last bag tasted burnt."),
    "shipping_problems": ("Parcel arrived late twice.", "Box was damaged in transit."),
    "customer_service": ("Nobody answered my email about a missing bag.",),
    "switching_brand": ("Trying another subscription a friend recommended.",),
    "no_longer_needed": ("Bought an espresso machine with pods.",),
    "taking_a_break": ("Travelling for a few months.",),
    "other": ("Moving abroad.", "Gift subscription ended.", "Doctor told me to cut caffeine."),
}
NPS_COMMENTS: dict[str, tuple[str, ...]] = {
    "promoter": ("Best coffee I've had at home.", "Love the tasting notes card.", "Great value."),
    "passive": ("Good coffee, a bit pricey.", "Fine, nothing special lately."),
    "detractor": (
        "Delivery took forever.",
        "Not worth the money.",
        "Last roast was disappointing.",
    ),
}
CHANNELS: tuple[str, ...] = ("proxy", "extension", "link")
CHANNEL_SHARES: tuple[float, ...] = (0.45, 0.2, 0.35)


@dataclass(frozen=True, slots=True)
class Persona:
    """A demo subscriber's hidden traits (never stored; they drive the simulation only)."""

    customer_id: int
    churn_propensity: float  # per billing cycle, before the order-number shape
    satisfaction: float  # standard normal scale; higher answers higher NPS
    cause: str  # latent cause of dissatisfaction: a key of CAUSE_SHARES
    survey_propensity: float  # chance of answering an NPS invitation
    reason_propensity: float  # chance of giving a reason when cancelling

    @property
    def price_sensitive(self) -> bool:
        return self.cause == "price"


@dataclass(frozen=True, slots=True)
class NpsAnswer:
    score: int
    value_for_money: int | None
    comment: str | None
    channel: str
    delay_hours: float  # after the invitation is released


@dataclass(frozen=True, slots=True)
class CancelReason:
    reason: str
    comment: str | None
    channel: str


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    weights = np.fromiter(options.values(), float, len(keys))
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _channel(rng: np.random.Generator) -> str:
    return CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_SHARES))]


def cancel_reason(persona: Persona, rng: np.random.Generator) -> CancelReason:
    """The reason this subscriber gives when cancelling in the portal."""
    if rng.random() < REASON_NOISE:
        reason = ALL_REASONS[int(rng.integers(len(ALL_REASONS)))]
    else:
        reason = _pick(rng, CAUSE_REASONS[persona.cause])
    comment = None
    # "other" requires a comment; otherwise about one in four adds one.
    if reason == "other" or rng.random() < 0.25:
        phrases = CANCEL_COMMENTS[reason]
        comment = phrases[int(rng.integers(len(phrases)))]
    channel = "proxy" if rng.random() < 0.7 else "extension"
    return CancelReason(reason, comment, channel)


def nps_answer(
    persona: Persona, rng: np.random.Generator, *, delivery_days: float | None
) -> NpsAnswer | None:
    """This subscriber's answer to an NPS invitation, or None when they ignore it.

    The score follows latent satisfaction; a slow delivery (5+ days) costs about a point, more
    for subscribers whose latent cause is shipping. Value for money is lower for price-sensitive
    subscribers. Answers come within hours to a few days of the invitation.
    """
    if rng.random() >= persona.survey_propensity:
        return None
    slow = delivery_days is not None and delivery_days >= 5.0
    penalty = (1.0 + (1.0 if persona.cause == "shipping" else 0.0)) if slow else 0.0
    raw = 7.6 + 1.8 * persona.satisfaction - penalty + rng.normal(0.0, 1.0)
    score = int(np.clip(np.rint(raw), 0, 10))
    value_for_money = None
    if rng.random() < 0.7:
        vfm = 3.4 + 0.8 * persona.satisfaction - (0.9 if persona.price_sensitive else 0.0)
        value_for_money = int(np.clip(np.rint(vfm + rng.normal(0.0, 0.6)), 1, 5))
    comment = None
    if rng.random() < 0.15:
        group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        phrases = NPS_COMMENTS[group]
        comment = phrases[int(rng.integers(len(phrases)))]
    delay_hours = float(rng.exponential(20.0))
    return NpsAnswer(score, value_for_money, comment, _channel(rng), delay_hours)
