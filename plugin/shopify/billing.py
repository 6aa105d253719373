"""Billing a contract's cycles in Shopify: which cycles fall in a range, and charging one.

We charge with `subscriptionBillingAttemptCreate`, one contract and cycle at a time, because it
takes our idempotency key: Shopify answers a repeated key with the attempt it made the first
time instead of charging again. (`subscriptionBillingCycleBulkCharge` takes none, and retries
of failed cycles need one attempt each anyway; see docs/billing.md.) The attempt's outcome
arrives later as a `subscription_billing_attempts/*` webhook carrying the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plugin.shopify.graphql import AdminGraphQL
from plugin.shopify.mutations import mutate

CYCLES_PAGE = 50  # cycles in one contract's window: a daily plan over 7 + 32 days is 40

BILLING_CYCLES = f"""query SubscriptionBillingCycles(
  $contractId: ID!, $startDate: DateTime!, $endDate: DateTime!
) {{
  subscriptionBillingCycles(
    contractId: $contractId
    first: {CYCLES_PAGE}
    billingCyclesDateRangeSelector: {{startDate: $startDate, endDate: $endDate}}
  ) {{
    nodes {{ cycleIndex billingAttemptExpectedDate skipped status }}
  }}
}}"""

ATTEMPT_CREATE = """mutation SubscriptionBillingAttemptCreate(
  $contractId: ID!, $input: SubscriptionBillingAttemptInput!
) {
  subscriptionBillingAttemptCreate(
    subscriptionContractId: $contractId
    subscriptionBillingAttemptInput: $input
  ) {
    subscriptionBillingAttempt { id idempotencyKey ready }
    userErrors { field message code }
  }
}"""


@dataclass(frozen=True)
class BillingCycle:
    index: int
    expected_at: datetime
    skipped: bool
    billed: bool


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def billing_cycles(
    client: AdminGraphQL, contract_gid: str, start: datetime, end: datetime
) -> list[BillingCycle]:
    """The contract's cycles expected in [start, end] (UTC instants)."""
    data = await client.query(
        BILLING_CYCLES, {"contractId": contract_gid, "startDate": _utc(start), "endDate": _utc(end)}
    )
    nodes = ((data.get("subscriptionBillingCycles") or {}).get("nodes")) or []
    cycles = []
    for node in nodes:
        expected = _instant(node.get("billingAttemptExpectedDate"))
        if expected is None or not isinstance(node.get("cycleIndex"), int):
            continue
        cycles.append(
            BillingCycle(
                index=node["cycleIndex"],
                expected_at=expected,
                skipped=bool(node.get("skipped")),
                billed=node.get("status") == "BILLED",
            )
        )
    return cycles


async def create_attempt(
    client: AdminGraphQL, contract_gid: str, cycle_index: int, idempotency_key: str
) -> str:
    """Charge one cycle; the attempt's GID. `UserErrors` when Shopify refuses to try."""
    payload: dict[str, Any] = await mutate(
        client,
        ATTEMPT_CREATE,
        "subscriptionBillingAttemptCreate",
        {
            "contractId": contract_gid,
            "input": {
                "idempotencyKey": idempotency_key,
                "billingCycleSelector": {"index": cycle_index},
            },
        },
    )
    return str((payload.get("subscriptionBillingAttempt") or {}).get("id") or "")
