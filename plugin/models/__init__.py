"""ORM models. Importing this package registers every table on Base.metadata."""

import plugin.models.self_service  # noqa: F401  (registers the self-service tables)
from plugin.models.base import Base
from plugin.models.billing import BillingCharge, DunningCase, Plan, PlanVersion
from plugin.models.customer_data import (
    CustomerDataShop,
    CustomerSyncRun,
    CustomerValueState,
)
from plugin.models.flow import FlowTriggerEvent, FlowTriggerStatus
from plugin.models.inbox import InboxStatus, WebhookInbox
from plugin.models.initiative_members import InitiativeAudience, InitiativeMember
from plugin.models.initiatives import Initiative
from plugin.models.privacy import DataExport
from plugin.models.review_digest import ReviewDigest, ReviewDigestSettings
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
    "BillingCharge",
    "BillingCycleEvent",
    "CancelReasonOption",
    "Cancellation",
    "Contract",
    "ContractChange",
    "ContractStatus",
    "ContractStatusEvent",
    "CustomerDataShop",
    "CustomerSyncRun",
    "CustomerValueState",
    "DataExport",
    "DunningCase",
    "FlowTriggerEvent",
    "FlowTriggerStatus",
    "FulfillmentEvent",
    "InboxStatus",
    "Initiative",
    "InitiativeAudience",
    "InitiativeMember",
    "InvitationStatus",
    "MetricSnapshot",
    "NpsInvitation",
    "NpsResponse",
    "Order",
    "Plan",
    "PlanVersion",
    "ReasonSource",
    "ReviewDigest",
    "ReviewDigestSettings",
    "Shop",
    "ShopRecomputeState",
    "Subscriber",
    "SubscriberScore",
    "WebhookInbox",
]
