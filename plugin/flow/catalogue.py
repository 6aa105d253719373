"""The Flow triggers Valuehealth ships. Field keys are what the merchant sees in Flow and
what the payload carries; `customer_id` fills the trigger's customer reference."""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER = "customer_id"


@dataclass(frozen=True)
class FlowTrigger:
    handle: str
    name: str
    fields: tuple[str, ...]  # besides the customer reference


SEGMENT_ENTERED = FlowTrigger(
    "value-segment-entered",
    "Subscriber entered a value segment",
    ("Segment", "Previous segment", "Churn risk band", "Value score", "MRR", "Currency", "Reasons"),
)
NPS_ANSWERED = FlowTrigger(
    "nps-answered", "NPS answered", ("Score", "Category", "Value for money", "Comment")
)
CANCEL_REASON_GIVEN = FlowTrigger(
    "cancel-reason-given", "Cancel reason given", ("Reason", "Comment", "Contract ID")
)
INITIATIVE_STARTED = FlowTrigger(
    "initiative-started",
    "Value initiative started (treatment group)",
    ("Initiative ID", "Initiative", "Treatment marker"),
)
INITIATIVE_ENDED = FlowTrigger(
    "initiative-ended",
    "Value initiative ended (treatment group)",
    ("Initiative ID", "Initiative", "Treatment marker"),
)
PAYMENT_FAILED = FlowTrigger(
    "subscription-payment-failed",
    "Subscription payment failed",
    (
        "Contract ID",
        "Amount",
        "Currency",
        "Error code",
        "Failed on",
        "Next retry date",
        "Retries left",
        "Needs new payment method",
        "Final action",
    ),
)
DUNNING_ENDED = FlowTrigger(
    "subscription-dunning-ended",
    "Subscription dunning ended",
    ("Contract ID", "Outcome", "Amount", "Currency", "Failed attempts"),
)

TRIGGERS: dict[str, FlowTrigger] = {
    t.handle: t
    for t in (
        SEGMENT_ENTERED,
        NPS_ANSWERED,
        CANCEL_REASON_GIVEN,
        INITIATIVE_STARTED,
        INITIATIVE_ENDED,
        PAYMENT_FAILED,
        DUNNING_ENDED,
    )
}
