"""What every number in the workspace means: the one home of the metric definitions.

Each `Definition` gives the one-line plain definition the pages show on hover or focus, and
the formula, window and edge cases `docs/metrics.md` spells out. `docs/metrics.md` is
rendered from here (`python -m plugin.scoring.definitions > docs/metrics.md`; a test keeps the
file in step) and the pages receive `short_definitions()` inside the workspace document, so
a definition is written once. The formulas are the value engine's (`plugin/value/`); each
entry names the function that computes it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    key: str  # anchor in docs/metrics.md and the key pages use
    label: str
    short: str  # one plain sentence, shown on hover/focus
    formula: str
    window: str
    edge_cases: tuple[str, ...]
    source: str  # the engine function that computes it


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "active_subscribers",
        "Active subscribers",
        "People with at least one active subscription contract today; paused ones are "
        "counted apart.",
        "count of distinct subscribers with ≥ 1 contract in status active on the as-of day",
        "the as-of day (the last complete day before the recompute)",
        (
            "A paused subscriber is not active and is not churned: they are shown as paused.",
            "Someone holding two active contracts counts once.",
        ),
        "plugin.value.engine (live_at) / plugin.value.revenue.active_subscribers_by_currency",
    ),
    Definition(
        "mrr",
        "Monthly recurring revenue (MRR)",
        "What active subscriptions bring in per month, per currency, before tax and shipping.",
        "Σ over active contracts of recurring amount × 30.4375 ÷ billing period in days",
        "the as-of day",
        (
            "Paused contracts count 0; a currency whose contracts are all paused is listed with 0.",
            "Currencies are never added together: each has its own MRR; the shop's main "
            "currency (largest MRR) comes first.",
            "A contract whose amount was not fetched yet counts 0 and the page says how many.",
        ),
        "plugin.value.revenue.mrr_by_currency",
    ),
    Definition(
        "arpu",
        "Average revenue per subscriber (ARPU)",
        "MRR divided by the subscribers active in that currency.",
        "MRR(currency) ÷ active subscribers with a contract in that currency",
        "the as-of day",
        ("None (—) when a currency has no active subscriber.",),
        "plugin.value.revenue.arpu_by_currency",
    ),
    Definition(
        "churn_rate",
        "Monthly churn",
        "Share of the people subscribed at the start of last month who had no live "
        "subscription left at its end.",
        "subscribers who went from ≥ 1 live contract to none during month m ÷ subscribers "
        "live at the start of m",
        "the last complete calendar month (shop time zone)",
        (
            "Pausing is not churn: paused subscribers stay in the base.",
            "Someone who joins and leaves within the same month is in neither count.",
            "Before one complete month of history there is no rate (—).",
        ),
        "plugin.value.churn.monthly_churn",
    ),
    Definition(
        "churn_split",
        "Churn by source",
        "Who ended the subscription: the customer (voluntary), a failed payment, the "
        "merchant, the plan running out (expired), or unknown.",
        "churned in month m with source s ÷ subscribers live at the start of m; the five "
        "sources add up to the monthly churn",
        "the last complete calendar month",
        (
            "The source is that of the contract that ended last.",
            "A cancellation with a customer-given reason is voluntary.",
            "Expired and unknown are kept apart so the split always sums to the total.",
        ),
        "plugin.value.churn.monthly_churn (churned_by_source)",
    ),
    Definition(
        "nps",
        "Net Promoter Score (NPS)",
        "Promoters (9–10) minus detractors (0–6), as points from −100 to 100, with a 95% "
        "interval that says how sure the number is.",
        "NPS = 100 × (promoters − detractors) ÷ answers; interval: adjusted Wald (add 3 to n "
        "and ¾ to promoters and detractors; var = [p + d − (p − d)²] ÷ n_adj), 95%",
        "answers in the last 30 days (the score window)",
        (
            "No score below 30 answers: the page says how many there are instead.",
            "The interval is clipped to −100…100. A wide interval (few answers) is said in words.",
            "A change is called real only when the two-period z test has p < 0.05 and both "
            "periods have enough answers.",
        ),
        "plugin.value.nps.nps, plugin.value.nps.compare_nps",
    ),
    Definition(
        "value_perception",
        "Value for money",
        "The average answer to “Is it good value for money?” on a 1–5 scale.",
        "mean of the 1–5 value-for-money answers",
        "answers in the last 30 days",
        ("The question is optional: subscribers who skipped it are not counted.",),
        "plugin.value.nps.value_perception",
    ),
    Definition(
        "response_rate",
        "Survey response rate",
        "Share of survey invitations that got an answer.",
        "answered invitations ÷ invitations sent",
        "invitations sent in the last 30 days",
        ("— when no invitation was sent in the window.",),
        "plugin.value.nps.response_rate",
    ),
    Definition(
        "revenue_at_risk",
        "Revenue at risk",
        "MRR of subscribers whose chance of cancelling before their next renewal is 15% or "
        "more, per currency.",
        "Σ MRR of active contracts whose subscriber's churn risk ≥ 0.15",
        "the as-of day",
        (
            "Summed per currency, never across currencies.",
            "0 (not —) when nobody is at high risk.",
        ),
        "plugin.value.revenue.revenue_at_risk, plugin.value.score.high_risk",
    ),
    Definition(
        "churn_risk",
        "Churn risk",
        "The chance this subscriber cancels before their next renewal.",
        "baseline from the retention model for their tenure, 1 − (β + r)/(α + β + r), then "
        "moved by behaviour: fixed odds multipliers (failed payment ×2, cancel attempt ×2, "
        "paused ×1.5, detractor ×1.5, skip ×1.2, cadence complaint ×1.2) until the shop has "
        "200 churns to learn from, then the shop's own logistic model if it beats AUC 0.55 "
        "on a time-based holdout",
        "behaviour in the last 90 days; latest NPS answer within a year",
        (
            "The method used is stored with each risk and shown on the page.",
            "Repeated events are capped (3 failed payments, 2 cancel attempts, 3 skips).",
        ),
        "plugin.value.risk.churn_risk",
    ),
    Definition(
        "risk_model_quality",
        "Risk model quality",
        "How well the shop's own churn model told leavers from stayers on the latest "
        "holdout month (AUC 0.5 = guessing, 1 = perfect; lift = how much likelier the "
        "top tenth left).",
        "holdout AUC (area under the ROC curve) and top-decile lift = churn rate in the top "
        "10% by predicted risk ÷ overall churn rate",
        "the most recent labelled window (time-based holdout)",
        (
            "Shown only when the shop's logistic model is in use; otherwise the page says the "
            "fixed rules are used and why.",
        ),
        "plugin.value.risk.churn_risk (RiskModelReport)",
    ),
    Definition(
        "value_score",
        "Value score",
        "0–100: what the subscriber is worth (40%), how they feel about you (30%) and how "
        "likely they are to stay (30%).",
        "100 × Σ wᵢ·xᵢ ÷ Σ wᵢ over economic (percentile of expected residual value in the "
        "same currency), perceived (mean of NPS ÷ 10 and (value for money − 1) ÷ 4) and "
        "health (1 − churn risk); the perceived weight halves with the answer's age",
        "as of the last recompute",
        (
            "A missing part is left out and the others re-weighted; nothing is made up.",
            "Money in different currencies is never compared: the economic part ranks "
            "within one currency.",
        ),
        "plugin.value.score.value_score",
    ),
    Definition(
        "expected_residual_value",
        "Expected remaining value",
        "The margin this subscriber is still expected to bring, in today's money.",
        "recurring amount per cycle × margin × DERL (discounted expected residual lifetime, "
        "Fader & Hardie 2010)",
        "as of the last recompute; discount 10% a year unless set",
        ("In the contract's currency.", "0 for a subscription with no recurring amount."),
        "plugin.value.value.expected_residual_value",
    ),
    Definition(
        "predicted_ltv",
        "Expected value of a new subscriber",
        "What a subscriber joining today is expected to bring in margin over their lifetime, "
        "in today's money.",
        "average recurring amount × margin × DEL (discounted expected lifetime) from the "
        "retention model",
        "as of the last recompute",
        ("In the main currency only.",),
        "plugin.value.value.predicted_ltv",
    ),
    Definition(
        "retention_model",
        "Retention model",
        "A model of how many renewals subscribers make; it projects the curve beyond the "
        "data and gives the expected lifetime.",
        "shifted-beta-geometric (Fader & Hardie 2007): renewal probability 1 − θ per "
        "period, θ ~ Beta(α, β); S(t) = B(α, β + t) ÷ B(α, β); expected renewals of a new "
        "subscriber = Σ_{t ≥ 1} S(t)",
        "all subscribers' renewal histories",
        (
            "When the fit does not converge (e.g. nobody has left yet) a pooled churn rate "
            "is used instead and the page says so.",
        ),
        "plugin.value.sbg.fit_sbg",
    ),
    Definition(
        "cohort_retention",
        "Cohort retention",
        "Of the people who started in a month, the share still subscribed after k months "
        "(Kaplan–Meier).",
        "S(t) = Π_{tᵢ ≤ t} (1 − dᵢ ÷ nᵢ) over each cohort's churn times; subscribers still "
        "active are censored at today",
        "cohort = month of the first contract; ages in months of 30.4375 days",
        ("Blank where a cohort is not old enough to know.",),
        "plugin.value.survival.cohort_retention",
    ),
    Definition(
        "retention_by_order",
        "Retention by order",
        "Share of subscribers who go on to place more than k orders.",
        "Kaplan–Meier over order number; churn after order k = 1 − S(k) ÷ S(k − 1)",
        "all subscribers",
        ("Someone still active with k orders is censored at k − 1.",),
        "plugin.value.survival.retention_by_order",
    ),
    Definition(
        "cancel_reasons",
        "Cancel reasons",
        "Why subscribers said they cancelled, as shares of the cancellations that came with "
        "a reason.",
        "count of a reason ÷ cancellations with a customer-given reason",
        "cancellations in the last 30 days",
        (
            "Cancellations without a customer answer (system reasons) are counted apart.",
            "Each reason points at a value driver (price, cadence, product fit, …).",
        ),
        "plugin.value.reasons.cancel_reason_mix",
    ),
    Definition(
        "capture_rate",
        "Reason capture rate",
        "Share of cancellations where the subscriber told us why.",
        "cancellations with a customer-given reason ÷ all cancellations",
        "cancellations in the last 30 days",
        ("— when there was no cancellation in the window.",),
        "plugin.value.reasons.cancel_reason_mix",
    ),
    Definition(
        "billing_success_rate",
        "Billing success",
        "Share of renewal charges that went through.",
        "successful billing attempts ÷ all billing attempts (each counted once, final outcome)",
        "attempts in the last 30 days",
        ("A 3-D Secure challenge never completed counts as not successful.",),
        "plugin.value.churn.billing_success_rate",
    ),
    Definition(
        "cadence_fit",
        "Cadence fit",
        "Share of active subscribers who did not skip, delay, change frequency or complain "
        "about the delivery rhythm.",
        "active subscribers with no cadence signal ÷ active subscribers",
        "the last 90 days",
        ("A “too much product” answer on a subscription that stays counts as a signal.",),
        "plugin.value.drivers.cadence_fit_rate",
    ),
    Definition(
        "self_serve",
        "Self-serve changes",
        "Share of subscription changes the subscriber made themselves.",
        "changes made by the subscriber ÷ changes whose source is known",
        "the last 90 days",
        ("Changes of unknown source are left out.",),
        "plugin.value.drivers.self_serve_rate",
    ),
    Definition(
        "delivery_days_median",
        "Delivery time",
        "Median days from fulfilment to delivery.",
        "median over delivered orders of (delivered − fulfilled) in days",
        "the last 90 days",
        ("Pairs with a missing time or a delivery before its fulfilment are left out.",),
        "plugin.value.drivers.delivery_time",
    ),
    Definition(
        "customer_value",
        "Value to the customer",
        "What a plan gives the subscriber per cycle beyond its price: savings, shipping, "
        "perks and time saved, as the merchant values them.",
        "(one-time price − price) + shipping included + perks + time saved, per cycle; "
        "cumulated = per cycle × cycles paid",
        "the merchant's value model per plan (Settings)",
        ("Plans without a model have no customer value (—), never 0.",),
        "plugin.value.value.customer_value",
    ),
    # ---- acting on value: initiatives against a holdout, value data on customers ----------
    Definition(
        "holdout_split",
        "Treatment and holdout",
        "When a targeted initiative starts, its segment's members are fixed and split at "
        "random: the treatment group gets the action, the holdout gets nothing.",
        "members = active subscribers matching the saved filter at the start; sorted by id, "
        "shuffled with a stored random seed (numpy PCG64); the first round(n × share) are "
        "the holdout",
        "fixed at the start; the holdout share is 10 % unless the merchant sets 5–50 %",
        (
            "The same members, share and seed always give the same groups (reproducible).",
            "Fewer than 2 matching subscribers, or none left for the holdout: the start is "
            "refused and nothing changes.",
            "The audience cannot change once members are drawn.",
        ),
        "plugin.initiatives.uplift.split_members",
    ),
    Definition(
        "holdout_uplift",
        "Uplift against a holdout",
        "The initiative's effect: the target metric in the treatment group minus the same "
        "metric in the holdout, with a 95 % interval.",
        "uplift = metric(treatment) − metric(holdout), intent to treat (every treatment "
        "member counts, reached or not); verdict: a real effect when the 95 % interval "
        "excludes 0; no effect shown when it includes 0 but excludes the expected change; "
        "cannot tell yet when it includes both",
        "from the start to the end of the measurement period (retention: start + 30/60/90 "
        "days; other metrics: start + the initiative's window); interim figures before",
        (
            "Too few observations for an interval (a share: fewer than 5 in a cell; NPS: "
            "fewer than 30 answers per group; a mean: fewer than 10 per group) is said "
            "plainly: not enough data yet.",
            "Both groups live through the same season, so the difference does not depend on it.",
        ),
        "plugin.initiatives.uplift.judge",
    ),
    Definition(
        "member_retention",
        "Still subscribed k days after the start",
        "Share of an initiative's members who had not left k = 30, 60 or 90 days after it started.",
        "retained = no churn, or the last contract ended ≥ k days after the start; interval "
        "of the difference: p₁ − p₀ ± 1.96·√(p₁(1−p₁)/n₁ + p₀(1−p₀)/n₀) (unpooled Wald)",
        "k days from the start",
        (
            "A member who left and came back on a new contract before the check counts as "
            "still subscribed; a paused member counts as subscribed.",
        ),
        "plugin.initiatives.uplift.share_uplift",
    ),
    Definition(
        "member_billing_success",
        "Billing success of members",
        "Successful billing attempts over all attempts of the members in each group.",
        "R = Σ successes / Σ attempts per group; variance m/(m−1) · Σ(xᵢ − R·nᵢ)² / (Σnᵢ)² "
        "over the m members billed (one card fails every retry: attempts are clustered by "
        "member); interval of the difference ± 1.96·√(v₁ + v₀)",
        "from the start for the initiative's window",
        ("Challenged (3-D Secure pending) attempts are left out; members never billed too.",),
        "plugin.initiatives.uplift.ratio_uplift",
    ),
    Definition(
        "member_nps",
        "NPS uplift",
        "NPS of the treatment group's answers given after the start minus the holdout's.",
        "difference of NPS in points; interval centred on the adjusted-Wald difference "
        "(add 3 answers, ¾ promoter and ¾ detractor per group) ± 1.96·√(v₁ + v₀)",
        "answers from the start for the initiative's window",
        ("Fewer than 30 answers in a group: not enough data yet.",),
        "plugin.initiatives.uplift.nps_uplift",
    ),
    Definition(
        "member_mean",
        "Value for money and MRR per subscriber uplift",
        "Difference of means between the groups: value-for-money answers (1–5) after the "
        "start, or MRR per member.",
        "mean₁ − mean₀ ± t(0.975, Welch–Satterthwaite df) · √(s₁²/n₁ + s₀²/n₀)",
        "value for money: answers in the initiative's window; MRR: the latest recompute, "
        "0 for a member who left",
        (
            "MRR per subscriber compares members of one currency (the most common among "
            "them); the others are counted as excluded.",
        ),
        "plugin.initiatives.uplift.mean_uplift",
    ),
    Definition(
        "before_after",
        "Before/after effect (shop-wide initiatives)",
        "For an initiative without a target segment: the metric over the N days after the "
        "start against the N days before. It cannot separate the initiative from the "
        "season or anything else that changed meanwhile.",
        "after − before; rates and NPS with the two-sample z test (p < 0.05), other "
        "metrics by direction and size only",
        "N days on each side of the start (default 30)",
        ("Every before/after figure is shown with that caveat.",),
        "plugin.initiatives.effect.measure_effect",
    ),
    Definition(
        "churn_risk_band",
        "Churn-risk band",
        "The churn risk in a word merchants can filter on in Shopify: high, medium or low.",
        "high when churn risk ≥ 15 %, medium when ≥ 10 %, else low (the segment grid's cuts)",
        "the latest recompute",
        ("Not scored: unknown.",),
        "plugin.value.score.risk_band",
    ),
    # Save offers in the cancel flow (plugin.saveoffers); kept last, after the value metrics.
    Definition(
        "save_offer_acceptance",
        "Save offer acceptance rate",
        "Of the subscribers shown a save offer, the share who said yes. Saying yes is not "
        "staying: see the true save rate.",
        "accepted ÷ offered, per cancel reason and offer (first cancel flow per subscription)",
        "every cancel flow since the offer was configured",
        (
            "Holdout flows and reasons with no offer are not in it.",
            "A subscriber who goes through the flow again for the same subscription counts "
            "once, with their first flow.",
        ),
        "plugin.value.save_rate.save_report",
    ),
    Definition(
        "true_save_rate",
        "True save rate",
        "How many more subscribers still have their subscription d days after the cancel flow "
        "when shown the offer than when held out (shown nothing): what the offer really keeps.",
        "kept(offered, d) − kept(holdout, d), kept = flows whose subscription had not ended d "
        "days after the flow ÷ flows at least d days old; d = 30, 60, 90; 95% interval by "
        "Newcombe's hybrid score method (Wilson intervals of both shares)",
        "flows at least d days old, per cancel reason and offer; the holdout is a fixed random "
        "share of subscribers (default 10%, by a keyed hash of the customer)",
        (
            "Paused counts as not ended; a subscription ended exactly on day d is not kept.",
            "With no flow d days old in one arm there is no figure, and the page says which "
            "arm is missing.",
            "An interval that includes 0 means the data cannot tell yet whether the offer "
            "keeps anyone.",
            "Acceptance can be high while the true save rate is 0: those who accept may leave "
            "a month later, and some of the holdout stay anyway.",
        ),
        "plugin.value.save_rate.save_report / newcombe_difference",
    ),
)

BY_KEY = {d.key: d for d in DEFINITIONS}


def short_definitions() -> dict[str, dict[str, str]]:
    """key → {label, short}: what the pages show on hover or focus."""
    return {d.key: {"label": d.label, "short": d.short} for d in DEFINITIONS}


def render_markdown() -> str:
    """docs/metrics.md."""
    lines = [
        "# Metrics: what each number means and how we compute it",
        "",
        "<!-- Generated by `python -m plugin.scoring.definitions > docs/metrics.md` from",
        "     plugin/scoring/definitions.py: edit the definitions there, not this file. -->",
        "",
        "Every number in the workspace comes from the last recompute (`as_of` = the last",
        "complete day in the shop's time zone). A number that cannot be computed is shown as",
        "— with the reason, never as 0. Money is always per currency; no figure adds two",
        "currencies together.",
        "",
        "| Metric | In one line |",
        "|---|---|",
    ]
    lines += [f"| [{d.label}](#{d.key}) | {d.short} |" for d in DEFINITIONS]
    for d in DEFINITIONS:
        lines += [
            "",
            f'<a id="{d.key}"></a>',
            f"## {d.label}",
            "",
            d.short,
            "",
            f"- **Formula:** {d.formula}",
            f"- **Window:** {d.window}",
            "- **Edge cases:**",
            *[f"  - {case}" for case in d.edge_cases],
            f"- **Computed by:** `{d.source}`",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
