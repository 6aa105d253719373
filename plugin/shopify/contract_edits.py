"""Changes to a subscription contract through the Admin GraphQL API (subscriber self-service,
accepted save offers, confirmed cancellations).

Two kinds of change, as Shopify offers them:
- direct mutations: skip or unskip one billing cycle, pause, activate (resume), cancel;
- a contract draft: `subscriptionContractUpdate` opens a draft of the current contract, the
  draft mutations (`subscriptionDraftUpdate`, `subscriptionDraftLineUpdate`,
  `subscriptionDraftDiscountAdd`) change the draft only, and `subscriptionDraftCommit` applies
  all of it at once. A draft that is never committed changes nothing, so a failed step (or a
  refused commit) leaves the contract as it was: nothing half-done.

Every failure is a `ContractEditRefused` carrying a sentence a subscriber can read; the
Shopify wording and code are kept for the log and the record. A draft refused because the
contract changed after the draft was opened (`CONCURRENT_CONTRACT_UPDATE`, and the retired
`STALE_CONTRACT`) is flagged `changed_meanwhile`. Throttling, 429 and 5xx are retried by
`AdminGraphQL`; when it gives up, `TransientError` propagates unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from plugin.shopify.errors import ShopifyError
from plugin.shopify.graphql import AdminGraphQL

_USER_ERRORS = "userErrors { field message code }"
# Billing-cycle skip answers carry no `code` in every version; asking for it is allowed.

SKIP_MUTATION = f"""
mutation SubscriptionBillingCycleSkip($contractId: ID!, $index: Int!) {{
  subscriptionBillingCycleSkip(billingCycleInput: {{contractId: $contractId, selector: {{index: $index}}}}) {{
    billingCycle {{ cycleIndex skipped billingAttemptExpectedDate }}
    {_USER_ERRORS}
  }}
}}
"""  # noqa: E501

UNSKIP_MUTATION = f"""
mutation SubscriptionBillingCycleUnskip($contractId: ID!, $index: Int!) {{
  subscriptionBillingCycleUnskip(billingCycleInput: {{contractId: $contractId, selector: {{index: $index}}}}) {{
    billingCycle {{ cycleIndex skipped billingAttemptExpectedDate }}
    {_USER_ERRORS}
  }}
}}
"""  # noqa: E501

PAUSE_MUTATION = f"""
mutation SubscriptionContractPause($contractId: ID!) {{
  subscriptionContractPause(subscriptionContractId: $contractId) {{
    contract {{ id status }}
    {_USER_ERRORS}
  }}
}}
"""

ACTIVATE_MUTATION = f"""
mutation SubscriptionContractActivate($contractId: ID!) {{
  subscriptionContractActivate(subscriptionContractId: $contractId) {{
    contract {{ id status }}
    {_USER_ERRORS}
  }}
}}
"""

CANCEL_MUTATION = f"""
mutation SubscriptionContractCancel($contractId: ID!) {{
  subscriptionContractCancel(subscriptionContractId: $contractId) {{
    contract {{ id status }}
    {_USER_ERRORS}
  }}
}}
"""

CONTRACT_UPDATE_MUTATION = f"""
mutation SubscriptionContractUpdate($contractId: ID!) {{
  subscriptionContractUpdate(contractId: $contractId) {{
    draft {{ id }}
    {_USER_ERRORS}
  }}
}}
"""

DRAFT_UPDATE_MUTATION = f"""
mutation SubscriptionDraftUpdate($draftId: ID!, $input: SubscriptionDraftInput!) {{
  subscriptionDraftUpdate(draftId: $draftId, input: $input) {{
    draft {{ id }}
    {_USER_ERRORS}
  }}
}}
"""

DRAFT_LINE_UPDATE_MUTATION = f"""
mutation SubscriptionDraftLineUpdate($draftId: ID!, $lineId: ID!, $input: SubscriptionLineUpdateInput!) {{
  subscriptionDraftLineUpdate(draftId: $draftId, lineId: $lineId, input: $input) {{
    lineUpdated {{ id quantity sellingPlanId }}
    {_USER_ERRORS}
  }}
}}
"""  # noqa: E501

DRAFT_DISCOUNT_ADD_MUTATION = f"""
mutation SubscriptionDraftDiscountAdd($draftId: ID!, $input: SubscriptionManualDiscountInput!) {{
  subscriptionDraftDiscountAdd(draftId: $draftId, input: $input) {{
    discountAdded {{ id }}
    {_USER_ERRORS}
  }}
}}
"""

DRAFT_COMMIT_MUTATION = f"""
mutation SubscriptionDraftCommit($draftId: ID!) {{
  subscriptionDraftCommit(draftId: $draftId) {{
    contract {{ id status }}
    {_USER_ERRORS}
  }}
}}
"""

EDITABLE_CONTRACT_QUERY = """
query SubscriptionEditableContract($id: ID!) {
  subscriptionContract(id: $id) {
    id
    status
    nextBillingDate
    customer { id }
    billingPolicy { interval intervalCount }
    deliveryPolicy { interval intervalCount }
    lines(first: 50) {
      nodes { id title quantity sellingPlanId sellingPlanName variantId currentPrice { amount currencyCode } }
    }
  }
}
"""  # noqa: E501

PAYMENT_METHOD_QUERY = """
query SubscriptionPaymentMethod($id: ID!) {
  subscriptionContract(id: $id) {
    id
    customer { id }
    customerPaymentMethod { id }
  }
}
"""

# Shopify emails the customer a secure link to update this card (needs `write_customers`).
SEND_UPDATE_EMAIL_MUTATION = """
mutation CustomerPaymentMethodSendUpdateEmail($customerPaymentMethodId: ID!) {
  customerPaymentMethodSendUpdateEmail(customerPaymentMethodId: $customerPaymentMethodId) {
    customer { id }
    userErrors { field message }
  }
}
"""

UPCOMING_CYCLES_QUERY = """
query SubscriptionUpcomingCycles($contractId: ID!, $startDate: DateTime!, $endDate: DateTime!) {
  subscriptionBillingCycles(contractId: $contractId, first: 6, billingCyclesDateRangeSelector: {startDate: $startDate, endDate: $endDate}) {
    nodes { cycleIndex billingAttemptExpectedDate skipped }
  }
}
"""  # noqa: E501

PLAN_CHOICES_QUERY = """
query SellingPlanChoices($variantId: ID!) {
  productVariant(id: $variantId) {
    sellingPlanGroups(first: 10) {
      nodes {
        sellingPlans(first: 20) {
          nodes {
            id
            name
            billingPolicy { ... on SellingPlanRecurringBillingPolicy { interval intervalCount } }
            deliveryPolicy { ... on SellingPlanRecurringDeliveryPolicy { interval intervalCount } }
          }
        }
      }
    }
  }
}
"""

# Shopify's codes turned into what a subscriber can act on; anything else keeps Shopify's words.
_PLAIN: dict[str, str] = {
    "CONTRACT_TERMINATED": "This subscription has ended and can no longer be changed.",
    "CONTRACT_STALE_STATUS": "This subscription has been inactive too long to be changed here.",
    "CONCURRENT_CONTRACT_UPDATE": (
        "Your subscription was changed by someone else a moment ago. Nothing was changed "
        "now: please look at it again and retry."
    ),
    "STALE_CONTRACT": (
        "Your subscription was changed by someone else a moment ago. Nothing was changed "
        "now: please look at it again and retry."
    ),
    "BILLING_CYCLE_SKIPPED": "That delivery is already skipped.",
    "BILLING_CYCLE_CHARGED": "That delivery has already been charged and cannot be skipped.",
    "INVALID_CYCLE_INDEX": "That delivery could not be found.",
    "BILLING_CYCLE_ABSENT": "That delivery could not be found.",
    "GREATER_THAN_OR_EQUAL_TO": "The quantity must be at least 1.",
}
CHANGED_MEANWHILE = frozenset({"CONCURRENT_CONTRACT_UPDATE", "STALE_CONTRACT"})


class ContractEditRefused(ShopifyError):
    """Shopify refused a change (user errors) or answered in a shape we cannot use.

    `message` is for the subscriber; `detail` is Shopify's own wording (logs, records)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.detail = detail or message

    @property
    def changed_meanwhile(self) -> bool:
        return self.code in CHANGED_MEANWHILE


