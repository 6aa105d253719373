"""ORM models. Importing this package registers every table on Base.metadata."""

import plugin.models.self_service  # noqa: F401  (registers the self-service tables)
from plugin.models.base import Base
from plugin.models.inbox import InboxStatus, WebhookInbox
from plugin.models.initiatives import Initiative
from plugin.models.privacy import DataExport
from plugin.models.scores import MetricSnapshot, ShopRecomputeState, SubscriberScore
from plugin.models.shop import Shop
from plugin.models.subscription import (
    BillingAttempt,
    BillingAttemptStatus,
    BillingCycleEvent,
    Contract,
    ContractChange,
    ContractStatus,
    ContractStatusEvent,
    FulfillmentEvent,
    Order,
    Subscriber,
)
from plugin.models.survey import (
    Cancellation,
    CancelReasonOption,
    InvitationStatus,
    NpsInvitation,
    NpsResponse,
    ReasonSource,
)
from plugin.models.workspace import BackfillRun

__all__ = [
    "BackfillRun",
    "Base",
    "BillingAttempt",
    "BillingAttemptStatus",
    "BillingCycleEvent",
    "CancelReasonOption",
    "Cancellation",
    "Contract",
    "ContractChange",
    "ContractStatus",
    "ContractStatusEvent",
    "DataExport",
    "FulfillmentEvent",
    "InboxStatus",
    "Initiative",
    "InvitationStatus",
    "MetricSnapshot",
    "NpsInvitation",
    "NpsResponse",
    "Order",
    "ReasonSource",
    "Shop",
    "ShopRecomputeState",
    "Subscriber",
    "SubscriberScore",
    "WebhookInbox",
]
