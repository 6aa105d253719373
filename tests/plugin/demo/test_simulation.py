"""The demo generator on its own (no database): reproducible, Shopify-shaped, and realistic
enough that the value engine has something true to find."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from plugin.billing.dunning import needs_new_payment_method
from plugin.billing.settings import BillingSettings
from plugin.demo.behaviour import CAUSE_REASONS, Persona, nps_answer
from plugin.demo.plans import PLANS
from plugin.demo.simulation import (
    FRICTION_DAYS,
    FRICTION_MULTIPLIERS,
    DemoConfig,
    DemoHistory,
    SimContract,
    _ContractState,
    _Simulator,
    add_months,
    simulate,
)
from plugin.topics import TOPICS
from plugin.value.sbg import fit_sbg, sbg_log_likelihood

END = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def medium() -> DemoHistory:
    return simulate(DemoConfig(subscribers=2000, months=24, seed=11, end=END))


def test_same_seed_same_history_other_seed_another() -> None:
    config = DemoConfig(subscribers=60, months=6, seed=3, end=END)
    first, second = simulate(config), simulate(config)
    assert [(e.at, e.topic, e.payload, e.webhook_id) for e in first.events] == [
        (e.at, e.topic, e.payload, e.webhook_id) for e in second.events
    ]
    assert first.cancel_answers == second.cancel_answers
    other = simulate(DemoConfig(subscribers=60, months=6, seed=4, end=END))
    assert [e.payload for e in other.events] != [e.payload for e in first.events]


def test_events_are_in_time_order_within_the_window_and_known_topics(
    medium: DemoHistory,
) -> None:
    times = [e.at for e in medium.events]
    assert times == sorted(times)
    assert medium.start <= times[0] and times[-1] < END
    assert {e.topic for e in medium.events} <= set(TOPICS)
    assert len({e.webhook_id for e in medium.events}) == len(medium.events)
    assert len({e.event_id for e in medium.events}) == len(medium.events)


def test_payloads_carry_the_fields_shopify_sends(medium: DemoHistory) -> None:
    by_topic = {e.topic: e.payload for e in medium.events}
    contract = by_topic["subscription_contracts/create"]
    assert {
        "id",
        "admin_graphql_api_id",
        "status",
        "customer_id",
        "admin_graphql_api_customer_id",
        "billing_policy",
        "delivery_policy",
        "currency_code",
        "origin_order_id",
        "revision_id",
    } <= contract.keys()
    # Shopify leaves lines and prices out of contract webhooks; so must the demo.
    assert "lines" not in contract and "recurring_amount" not in contract
    assert set(contract["billing_policy"]) == {
        "interval",
        "interval_count",
        "min_cycles",
        "max_cycles",
    }
    # Billing attempts are not the simulation's to send: the billing job makes them and the
    # Admin API answers (the simulation only plans their outcomes).
    assert not any(t.startswith("subscription_billing_attempts/") for t in by_topic)
    delivered = by_topic["fulfillment_events/create"]
    assert delivered["status"] == "delivered"
    assert {"id", "fulfillment_id", "order_id", "happened_at", "estimated_delivery_at"} <= set(
        delivered
    )
    assert not any(
        "reason" in e.payload for e in medium.events if e.topic.startswith("subscription_contr")
    )


def test_contract_revisions_increase_and_renewal_orders_come_from_billing(
    medium: DemoHistory,
) -> None:
    revisions: dict[int, int] = {}
    billed_orders = {a.order_id for a in medium.attempts if a.order_id}
    origin_orders = set()
    for event in medium.events:
        payload = event.payload
        if event.topic.startswith("subscription_contracts/"):
            revision = int(payload["revision_id"])
            assert revision > revisions.get(payload["id"], 0)
            revisions[payload["id"]] = revision
            origin_orders.add(payload["origin_order_id"])
        elif event.topic == "orders/create":
            assert payload["id"] in billed_orders | origin_orders
            assert (payload["source_name"] == "subscription_contract") == (
                payload["id"] in billed_orders
            )


def test_failed_payments_are_retried_on_the_shops_dunning_schedule(medium: DemoHistory) -> None:
    """The simulation plans attempts on the days the billing job retries (the billing
    settings' defaults: 1, 3 and 7 days after the cycle), and none that it would skip."""
    retry_days = BillingSettings().retry_days
    codes: dict[tuple[int, int], list[str | None]] = {}
    days: dict[tuple[int, int], list[int]] = {}
    starts: dict[tuple[int, int], datetime] = {}
    for attempt in medium.attempts:
        key = (attempt.contract_id, attempt.cycle_index)
        start = starts.setdefault(key, attempt.at)
        codes.setdefault(key, []).append(attempt.error_code)
        days.setdefault(key, []).append((attempt.at.date() - start.date()).days)
    failed_cycles = [key for key, outcomes in codes.items() if outcomes[0] is not None]
    assert failed_cycles
    for key in failed_cycles:
        if needs_new_payment_method(codes[key][0]):
            # Only a new card can help: the billing job spends no retry on the old one.
            assert days[key] == [0]
        else:
            assert days[key] == [0, *retry_days][: len(days[key])]
    ended = [c.contract_id for c in medium.contracts if c.end_source == "payment"]
    assert ended
    assert all(c.status == "cancelled" for c in medium.contracts if c.end_source == "payment")
    # Most failed payments recover on a retry: more cycles with failures than contracts lost.
    recovered = [key for key in failed_cycles if codes[key][-1] is None]
    assert len(recovered) > len(ended)


def test_delivery_takes_two_to_six_days(medium: DemoHistory) -> None:
    days = np.array(list(medium.delivery_days.values()))
    assert days.min() >= 2.0 and days.max() <= 6.0
    assert 3.0 < np.median(days) < 4.5


def test_cancellations_peak_after_the_second_and_third_order(medium: DemoHistory) -> None:
    by_order = Counter(c.orders for c in medium.contracts if c.end_source == "customer")
    peak = max(by_order, key=lambda k: by_order[k])
    assert peak in (2, 3)
    assert by_order[2] + by_order[3] > 2 * by_order[1]
    assert by_order[2] > by_order[5]


def test_monthly_churn_is_plausible_and_mostly_voluntary(medium: DemoHistory) -> None:
    rates = []
    for k in range(6, 24):
        month_start, month_end = add_months(medium.start, k), add_months(medium.start, k + 1)
        active = [
            c
            for c in medium.contracts
            if c.started_at < month_start and (c.ended_at is None or c.ended_at >= month_start)
        ]
        ended = [c for c in active if c.ended_at is not None and c.ended_at < month_end]
        rates.append(len(ended) / len(active))
    assert 0.04 <= float(np.mean(rates)) <= 0.12
    sources = Counter(c.end_source for c in medium.contracts if c.end_source)
    assert sources["customer"] > 5 * sources["payment"] > 0
    assert sources["merchant"] > 0 and sources["expiry"] > 0
    statuses = Counter(c.status for c in medium.contracts)
    assert {"active", "paused", "cancelled", "expired"} <= set(statuses)


def test_acquisition_grows(medium: DemoHistory) -> None:
    first_year = sum(1 for c in medium.contracts if c.started_at < add_months(medium.start, 12))
    assert len(medium.contracts) - first_year > 1.3 * first_year


def test_retention_is_heterogeneous_enough_for_the_sbg_model(medium: DemoHistory) -> None:
    """Fader & Hardie's sBG beats a single churn rate (geometric) on the demo's renewals."""
    live = [c for c in medium.contracts if c.end_source in (None, "customer", "payment")]
    renewals = np.array([c.orders - 1 for c in live])
    churned = np.array([c.end_source is not None for c in live])
    fit = fit_sbg(renewals, churned)
    assert fit.converged
    # Homogeneous model: θ fixed at the pooled rate, i.e. sBG with α/(α+β) = θ and α+β → ∞.
    theta = churned.sum() / (renewals.sum() + churned.sum())
    geometric = sbg_log_likelihood(theta * 1e5, (1 - theta) * 1e5, renewals, churned)
    assert fit.loglik > geometric + 10


def test_cancel_reasons_follow_the_latent_cause(medium: DemoHistory) -> None:
    answers = medium.cancel_answers
    customer_cancels = sum(1 for c in medium.contracts if c.end_source == "customer")
    assert 0.3 * customer_cancels < len(answers) < 0.8 * customer_cancels
    consistent = sum(
        a.answer.reason in CAUSE_REASONS[medium.personas[a.customer_id].cause] for a in answers
    )
    assert consistent / len(answers) > 0.8
    assert all(a.answer.comment for a in answers if a.answer.reason == "other")
    # Answers come around the cancellation, before or after the webhook.
    cancel_at = {
        e.payload["id"]: e.at for e in medium.events if e.topic == "subscription_contracts/cancel"
    }
    gaps = [(a.at - cancel_at[a.contract_id]).total_seconds() for a in answers]
    assert min(gaps) < 0 < max(gaps) and max(abs(g) for g in gaps) < 4 * 3600


def test_detractors_churn_more(medium: DemoHistory) -> None:
    rng = np.random.default_rng(5)
    churned_customers = {c.customer_id for c in medium.contracts if c.end_source == "customer"}
    groups: dict[str, list[bool]] = {"detractor": [], "promoter": []}
    for persona in medium.personas.values():
        answer = nps_answer(persona, rng, delivery_days=3.0)
        if answer is None:
            continue
        if answer.score <= 6:
            groups["detractor"].append(persona.customer_id in churned_customers)
        elif answer.score >= 9:
            groups["promoter"].append(persona.customer_id in churned_customers)
    assert len(groups["detractor"]) > 50 and len(groups["promoter"]) > 50
    assert np.mean(groups["detractor"]) > 1.3 * np.mean(groups["promoter"])


def test_nps_answers_are_valid_and_slow_deliveries_score_lower(medium: DemoHistory) -> None:
    personas = list(medium.personas.values())
    fast = [
        nps_answer(p, np.random.default_rng(i), delivery_days=2.5) for i, p in enumerate(personas)
    ]
    slow = [
        nps_answer(p, np.random.default_rng(i), delivery_days=5.8) for i, p in enumerate(personas)
    ]
    fast_scores = [a.score for a in fast if a]
    slow_scores = [a.score for a in slow if a]
    assert 0.2 < len(fast_scores) / len(personas) < 0.5  # most invitations go unanswered
    assert all(0 <= s <= 10 for s in fast_scores)
    assert all(1 <= a.value_for_money <= 5 for a in fast if a and a.value_for_money)
    assert np.mean(slow_scores) < np.mean(fast_scores) - 0.5


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="subscribers"):
        DemoConfig(subscribers=0, end=END)
    with pytest.raises(ValueError, match="timezone"):
        DemoConfig(end=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("kind", "days_before", "factor"),
    [
        ("payment_recovered", 30, FRICTION_MULTIPLIERS["payment_recovered"]),
        ("skip", 89, FRICTION_MULTIPLIERS["skip"]),
        ("resumed", 10, FRICTION_MULTIPLIERS["resumed"]),
        ("skip", 91, 1.0),  # friction fades: older than FRICTION_DAYS, no effect
    ],
)
def test_recent_friction_raises_the_churn_hazard(
    kind: str, days_before: int, factor: float
) -> None:
    """Behaviour must carry signal about who leaves next, or the demo's risk model has
    nothing to find: friction multiplies the hazard for FRICTION_DAYS, then fades."""
    simulator = _Simulator(DemoConfig(subscribers=1, months=1, seed=1, end=END))
    persona = Persona(1, 0.1, 0.0, "life", 0.3, 0.5)
    plan = PLANS[0]
    sim = SimContract(1, 1, plan.key, "USD", END - timedelta(days=400), 1, orders=6)
    state = _ContractState(1, {}, plan, "USD", plan.price("USD"), 1, 2, END)
    at = END - timedelta(days=1)
    calm = simulator._hazard(persona, sim, state, False, at)
    state.friction.append((at - timedelta(days=days_before), kind))
    assert FRICTION_DAYS == 90
    assert simulator._hazard(persona, sim, state, False, at) == pytest.approx(calm * factor)
