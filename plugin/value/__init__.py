"""Valuehealth value engine: pure maths for docs/metrics.md (numpy, scipy, scikit-learn only).

No I/O and no imports from the rest of the project: arrays and frozen dataclasses in,
results out. Workers load a shop's columns, call `score_shop`, and store what it returns.
"""

from plugin.value.codes import (
    BillingInterval,
    ChangeSource,
    ContractStatus,
    EndSource,
    EventKind,
    RiskMethod,
    Segment,
)
from plugin.value.engine import ShopMetrics, ShopResults, SubscriberResults, score_shop
from plugin.value.inputs import (
    AnswerColumns,
    BillingAttemptColumns,
    CancellationColumns,
    ContractColumns,
    DeliveryColumns,
    EngineSettings,
    EventColumns,
    InvitationColumns,
    ShopInputs,
    SubscriberColumns,
)
from plugin.value.reasons import DEFAULT_REASONS, SYSTEM_REASONS, ReasonCode
from plugin.value.value import PlanValueModel

__all__ = [
    "DEFAULT_REASONS",
    "SYSTEM_REASONS",
    "AnswerColumns",
    "BillingAttemptColumns",
    "BillingInterval",
    "CancellationColumns",
    "ChangeSource",
    "ContractColumns",
    "ContractStatus",
    "DeliveryColumns",
    "EndSource",
    "EngineSettings",
    "EventColumns",
    "EventKind",
    "InvitationColumns",
    "PlanValueModel",
    "ReasonCode",
    "RiskMethod",
    "Segment",
    "ShopInputs",
    "ShopMetrics",
    "ShopResults",
    "SubscriberColumns",
    "SubscriberResults",
    "score_shop",
]
