"""The fake Admin API's selling plan groups and billing, mixed into `FakeShopify`.

Behaves like Shopify where our code depends on it:
- selling plan groups: create (with products and variants, atomically), update (plans created,
  updated, deleted in one go), add/remove products and variants; user errors for a blank
  name, more than 31 plans, duplicate plan names, unknown products or variants, an unknown
  group; `refuse_next(operation, …)` scripts a user error for the next call of an operation.
- billing cycles of a contract: cycle 1 falls on the contract's `next_billing_date`, cycle k
  k−1 billing intervals later; `skip_cycle()` skips one; `subscriptionBillingCycles` answers
  a date range.
- `subscriptionBillingAttemptCreate`: the idempotency key returns the attempt it created
  before (never a second one); paused and terminated contracts and skipped cycles are refused
  with Shopify's codes; `decline(contract, codes…)` makes the next attempts fail with those
  error codes; `script(contract, outcomes…)` scripts the next attempts' outcomes in full (the
  demo's simulation decides whether each charge succeeds); `lose_next_response()` creates the
  attempt and then drops the answer (a network failure after Shopify acted).
  `attempt_events()` gives each new attempt's webhook.
- `reanchor(contract, at, index)`: the contract's cycles from `index` on fall one billing
  interval apart from `at` (a resume or a frequency change moves the schedule on).
- `subscriptionContractPause` / `subscriptionContractCancel`; `contract_webhook()` is the
  `subscription_contracts/*` webhook Shopify sends after a contract changed.
"""

from __future__ import annotations

import calendar
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from plugin.demo import payloads as shapes

if TYPE_CHECKING:
    from plugin.shopify.fake.admin_api import FakeContract

MAX_PLANS = 31
TERMINATED = {"CANCELLED", "EXPIRED", "FAILED"}


@dataclass
class FakeGroup:
    gid: str
    name: str
    merchant_code: str | None
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # gid -> input (with id)
    products: set[str] = field(default_factory=set)
    variants: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ScriptedOutcome:
    """What one billing attempt of a contract will do, scripted before it is made."""

    error_code: str | None = None  # None: the charge goes through
    order_id: int | None = None  # the order a success creates (default: a new id)
    challenged: bool = False  # 3-D Secure: a `challenged` webhook comes before the success
    # Whoever scripted it may say when the answer should come (the demo: simulated time).
    at: datetime | None = None
    settled_at: datetime | None = None  # a challenged attempt's success


@dataclass
class FakeAttempt:
    number: int
    contract: FakeContract
    idempotency_key: str
    cycle_index: int
    error_code: str | None
    order_id: int | None
    delivered: bool = False
    scripted: ScriptedOutcome | None = None

    @property
    def gid(self) -> str:
        return f"gid://shopify/SubscriptionBillingAttempt/{self.number}"

    def webhook(self) -> tuple[str, dict[str, Any]]:
        return self._webhook("failure" if self.error_code else "success")

    def challenge_webhook(self) -> tuple[str, dict[str, Any]]:
        """The `challenged` webhook that comes first when the bank asks for 3-D Secure."""
        return self._webhook("challenged")

    def _webhook(self, outcome: str) -> tuple[str, dict[str, Any]]:
        return shapes.billing_attempt_webhook(
            outcome,
            attempt_id=self.number,
            contract_id=self.contract.contract_id,
            idempotency_key=self.idempotency_key,
            order_id=self.order_id,
            error_code=self.error_code,
        )


def contract_webhook(contract: FakeContract) -> tuple[str, dict[str, Any]]:
    """The `subscription_contracts/*` webhook Shopify sends for the contract as it is now."""
    status = contract.status.lower()
    topic = {
        "active": "activate",
        "paused": "pause",
        "cancelled": "cancel",
        "expired": "expire",
        "failed": "fail",
    }[status]
    interval, count = contract.billing
    body = shapes.contract(
        contract_id=contract.contract_id,
        customer_id=contract.customer_id,
        status=status,
        currency=contract.currency,
        interval=interval.lower(),
        interval_count=count,
        max_cycles=contract.max_cycles,
        origin_order_id=contract.origin_order_id or 0,
        revision_id=contract.revision,
    )
    return f"subscription_contracts/{topic}", body


