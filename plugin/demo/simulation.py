"""A seeded, reproducible simulation of a subscription shop's history (pure: no I/O).

`simulate(config)` returns what Shopify would have sent the app over the shop's life (webhook
topics and bodies with their event times, in event-time order), what subscribers answered in
the portal when cancelling, and the billing attempts it expects our billing job to make with
their outcomes. The same seed and end time always give the same history.

Renewals are ours: every contract is bought through one of the shop's plans (our selling plans)
and renewed by the billing job (`plugin.billing.run`), which the demo runs day by day against
its Admin API (`plugin.demo.admin_api`). The simulation decides *whether* each charge succeeds
(its planned attempts script the fake's answers); the billing job decides *when* to charge, on
the same schedule the simulation plans with (the billing settings' retry days), and the replay
checks that every planned attempt was made on its day.

The shape of the history, and why:
- Acquisition grows over time with seasonality (a holiday peak, a January bump).
- Each subscriber has a hidden per-cycle churn propensity drawn from a Beta distribution, shaped
  by order number so that cancellations peak after the 2nd and 3rd order (the first order is
  often discounted or already paid; the second is the first full-price renewal).
- Renewals are successful billing attempts that create orders, which are fulfilled and
  delivered 2–6 days later. Subscribers skip cycles, pause and resume, change frequency.
- Payments fail (insufficient funds, expired cards…) and are retried on the shop's dunning
  schedule; some never recover and the billing job cancels the contract (involuntary churn).
- A few contracts expire (fixed-length plan), a few are cancelled by the merchant, and some
  cancelled subscribers come back later with a new contract.
"""

from __future__ import annotations

import calendar
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from scipy import special, stats

from plugin.billing.dunning import needs_new_payment_method
from plugin.billing.settings import BillingSettings
from plugin.demo import payloads
from plugin.demo.behaviour import CAUSE_SHARES, CancelReason, Persona, cancel_reason
from plugin.demo.plans import CURRENCY_SHARES, PLANS, PLANS_BY_KEY, SHOP_CURRENCY, Plan

DEMO_SHOP = "valuehealth-demo.myshopify.com"
API_VERSION = "2026-10"

# Beta distribution of the per-cycle churn propensity across subscribers (mean ≈ 0.10).
CHURN_ALPHA, CHURN_BETA = 1.1, 9.5
# Correlation between churn propensity and (low) satisfaction, through a Gaussian copula.
SATISFACTION_CORRELATION = 0.55
# Churn hazard multiplier by number of orders received so far (index 1 = after the first).
ORDER_SHAPE = (0.0, 0.45, 1.7, 1.45, 1.1, 1.0, 0.95, 0.9)
# Friction raises the churn hazard for a while after it happens (hazard multiplier): a charge
# that failed before it went through, a skipped delivery, a pause just ended. These are the
# leading signals subscription businesses watch; without them behaviour would tell nothing
# about who leaves next, and the demo's risk model would have nothing to learn.
FRICTION_MULTIPLIERS = {"payment_recovered": 1.9, "skip": 1.5, "resumed": 1.5}
FRICTION_DAYS = 90
# Seasonality of new subscriptions by calendar month (January = index 0).
SEASONALITY = (1.25, 0.95, 0.95, 0.9, 0.9, 0.85, 0.85, 0.9, 1.0, 1.05, 1.35, 1.2)
MONTHLY_GROWTH = 0.045
SHIPPING = {"USD": Decimal("4.95"), "CAD": Decimal("6.95")}
BILLING_HOUR_UTC = 14  # the billing job runs once a day, at this hour (the demo shop's 9 or 10 am)

# Payment failure codes and how often a dunning retry recovers each.
FAILURE_CODES: dict[str, tuple[float, float, str]] = {
    # code: (share of failures, recovery chance per retry, message)
    "insufficient_funds": (0.55, 0.45, "Your card has insufficient funds."),
    "payment_method_declined": (0.25, 0.35, "Your card was declined."),
    "expired_payment_method": (0.15, 0.15, "Your card has expired."),
    "authentication_error": (0.05, 0.3, "Card authentication failed."),
}
# The demo shop's dunning schedule: our billing settings' defaults (retries 1, 3, 7 days on).
DUNNING_RETRY_DAYS = BillingSettings().retry_days