@dataclass(frozen=True)
class Cadence:
    """A delivery rhythm: every `count` `interval`s (interval in Shopify's upper case)."""

    interval: str
    count: int

    def as_input(self) -> dict[str, Any]:
        return {"interval": self.interval, "intervalCount": self.count}


@dataclass(frozen=True)
class PlanChoice:
    selling_plan_gid: str
    name: str
    billing: Cadence
    delivery: Cadence


@dataclass(frozen=True)
class ContractLine:
    gid: str
    title: str | None
    quantity: int
    selling_plan_gid: str | None
    selling_plan_name: str | None
    variant_gid: str | None
    price: str
    currency: str


@dataclass(frozen=True)
class BillingCycle:
    index: int
    expected_at: datetime
    skipped: bool


@dataclass(frozen=True)
class EditableContract:
    gid: str
    status: str  # lower case, as the webhooks spell it
    customer_gid: str | None
    next_billing_at: datetime | None
    billing: Cadence
    delivery: Cadence
    lines: tuple[ContractLine, ...]


def _user_errors(payload: dict[str, Any]) -> None:
    errors = payload.get("userErrors") or []
    if not errors:
        return
    first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    code = first.get("code")
    field_path = first.get("field")
    detail = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    message = _PLAIN.get(str(code), "") or (
        f"Shopify could not make this change: {first.get('message') or 'unknown error'}."
    )
    raise ContractEditRefused(
        message,
        code=str(code) if code else None,
        field=".".join(str(p) for p in field_path) if isinstance(field_path, list) else None,
        detail=detail,
    )