def _user_error(field: list[str] | None, message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def _add_interval(start: datetime, interval: str, count: int) -> datetime:
    if interval == "DAY":
        return start + timedelta(days=count)
    if interval == "WEEK":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "YEAR" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def cycle_date(contract: FakeContract, index: int) -> datetime:
    assert contract.next_billing_date is not None
    anchor = datetime.fromisoformat(contract.next_billing_date.replace("Z", "+00:00"))
    interval, count = contract.billing
    return _add_interval(anchor, interval, count * (index - contract.anchor_index))


class LostAnswer(Exception):
    """Raised by a handler that acted: `FakeShopify` turns it into a network error."""


class FakeBillingMixin:
    """State and GraphQL handlers; `FakeShopify.__init__` calls `_init_billing()`."""

    contracts: dict[str, dict[str, FakeContract]]
    _refusals: dict[str, deque[dict[str, Any]]]

    def _init_billing(self) -> None:
        self.groups: dict[str, dict[str, FakeGroup]] = {}  # shop -> gid -> group
        self.products: set[str] = set()
        self.variants: set[str] = set()
        self.attempts: list[FakeAttempt] = []
        self.skipped: set[tuple[str, int]] = set()  # (contract gid, cycle index)
        self.billed: set[tuple[str, int]] = set()
        self._declines: dict[str, deque[ScriptedOutcome]] = {}
        self._attempt_by_key: dict[tuple[str, str], FakeAttempt] = {}
        self._lose_responses = 0
        self._gids = itertools.count(9_000_001)

    # ---- set-up ------------------------------------------------------------------------------

    def add_products(self, *numbers: int, variants_each: int = 1) -> list[str]:
        """Products (and `variants_each` variants of each, numbered product*100+i)."""
        gids = []
        for n in numbers:
            gids.append(f"gid://shopify/Product/{n}")
            self.products.add(gids[-1])
            for i in range(1, variants_each + 1):
                self.variants.add(f"gid://shopify/ProductVariant/{n * 100 + i}")
        return gids

    def skip_cycle(self, contract_gid: str, index: int) -> None:
        self.skipped.add((contract_gid, index))

    def decline(self, contract_gid: str, *error_codes: str) -> None:
        self.script(contract_gid, *(ScriptedOutcome(code) for code in error_codes))

    def script(self, contract_gid: str, *outcomes: ScriptedOutcome) -> None:
        """The contract's next attempts do this, in order; then they succeed."""
        self._declines.setdefault(contract_gid, deque()).extend(outcomes)

    def scripted_left(self) -> dict[str, list[ScriptedOutcome]]:
        """Scripted outcomes no attempt has used yet, by contract GID."""
        return {gid: list(queue) for gid, queue in self._declines.items() if queue}

    def reanchor(self, contract_gid: str, at: datetime, index: int, shop: str) -> None:
        """Cycles from `index` on are due from `at`, one billing interval apart; the earlier
        schedule's unbilled cycles from `index` on are gone (as after a resume or an edit)."""
        contract = self.contracts[shop][contract_gid]
        contract.next_billing_date = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        contract.anchor_index = index

    def lose_next_response(self) -> None:
        self._lose_responses += 1

    def attempt_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Webhooks of the attempts not yet delivered (each once), oldest first."""
        events = []
        for attempt in self.attempts:
            if not attempt.delivered:
                attempt.delivered = True
                events.append(attempt.webhook())
        return events

    def attempts_for(self, contract_gid: str) -> list[FakeAttempt]:
        return [a for a in self.attempts if a.contract.gid == contract_gid]

    # ---- handlers ----------------------------------------------------------------------------

    def billing_handlers(self) -> dict[str, Any]:
        return {
            "SellingPlanGroupCreate": self._group_create,
            "SellingPlanGroupUpdate": self._group_update,
            "SellingPlanGroupAddProducts": self._resources("products", "add"),
            "SellingPlanGroupRemoveProducts": self._resources("products", "remove"),
            "SellingPlanGroupAddProductVariants": self._resources("variants", "add"),
            "SellingPlanGroupRemoveProductVariants": self._resources("variants", "remove"),
            "SubscriptionBillingCycles": self._cycles,
            "SubscriptionBillingAttemptCreate": self._attempt_create,
        }

    def _refused(self, operation: str) -> dict[str, Any] | None:
        queued = self._refusals.get(operation)
        return queued.popleft() if queued else None

    def _new_gid(self, kind: str) -> str:
        return f"gid://shopify/{kind}/{next(self._gids)}"

    def _group_doc(self, group: FakeGroup) -> dict[str, Any]:
        return {
            "id": group.gid,
            "sellingPlans": {
                "nodes": [{"id": gid, "name": plan["name"]} for gid, plan in group.plans.items()]
            },
        }

    def _check_plans(self, plans: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(plans) > MAX_PLANS:
            return _user_error(
                ["input", "sellingPlansToCreate"],
                f"Selling plans count must be less than or equal to {MAX_PLANS}",
                "SELLING_PLAN_COUNT_UPPER_BOUND",
            )
        names = [p.get("name") for p in plans]
        if len(set(names)) != len(names):
            return _user_error(
                ["input", "sellingPlansToCreate"], "Selling plan names must be unique", "TAKEN"
            )
        for plan in plans:
            if plan.get("category") != "SUBSCRIPTION" or not plan.get("billingPolicy"):
                return _user_error(["input"], "Selling plan is invalid", "INVALID")
        return None

    def _unknown(self, kind: str, gids: list[str]) -> dict[str, Any] | None:
        known = self.products if kind == "products" else self.variants
        missing = [g for g in gids if g not in known]
        if not missing:
            return None
        what = "Product" if kind == "products" else "Product variant"
        key = "productIds" if kind == "products" else "productVariantIds"
        return _user_error([key], f"{what} {missing[0]} does not exist", "NOT_FOUND")

    def _group_create(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        def refused(error: dict[str, Any]) -> dict[str, Any]:
            return {"sellingPlanGroupCreate": {"sellingPlanGroup": None, "userErrors": [error]}}

        if error := self._refused("sellingPlanGroupCreate"):
            return refused(error)
        group_input = variables.get("input") or {}
        resources = variables.get("resources") or {}
        if not str(group_input.get("name") or "").strip():
            return refused(_user_error(["input", "name"], "Name can't be blank", "BLANK"))
        plans = group_input.get("sellingPlansToCreate") or []
        error = (
            self._check_plans(plans)
            or self._unknown("products", resources.get("productIds") or [])
            or self._unknown("variants", resources.get("productVariantIds") or [])
        )
        if error:
            return refused(error)
        group = FakeGroup(self._new_gid("SellingPlanGroup"), group_input["name"], None)
        group.merchant_code = group_input.get("merchantCode")
        for plan in plans:
            group.plans[self._new_gid("SellingPlan")] = dict(plan)
        group.products |= set(resources.get("productIds") or [])
        group.variants |= set(resources.get("productVariantIds") or [])
        self.groups.setdefault(shop, {})[group.gid] = group
        return {
            "sellingPlanGroupCreate": {"sellingPlanGroup": self._group_doc(group), "userErrors": []}
        }

    def _group_update(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        def refused(error: dict[str, Any]) -> dict[str, Any]:
            return {
                "sellingPlanGroupUpdate": {
                    "sellingPlanGroup": None,
                    "deletedSellingPlanIds": None,
                    "userErrors": [error],
                }
            }

        if error := self._refused("sellingPlanGroupUpdate"):
            return refused(error)
        group = self.groups.get(shop, {}).get(variables.get("id", ""))
        if group is None:
            return refused(
                _user_error(["id"], "Selling plan group does not exist.", "GROUP_DOES_NOT_EXIST")
            )
        group_input = variables.get("input") or {}
        if "name" in group_input and not str(group_input["name"] or "").strip():
            return refused(_user_error(["input", "name"], "Name can't be blank", "BLANK"))
        plans = {gid: dict(p) for gid, p in group.plans.items()}
        deleted = list(group_input.get("sellingPlansToDelete") or [])
        for gid in deleted:
            if gid not in plans:
                return refused(_user_error(["input"], "Selling plan does not exist", "NOT_FOUND"))
            del plans[gid]
        for update in group_input.get("sellingPlansToUpdate") or []:
            if update.get("id") not in plans:
                return refused(_user_error(["input"], "Selling plan does not exist", "NOT_FOUND"))
            plans[update["id"]] |= update
        created = group_input.get("sellingPlansToCreate") or []
        error = self._check_plans([*plans.values(), *created])
        if error:
            return refused(error)
        for plan in created:
            plans[self._new_gid("SellingPlan")] = dict(plan)
        # All checks passed: apply at once, as Shopify does.
        group.plans = plans
        group.name = group_input.get("name", group.name)
        group.merchant_code = group_input.get("merchantCode", group.merchant_code)
        return {
            "sellingPlanGroupUpdate": {
                "sellingPlanGroup": self._group_doc(group),
                "deletedSellingPlanIds": deleted,
                "userErrors": [],
            }
        }

    def _resources(self, kind: str, verb: str) -> Any:
        key = "productIds" if kind == "products" else "productVariantIds"
        noun = "Products" if kind == "products" else "ProductVariants"
        field_name = f"sellingPlanGroup{verb.capitalize()}{noun}"

        def handler(shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
            gids = list(variables.get(key) or [])
            result_key = "sellingPlanGroup" if verb == "add" else f"removed{noun[:-1]}Ids"

            def refused(error: dict[str, Any]) -> dict[str, Any]:
                return {field_name: {result_key: None, "userErrors": [error]}}

            if error := self._refused(field_name):
                return refused(error)
            group = self.groups.get(shop, {}).get(variables.get("id", ""))
            if group is None:
                return refused(
                    _user_error(
                        ["id"], "Selling plan group does not exist.", "GROUP_DOES_NOT_EXIST"
                    )
                )
            if error := self._unknown(kind, gids):
                return refused(error)
            held = group.products if kind == "products" else group.variants
            if verb == "add":
                held |= set(gids)
                return {field_name: {"sellingPlanGroup": {"id": group.gid}, "userErrors": []}}
            held -= set(gids)
            return {field_name: {result_key: gids, "userErrors": []}}

        return handler

    def _contract_of(self, shop: str, gid: str) -> FakeContract | None:
        return self.contracts.get(shop, {}).get(gid)

    def _cycles(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        contract = self._contract_of(shop, variables.get("contractId", ""))
        if contract is None or contract.next_billing_date is None:
            return {"subscriptionBillingCycles": {"nodes": []}}
        start = datetime.fromisoformat(variables["startDate"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(variables["endDate"].replace("Z", "+00:00"))
        nodes = []
        for index in range(contract.anchor_index, contract.anchor_index + 200):
            when = cycle_date(contract, index)
            if when > end:
                break
            if when < start:
                continue
            nodes.append(
                {
                    "cycleIndex": index,
                    "billingAttemptExpectedDate": when.astimezone(UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "skipped": (contract.gid, index) in self.skipped,
                    "status": "BILLED" if (contract.gid, index) in self.billed else "UNBILLED",
                }
            )
        return {"subscriptionBillingCycles": {"nodes": nodes}}

    def _attempt_create(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        def refused(error: dict[str, Any]) -> dict[str, Any]:
            return {
                "subscriptionBillingAttemptCreate": {
                    "subscriptionBillingAttempt": None,
                    "userErrors": [error],
                }
            }

        if error := self._refused("subscriptionBillingAttemptCreate"):
            return refused(error)
        attempt_input = variables.get("input") or {}
        key = str(attempt_input.get("idempotencyKey") or "")
        if not key:
            return refused(_user_error(["idempotencyKey"], "can't be blank", "BLANK"))
        earlier = self._attempt_by_key.get((str(variables.get("contractId")), key))
        if earlier is not None:
            return self._attempt_answer(earlier)
        contract = self._contract_of(shop, variables.get("contractId", ""))
        if contract is None:
            return refused(
                _user_error(["subscriptionContractId"], "Contract not found", "CONTRACT_NOT_FOUND")
            )
        if contract.status == "PAUSED":
            return refused(_user_error(None, "Contract is paused", "CONTRACT_PAUSED"))
        if contract.status in TERMINATED:
            return refused(_user_error(None, "Contract is terminated", "CONTRACT_TERMINATED"))
        index = int(((attempt_input.get("billingCycleSelector") or {}).get("index")) or 1)
        if (contract.gid, index) in self.skipped:
            return refused(_user_error(None, "Billing cycle is skipped", "BILLING_CYCLE_SKIPPED"))
        declines = self._declines.get(contract.gid)
        scripted = declines.popleft() if declines else None
        error_code = scripted.error_code if scripted else None
        number = next(self._gids)
        order_id = None if error_code else (scripted and scripted.order_id) or number + 1
        attempt = FakeAttempt(number, contract, key, index, error_code, order_id, False, scripted)
        self.attempts.append(attempt)
        self._attempt_by_key[(contract.gid, key)] = attempt
        if error_code is None:
            self.billed.add((contract.gid, index))
        if self._lose_responses:
            self._lose_responses -= 1
            raise LostAnswer("the answer was lost after the attempt was made")
        return self._attempt_answer(attempt)

    @staticmethod
    def _attempt_answer(attempt: FakeAttempt) -> dict[str, Any]:
        return {
            "subscriptionBillingAttemptCreate": {
                "subscriptionBillingAttempt": {
                    "id": attempt.gid,
                    "idempotencyKey": attempt.idempotency_key,
                    "ready": False,
                },
                "userErrors": [],
            }
        }


def local_noon(day: date) -> str:
    """A next-billing date at noon UTC on `day`, as FakeContract takes it."""
    return f"{day.isoformat()}T12:00:00Z"