FIRST_NAMES = (
    "Ava", "Liam", "Mia", "Noah", "Emma", "Lucas", "Chloe", "Ethan", "Zoe", "Mateo", "Léa",
    "Hugo", "Sofia", "Jonas", "Hannah", "Omar", "Priya", "Kenji", "Nora", "Diego",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Martin", "Müller", "Nguyen", "Brown", "Dubois", "Rossi", "Kim",
    "Silva", "Patel", "Cohen", "Novak", "Jensen", "Okafor", "Lopez", "Tanaka", "Byrne",
)  # fmt: skip
LOCALES = {"USD": ("en", "en", "en", "es"), "CAD": ("en", "fr")}


@dataclass(frozen=True)
class DemoConfig:
    subscribers: int = 3000
    months: int = 24
    seed: int = 7
    # History ends here (exclusive); the CLI passes the current time.
    end: datetime = field(default_factory=lambda: datetime.now(UTC))
    shop_domain: str = DEMO_SHOP

    def __post_init__(self) -> None:
        if self.subscribers < 1:
            raise ValueError("subscribers must be at least 1")
        if self.months < 1:
            raise ValueError("months must be at least 1")
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")


@dataclass(frozen=True, slots=True)
class AdminChange:
    """What a contract event changed in Shopify's copy of the contract, which the demo's Admin
    API follows: on a create the plan bought; on a skip the cycle skipped; on a resume or a
    frequency change, cycles from `cycle_index` on fall one interval apart from
    `next_billing_at`."""

    cycle_index: int
    next_billing_at: datetime | None = None
    plan_key: str | None = None


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One webhook delivery: Shopify's topic and body, the event time and its ids."""

    at: datetime
    topic: str
    payload: dict[str, Any]
    webhook_id: str
    event_id: str
    admin: AdminChange | None = None


@dataclass(frozen=True, slots=True)
class PlannedAttempt:
    """A billing attempt the billing job is expected to make on `at`'s day, and its outcome:
    Shopify's answer comes at `at` (a 3-D Secure challenge then, the payment at `settled_at`)."""

    contract_id: int
    cycle_index: int
    at: datetime
    error_code: str | None = None
    order_id: int | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """A subscriber's cancel-reason answer in the portal, at its simulated time."""

    at: datetime
    customer_id: int
    contract_id: int
    answer: CancelReason


@dataclass(slots=True)
class SimContract:
    """The simulation's ground truth for one contract (for summaries and statistics tests)."""

    contract_id: int
    customer_id: int
    plan: str
    currency: str
    started_at: datetime
    interval_count: int
    orders: int = 1
    status: str = "active"
    ended_at: datetime | None = None
    end_source: str | None = None  # customer | merchant | payment (dunning) | expiry
    skips: int = 0
    pauses: int = 0
    payment_failures: int = 0


@dataclass
class DemoHistory:
    config: DemoConfig
    events: list[SimEvent]
    cancel_answers: list[CancelAnswer]
    # The attempts the billing job will make, in the order each contract's are made.
    attempts: list[PlannedAttempt]
    contracts: list[SimContract]
    personas: dict[int, Persona]
    delivery_days: dict[int, float]  # order id -> days from fulfilment to delivery

    @property
    def start(self) -> datetime:
        return add_months(self.config.end, -self.config.months)

    def deliveries(self) -> int:
        """Webhooks the shop receives: the simulated events and the Admin API's answers to the
        billing job (each planned attempt's outcome, a challenge before its success, and the
        cancellation of each contract lost to dunning)."""
        return (
            len(self.events)
            + len(self.attempts)
            + sum(1 for a in self.attempts if a.settled_at is not None)
            + sum(1 for c in self.contracts if c.end_source == "payment")
        )

    def topic_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event.topic] = counts.get(event.topic, 0) + 1
        return dict(sorted(counts.items()))