def _payload(data: dict[str, Any], root: str) -> dict[str, Any]:
    payload = data.get(root)
    if not isinstance(payload, dict):
        raise ContractEditRefused(
            "Shopify did not confirm the change. Nothing was changed; please try again.",
            detail=f"{root} answered without a payload",
        )
    _user_errors(payload)
    return payload


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _cadence(policy: Any) -> Cadence | None:
    if not isinstance(policy, dict) or "interval" not in policy:
        return None
    return Cadence(str(policy["interval"]).upper(), int(policy["intervalCount"]))


class ContractEditor:
    """One shop's contract changes, through that shop's Admin GraphQL client."""

    def __init__(self, client: AdminGraphQL) -> None:
        self.client = client

    # ---- reads -------------------------------------------------------------------------------

    async def contract(self, contract_gid: str) -> EditableContract | None:
        data = await self.client.query(EDITABLE_CONTRACT_QUERY, {"id": contract_gid})
        node = data.get("subscriptionContract")
        if not isinstance(node, dict):
            return None
        billing = _cadence(node.get("billingPolicy"))
        delivery = _cadence(node.get("deliveryPolicy"))
        if billing is None or delivery is None:
            raise ContractEditRefused(
                "This subscription cannot be changed here.", detail="contract without policies"
            )
        lines = tuple(
            ContractLine(
                gid=str(line["id"]),
                title=line.get("title"),
                quantity=int(line["quantity"]),
                selling_plan_gid=line.get("sellingPlanId"),
                selling_plan_name=line.get("sellingPlanName"),
                variant_gid=line.get("variantId"),
                price=str((line.get("currentPrice") or {}).get("amount", "0")),
                currency=str((line.get("currentPrice") or {}).get("currencyCode", "")),
            )
            for line in (node.get("lines") or {}).get("nodes") or []
        )
        return EditableContract(
            gid=str(node["id"]),
            status=str(node.get("status", "")).lower(),
            customer_gid=(node.get("customer") or {}).get("id"),
            next_billing_at=_moment(node.get("nextBillingDate")),
            billing=billing,
            delivery=delivery,
            lines=lines,
        )

    async def upcoming_cycles(
        self, contract_gid: str, start: datetime, end: datetime
    ) -> list[BillingCycle]:
        data = await self.client.query(
            UPCOMING_CYCLES_QUERY,
            {
                "contractId": contract_gid,
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
            },
        )
        nodes = (data.get("subscriptionBillingCycles") or {}).get("nodes") or []
        cycles = [
            BillingCycle(int(n["cycleIndex"]), moment, bool(n.get("skipped")))
            for n in nodes
            if (moment := _moment(n.get("billingAttemptExpectedDate"))) is not None
        ]
        return sorted(cycles, key=lambda c: c.index)

    async def plan_choices(self, line: ContractLine) -> list[PlanChoice]:
        """The selling plans of the group the line was bought through (its frequency options);
        empty when the line has no plan or the group cannot be found."""
        if line.variant_gid is None or line.selling_plan_gid is None:
            return []
        data = await self.client.query(PLAN_CHOICES_QUERY, {"variantId": line.variant_gid})
        groups = ((data.get("productVariant") or {}).get("sellingPlanGroups") or {}).get(
            "nodes"
        ) or []
        for group in groups:
            plans = (group.get("sellingPlans") or {}).get("nodes") or []
            if not any(p.get("id") == line.selling_plan_gid for p in plans):
                continue
            choices = []
            for plan in plans:
                billing = _cadence(plan.get("billingPolicy"))
                delivery = _cadence(plan.get("deliveryPolicy"))
                if billing is not None and delivery is not None:
                    choices.append(
                        PlanChoice(str(plan["id"]), str(plan["name"]), billing, delivery)
                    )
            return choices
        return []

    # ---- direct mutations -------------------------------------------------------------------

    async def skip_cycle(self, contract_gid: str, index: int) -> None:
        data = await self.client.query(SKIP_MUTATION, {"contractId": contract_gid, "index": index})
        _payload(data, "subscriptionBillingCycleSkip")

    async def unskip_cycle(self, contract_gid: str, index: int) -> None:
        data = await self.client.query(
            UNSKIP_MUTATION, {"contractId": contract_gid, "index": index}
        )
        _payload(data, "subscriptionBillingCycleUnskip")

    async def pause(self, contract_gid: str) -> None:
        data = await self.client.query(PAUSE_MUTATION, {"contractId": contract_gid})
        _payload(data, "subscriptionContractPause")

    async def resume(self, contract_gid: str) -> None:
        data = await self.client.query(ACTIVATE_MUTATION, {"contractId": contract_gid})
        _payload(data, "subscriptionContractActivate")

    async def cancel(self, contract_gid: str) -> None:
        data = await self.client.query(CANCEL_MUTATION, {"contractId": contract_gid})
        _payload(data, "subscriptionContractCancel")

    # ---- draft edits -------------------------------------------------------------------------

    async def change_plan(self, contract: EditableContract, choice: PlanChoice) -> None:
        """Move to another plan of the same group: its billing and delivery rhythm on the
        contract, its id and name on every line bought through the old plan."""
        draft = await self._open_draft(contract.gid)
        await self._draft_update(
            draft,
            {
                "billingPolicy": choice.billing.as_input(),
                "deliveryPolicy": choice.delivery.as_input(),
            },
        )
        for line in contract.lines:
            if line.selling_plan_gid is not None:
                await self._line_update(
                    draft,
                    line.gid,
                    {"sellingPlanId": choice.selling_plan_gid, "sellingPlanName": choice.name},
                )
        await self._commit(draft)

    async def set_quantity(self, contract_gid: str, line_gid: str, quantity: int) -> None:
        draft = await self._open_draft(contract_gid)
        await self._line_update(draft, line_gid, {"quantity": quantity})
        await self._commit(draft)

    async def add_discount(
        self, contract_gid: str, *, percentage: int, orders: int, title: str
    ) -> None:
        """A percentage off every line for the next `orders` orders."""
        draft = await self._open_draft(contract_gid)
        data = await self.client.query(
            DRAFT_DISCOUNT_ADD_MUTATION,
            {
                "draftId": draft,
                "input": {
                    "title": title,
                    "value": {"percentage": percentage},
                    "recurringCycleLimit": orders,
                    "entitledLines": {"all": True},
                },
            },
        )
        _payload(data, "subscriptionDraftDiscountAdd")
        await self._commit(draft)

    async def send_payment_update_email(self, contract_gid: str, customer_gid: str) -> None:
        """Have Shopify email the customer a secure link to update the contract's card.
        `customer_gid` is who is asking: a contract of anyone else is refused."""
        data = await self.client.query(PAYMENT_METHOD_QUERY, {"id": contract_gid})
        node = data.get("subscriptionContract")
        method = (node.get("customerPaymentMethod") or {}).get("id") if node else None
        if not node or (node.get("customer") or {}).get("id") != customer_gid:
            raise ContractEditRefused(
                "This subscription could not be found.", code="not_found", detail="no contract"
            )
        if not isinstance(method, str):
            raise ContractEditRefused(
                "There is no saved card on this subscription to update. Please contact the store.",
                code="no_payment_method",
                detail="contract without customerPaymentMethod",
            )
        data = await self.client.query(
            SEND_UPDATE_EMAIL_MUTATION, {"customerPaymentMethodId": method}
        )
        _payload(data, "customerPaymentMethodSendUpdateEmail")

    async def set_next_billing_date(self, contract_gid: str, when: date) -> None:
        draft = await self._open_draft(contract_gid)
        await self._draft_update(draft, {"nextBillingDate": f"{when.isoformat()}T00:00:00Z"})
        await self._commit(draft)

    async def _open_draft(self, contract_gid: str) -> str:
        data = await self.client.query(CONTRACT_UPDATE_MUTATION, {"contractId": contract_gid})
        payload = _payload(data, "subscriptionContractUpdate")
        draft = (payload.get("draft") or {}).get("id")
        if not isinstance(draft, str):
            raise ContractEditRefused(
                "Shopify did not open the subscription for changes. Nothing was changed.",
                detail="subscriptionContractUpdate returned no draft",
            )
        return draft

    async def _draft_update(self, draft: str, values: dict[str, Any]) -> None:
        data = await self.client.query(DRAFT_UPDATE_MUTATION, {"draftId": draft, "input": values})
        _payload(data, "subscriptionDraftUpdate")

    async def _line_update(self, draft: str, line_gid: str, values: dict[str, Any]) -> None:
        data = await self.client.query(
            DRAFT_LINE_UPDATE_MUTATION, {"draftId": draft, "lineId": line_gid, "input": values}
        )
        _payload(data, "subscriptionDraftLineUpdate")

    async def _commit(self, draft: str) -> None:
        data = await self.client.query(DRAFT_COMMIT_MUTATION, {"draftId": draft})
        _payload(data, "subscriptionDraftCommit")