def add_months(at: datetime, months: int) -> datetime:
    """Same day-of-month `months` later, clamped to the month's end (calendar billing)."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def _uuid_prefix(rng: np.random.Generator) -> str:
    """The first four groups of a random version-4 UUID, to be completed with 12 hex digits."""
    text = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    return text[: text.rindex("-") + 1]


def simulate(config: DemoConfig) -> DemoHistory:
    return _Simulator(config).run()


class _Ids:
    """Shopify-like numeric ids, distinct per kind, deterministic per run."""

    def __init__(self) -> None:
        self._next = {
            "customer": 7_100_000_000_000,
            "contract": 41_000_000_000,
            "order": 5_900_000_000_000,
            "attempt": 88_000_000_000,
            "fulfillment": 4_700_000_000_000,
            "fulfillment_event": 3_300_000_000_000,
        }

    def new(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]


class _Simulator:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.ids = _Ids()
        self.end = config.end
        self.events: list[SimEvent] = []
        self.answers: list[CancelAnswer] = []
        self.attempts: list[PlannedAttempt] = []
        self.contracts: list[SimContract] = []
        self.personas: dict[int, Persona] = {}
        self.delivery_days: dict[int, float] = {}
        self._seq = 0
        # UUID-shaped ids, unique per delivery: a per-run prefix and the delivery's sequence.
        self._webhook_prefix = _uuid_prefix(self.rng)
        self._event_prefix = _uuid_prefix(self.rng)

    # -- top level ------------------------------------------------------------------------

    def run(self) -> DemoHistory:
        signups = self._signup_times()
        personas = self._personas(len(signups))
        plan_keys = self._choose([p.key for p in PLANS], [p.share for p in PLANS], len(signups))
        currencies = self._choose(list(CURRENCY_SHARES), list(CURRENCY_SHARES.values()),
                                  len(signups))  # fmt: skip
        for signed_up, persona, plan_key, currency in zip(
            signups, personas, plan_keys, currencies, strict=True
        ):
            self.personas[persona.customer_id] = persona
            customer = self._customer(persona, currency, signed_up)
            self._subscriber_life(persona, customer, PLANS_BY_KEY[plan_key], currency, signed_up)
        # Event-time order; ties keep generation order so the run is reproducible.
        order = sorted(range(len(self.events)), key=lambda i: self.events[i].at)
        events = [self.events[i] for i in order]
        self.answers.sort(key=lambda a: a.at)
        return DemoHistory(
            self.config,
            events,
            self.answers,
            self.attempts,
            self.contracts,
            self.personas,
            self.delivery_days,
        )

    def _signup_times(self) -> list[datetime]:
        """Acquisition: monthly volumes grow and follow the season; times uniform in a month."""
        months = self.config.months
        start = add_months(self.end, -months)
        bounds = [add_months(start, k) for k in range(months + 1)]
        weights = np.array(
            [(1 + MONTHLY_GROWTH) ** k * SEASONALITY[bounds[k].month - 1] for k in range(months)]
        )
        per_month = self.rng.multinomial(self.config.subscribers, weights / weights.sum())
        times: list[datetime] = []
        for k, count in enumerate(per_month):
            span = (bounds[k + 1] - bounds[k]).total_seconds()
            offsets = np.sort(self.rng.uniform(0.0, span, int(count)))
            times.extend(bounds[k] + timedelta(seconds=float(s)) for s in offsets)
        return times

    def _personas(self, n: int) -> list[Persona]:
        # Gaussian copula: one normal draw sets churn propensity (through the Beta quantile)
        # and, negatively, satisfaction, so each keeps its own marginal distribution.
        z = self.rng.standard_normal(n)
        propensity = stats.beta.ppf(special.ndtr(z), CHURN_ALPHA, CHURN_BETA)
        rho = SATISFACTION_CORRELATION
        satisfaction = -rho * z + math.sqrt(1 - rho * rho) * self.rng.standard_normal(n)
        causes = self._choose(list(CAUSE_SHARES), list(CAUSE_SHARES.values()), n)
        survey = self.rng.beta(1.3, 2.6, n)
        reason = self.rng.beta(3.0, 2.5, n)
        return [
            Persona(
                customer_id=self.ids.new("customer"),
                churn_propensity=float(propensity[i]),
                satisfaction=float(satisfaction[i]),
                cause=causes[i],
                survey_propensity=float(survey[i]),
                reason_propensity=float(reason[i]),
            )
            for i in range(n)
        ]

    def _choose(self, keys: list[str], shares: list[float], n: int) -> list[str]:
        p = np.asarray(shares, float)
        return [keys[i] for i in self.rng.choice(len(keys), size=n, p=p / p.sum())]

    # -- emitting ------------------------------------------------------------------------

    def _emit(
        self, at: datetime, topic: str, payload: dict[str, Any], admin: AdminChange | None = None
    ) -> bool:
        """Record a delivery if it happened before the end of the history."""
        if at >= self.end:
            return False
        self._seq += 1
        webhook_id = f"{self._webhook_prefix}{self._seq:012x}"
        event_id = f"{self._event_prefix}{self._seq:012x}"
        self.events.append(SimEvent(at, topic, payload, webhook_id, event_id, admin))
        return True

    def _customer(self, persona: Persona, currency: str, at: datetime) -> dict[str, Any]:
        first = FIRST_NAMES[int(self.rng.integers(len(FIRST_NAMES)))]
        last = LAST_NAMES[int(self.rng.integers(len(LAST_NAMES)))]
        locales = LOCALES[currency]
        cid = persona.customer_id
        email = f"{first}.{last}.{cid % 100_000}@example.com".lower()
        return payloads.customer(
            customer_id=cid,
            email=email,
            first_name=first,
            last_name=last,
            locale=locales[int(self.rng.integers(len(locales)))],
            at=at,
        )

    # -- one subscriber ------------------------------------------------------------------

    def _subscriber_life(
        self,
        persona: Persona,
        customer: dict[str, Any],
        plan: Plan,
        currency: str,
        signed_up: datetime,
    ) -> None:
        contract = self._contract_life(persona, customer, plan, currency, signed_up)
        if self.rng.random() < 0.06:
            # A few subscribers update their details (new email after a job change, …).
            ended = contract.ended_at or self.end
            span = (ended - signed_up).total_seconds()
            at = signed_up + timedelta(seconds=float(self.rng.uniform(0.1, 1.0)) * span)
            updated = dict(customer, email=customer["email"].replace("@", ".new@"))
            updated["updated_at"] = payloads.iso(at)
            self._emit(at, "customers/update", updated)
            customer = updated
        # Win-back: some who cancelled themselves come back later on a new contract.
        if contract.end_source == "customer" and contract.ended_at and self.rng.random() < 0.07:
            back = contract.ended_at + timedelta(days=float(self.rng.uniform(30, 180)))
            if back < self.end:
                plan = PLANS[int(self.rng.choice(3, p=[0.5, 0.2, 0.3]))]
                self._contract_life(persona, customer, plan, currency, back)

    def _contract_life(
        self,
        persona: Persona,
        customer: dict[str, Any],
        plan: Plan,
        currency: str,
        started: datetime,
    ) -> SimContract:
        rng = self.rng
        contract_id = self.ids.new("contract")
        sim = SimContract(
            contract_id, persona.customer_id, plan.key, currency, started, plan.interval_count
        )
        self.contracts.append(sim)
        anchor = self._billing_time(add_months(started, plan.interval_count))
        state = _ContractState(
            contract_id=contract_id,
            customer=customer,
            plan=plan,
            currency=currency,
            amount=plan.price(currency),
            interval_count=plan.interval_count,
            origin_order_id=self.ids.new("order"),
            anchor_base=anchor,
        )
        # Cycle 1 is the first renewal; `index` is the cycle falling on `anchor`.
        index = 1
        self._emit(
            started,
            "subscription_contracts/create",
            self._contract_body(state, "active"),
            AdminChange(index, anchor, plan.key),
        )
        self._order(state, persona, state.origin_order_id, started, recurring=False)
        last_order = started
        changed_frequency = False
        while True:
            if plan.max_cycles is not None and sim.orders >= plan.max_cycles:
                # Fixed-length plan: it expires on the day the next cycle would have been
                # billed, before that day's billing run.
                self._end(sim, state, "expired", "expiry", _before_billing(anchor))
                return sim
            hazard = self._hazard(persona, sim, state, changed_frequency, anchor)
            if rng.random() < hazard:
                at = self._cancel_time(last_order, anchor)
                source = "merchant" if rng.random() < 0.03 else "customer"
                self._cancel(sim, state, persona, source, at)
                return sim
            if rng.random() < (0.07 if persona.cause == "life" else 0.012):
                resumed = self._pause(sim, state, persona, last_order, anchor, index)
                if resumed is None:
                    return sim
                # The next period runs from the resume, as if the subscription restarted.
                last_order, anchor = resumed
                state.friction.append((last_order, "resumed"))
                continue
            if (
                not changed_frequency
                and persona.cause == "cadence"
                and state.interval_count == 1
                and rng.random() < 0.08
            ):
                # Switches to every other month instead of cancelling; fits better afterwards.
                changed_frequency = True
                state.interval_count = 2
                at = last_order + timedelta(days=float(rng.uniform(3, 14)))
                anchor = self._billing_time(add_months(last_order, 2))
                state.anchor_base, state.anchor_index = anchor, index
                self._emit(
                    at,
                    "subscription_contracts/update",
                    self._contract_body(state, "active"),
                    AdminChange(index, anchor),
                )
            skip_p = 0.2 if persona.cause == "cadence" and not changed_frequency else 0.035
            if rng.random() < skip_p:
                cycle_start = add_months(anchor, -state.interval_count)
                at = anchor - timedelta(days=float(rng.uniform(1, 6)))
                if self._emit(
                    max(at, last_order + timedelta(hours=2)),
                    "subscription_billing_cycles/skip",
                    payloads.billing_cycle_skip(
                        contract_id=contract_id,
                        cycle_index=index,
                        cycle_start=cycle_start,
                        cycle_end=anchor,
                    ),
                    AdminChange(index),
                ):
                    sim.skips += 1
                    state.friction.append((at, "skip"))
                index += 1
                anchor = state.due(index)
            if anchor >= self.end:
                return sim
            billed = self._bill(sim, state, persona, anchor, index)
            if billed is None:
                return sim
            index += 1
            sim.orders += 1
            last_order = billed
            anchor = state.due(index)

    def _hazard(
        self,
        persona: Persona,
        sim: SimContract,
        state: _ContractState,
        changed: bool,
        at: datetime,
    ) -> float:
        shape = ORDER_SHAPE[min(sim.orders, len(ORDER_SHAPE) - 1)]
        hazard = persona.churn_propensity * shape
        recent = at - timedelta(days=FRICTION_DAYS)
        for when, kind in state.friction:
            if recent <= when <= at:
                hazard *= FRICTION_MULTIPLIERS[kind]
        if state.interval_count == 2:
            hazard *= 1.25  # a longer cycle leaves more time to drop out, per cycle
        if changed:
            hazard *= 0.6
        if state.last_delivery_days >= 5.0:
            hazard *= 1.8 if persona.cause == "shipping" else 1.2
        return min(hazard, 0.9)

    def _cancel_time(self, last_order: datetime, next_bill: datetime) -> datetime:
        """Subscribers cancel soon after a delivery or just before the next charge."""
        rng = self.rng
        if rng.random() < 0.5:
            at = last_order + timedelta(days=float(rng.uniform(3, 12)))
        else:
            at = next_bill - timedelta(days=float(rng.uniform(0.3, 4)))
        low, high = last_order + timedelta(hours=6), next_bill - timedelta(hours=2)
        return min(max(at, low), high)

    def _billing_time(self, day: datetime) -> datetime:
        minutes = float(self.rng.uniform(0, 40))
        return day.replace(hour=BILLING_HOUR_UTC, minute=0, second=0, microsecond=0) + timedelta(
            minutes=minutes
        )

    # -- contract events -----------------------------------------------------------------

    def _contract_body(self, state: _ContractState, status: str) -> dict[str, Any]:
        state.revision += 1
        return payloads.contract(
            contract_id=state.contract_id,
            customer_id=state.customer["id"],
            status=status,
            currency=state.currency,
            interval=state.plan.interval,
            interval_count=state.interval_count,
            max_cycles=state.plan.max_cycles,
            origin_order_id=state.origin_order_id,
            revision_id=state.revision,
        )

    def _end(
        self, sim: SimContract, state: _ContractState, status: str, source: str, at: datetime
    ) -> bool:
        topic = {"cancelled": "cancel", "expired": "expire"}[status]
        if not self._emit(
            at, f"subscription_contracts/{topic}", self._contract_body(state, status)
        ):
            return False
        sim.status, sim.ended_at, sim.end_source = status, at, source
        return True

    def _cancel(
        self,
        sim: SimContract,
        state: _ContractState,
        persona: Persona,
        source: str,
        at: datetime,
    ) -> None:
        if not self._end(sim, state, "cancelled", source, at):
            return
        if source == "customer" and self.rng.random() < persona.reason_propensity:
            # Most answer on the cancel form before the cancellation goes through; some answer
            # afterwards from the follow-up link. The app joins them either way.
            if self.rng.random() < 0.7:
                answered = at - timedelta(seconds=float(self.rng.uniform(20, 180)))
            else:
                answered = at + timedelta(minutes=float(self.rng.uniform(5, 180)))
            if answered < self.end:
                self.answers.append(
                    CancelAnswer(
                        answered,
                        persona.customer_id,
                        state.contract_id,
                        cancel_reason(persona, self.rng),
                    )
                )

    def _pause(
        self,
        sim: SimContract,
        state: _ContractState,
        persona: Persona,
        last_order: datetime,
        next_bill: datetime,
        index: int,
    ) -> tuple[datetime, datetime] | None:
        """Pause between two orders; returns (resumed at, next billing) or None if it stays
        paused, ends or the history ends first."""
        rng = self.rng
        room = max((next_bill - last_order).total_seconds() / 86400 - 2, 1.0)
        paused = last_order + timedelta(days=float(rng.uniform(1, room)))
        if not self._emit(
            paused, "subscription_contracts/pause", self._contract_body(state, "paused")
        ):
            return None
        sim.pauses += 1
        sim.status = "paused"
        if rng.random() < 0.75:
            resumed = add_months(paused, int(rng.integers(1, 4))) + timedelta(
                days=float(rng.uniform(0, 5))
            )
            # Billing restarts on the day after next (the billing run is once a day): the
            # cycle the pause held back is not billed; the next one falls then.
            restart = self._billing_time(resumed + timedelta(days=2))
            if self._emit(
                resumed,
                "subscription_contracts/activate",
                self._contract_body(state, "active"),
                AdminChange(index, restart),
            ):
                sim.status = "active"
                state.anchor_base, state.anchor_index = restart, index
                return resumed, restart
            return None
        if rng.random() < 0.45:
            at = paused + timedelta(days=float(rng.uniform(30, 150)))
            self._cancel(sim, state, persona, "customer", at)
        return None

    # -- billing, orders, deliveries -----------------------------------------------------

    def _bill(
        self,
        sim: SimContract,
        state: _ContractState,
        persona: Persona,
        due: datetime,
        index: int,
    ) -> datetime | None:
        """Plan the billing job's attempts for cycle `index`, due at `due`: the job decides
        when to charge (and retry, on the shop's schedule), this decides whether each charge
        goes through. The time of the payment, or None if dunning ended the contract or the
        history ends first."""
        rng = self.rng
        fail_p = 0.09 if persona.price_sensitive else 0.03
        order_id = None
        if rng.random() < 0.01:
            # 3-D Secure challenge: the customer authenticates and the charge goes through.
            settled = due + timedelta(hours=float(rng.uniform(2, 30)))
            order_id = self.ids.new("order")
            if not self._plan(state, index, due, order_id=order_id, settled_at=settled):
                return None
            if settled >= self.end:
                return None
            due = settled
        elif rng.random() < fail_p:
            codes = list(FAILURE_CODES)
            code = codes[int(rng.choice(len(codes), p=[FAILURE_CODES[c][0] for c in codes]))]
            recovery = FAILURE_CODES[code][1]
            if not self._plan(state, index, due, error_code=code):
                return None
            sim.payment_failures += 1
            if needs_new_payment_method(code):
                # The billing job spends no retry on a card that cannot work, and takes the
                # final action on the last retry day (no card update in the demo).
                self._dunning_ended(sim, due + timedelta(days=DUNNING_RETRY_DAYS[-1]))
                return None
            for days in DUNNING_RETRY_DAYS:
                retry = due + timedelta(days=days)
                if rng.random() < recovery:
                    due = retry
                    break
                if not self._plan(state, index, retry, error_code=code):
                    return None
                sim.payment_failures += 1
            else:
                # The last retry failed: the next day's run takes the final action.
                last = due + timedelta(days=DUNNING_RETRY_DAYS[-1] + 1)
                self._dunning_ended(sim, last)
                return None
            state.friction.append((due, "payment_recovered"))
        if order_id is None:
            order_id = self.ids.new("order")
            if not self._plan(state, index, due, order_id=order_id):
                return None
        self._order(state, persona, order_id, due + timedelta(seconds=20), recurring=True)
        return due

    def _plan(
        self,
        state: _ContractState,
        index: int,
        at: datetime,
        *,
        error_code: str | None = None,
        order_id: int | None = None,
        settled_at: datetime | None = None,
    ) -> bool:
        """Expect an attempt on `at`'s day (if before the end of the history)."""
        if at >= self.end:
            return False
        self.attempts.append(
            PlannedAttempt(state.contract_id, index, at, error_code, order_id, settled_at)
        )
        return True

    def _dunning_ended(self, sim: SimContract, day: datetime) -> None:
        """The billing job cancels the contract on `day`'s run (the demo shop's final action);
        its webhook comes from the Admin API then."""
        at = day.replace(hour=BILLING_HOUR_UTC, minute=0, second=0, microsecond=0)
        if at < self.end:
            sim.status, sim.ended_at, sim.end_source = "cancelled", at, "payment"

    def _order(
        self,
        state: _ContractState,
        persona: Persona,
        order_id: int,
        at: datetime,
        *,
        recurring: bool,
    ) -> None:
        rng = self.rng
        common: dict[str, Any] = {
            "order_id": order_id,
            "customer": state.customer,
            "created_at": at,
            "currency": state.currency,
            "amount": state.amount,
            "shipping": SHIPPING[state.currency],
            "title": state.plan.name,
            "recurring": recurring,
        }
        if not self._emit(at, "orders/create", payloads.order(**common)):
            return
        fulfilled = at + timedelta(hours=float(rng.uniform(10, 60)))
        fulfillment_id = self.ids.new("fulfillment")
        order_body = payloads.order(**common, fulfilled_at=fulfilled, fulfillment_id=fulfillment_id)
        if not self._emit(fulfilled, "orders/fulfilled", order_body):
            return
        # Carrier transit: 2–6 days, slower for subscribers whose latent issue is shipping.
        mode = 5.5 if persona.cause == "shipping" else 3.0
        days = float(rng.triangular(2.0, mode, 6.0))
        self.delivery_days[order_id] = days
        state.last_delivery_days = days
        delivered = fulfilled + timedelta(days=days)
        self._emit(
            delivered,
            "fulfillment_events/create",
            payloads.fulfillment_event(
                event_id=self.ids.new("fulfillment_event"),
                fulfillment_id=fulfillment_id,
                order_id=order_id,
                status="delivered",
                happened_at=delivered,
                estimated_delivery_at=fulfilled + timedelta(days=4),
            ),
        )


@dataclass
class _ContractState:
    """What the simulator tracks per contract while generating its events."""

    contract_id: int
    customer: dict[str, Any]
    plan: Plan
    currency: str
    amount: Decimal
    interval_count: int
    origin_order_id: int
    # Billing schedule, as Shopify keeps it: cycle `anchor_index` falls on `anchor_base`, each
    # next one a billing interval later (calendar months from the anchor, not chained).
    anchor_base: datetime
    anchor_index: int = 1
    revision: int = 0
    last_delivery_days: float = 0.0
    friction: list[tuple[datetime, str]] = field(default_factory=list)  # (when, kind)

    def due(self, index: int) -> datetime:
        return add_months(self.anchor_base, (index - self.anchor_index) * self.interval_count)


def _before_billing(day: datetime) -> datetime:
    """An hour before the billing run of `day`'s date."""
    return day.replace(hour=BILLING_HOUR_UTC - 1, minute=0, second=0, microsecond=0)


__all__ = [
    "API_VERSION",
    "BILLING_HOUR_UTC",
    "DEMO_SHOP",
    "SHOP_CURRENCY",
    "AdminChange",
    "CancelAnswer",
    "DemoConfig",
    "DemoHistory",
    "PlannedAttempt",
    "SimContract",
    "SimEvent",
    "add_months",
    "simulate",
]
