"""A fake Shopify Admin API, served in-process through `httpx.MockTransport`.

Tests use it as Shopify; the demo (`plugin.demo`) uses it as its shop's Admin API, so that the
demo goes through the real billing path with no network.

    fake = FakeShopify()
    fake.add_contract(contract_id=1, customer_id=10)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))   # or fake.client()
    runtime = await build_app_runtime(make_settings(db_url), http=http)

Tests' SHOPIFY_ADMIN_ORIGIN is `http://fake-shopify.test/{shop}`, so every URL here starts with
`/{shop}/admin/...`. What it does, like Shopify:
- token endpoint: token exchange (verifies the id token's HS256 signature, `aud` and `dest`, and
  the client credentials) and the refresh grant (a refresh token stays usable until its
  replacement is used); answers `invalid_subject_token`, `invalid_grant`, `invalid_client`.
- GraphQL: `X-Shopify-Access-Token` checked per shop (401 otherwise); `subscriptionContract`
  with paginated lines; bulk operations (run, poll through `node(id:)`, a streamed JSONL result
  at a URL served by this same transport); cost extensions on every answer.
- scripted faults, consumed in order: THROTTLED answers, 429 with Retry-After, 5xx, network
  errors (`throttle()`, `rate_limit()`, `server_error()`, `network_error()`).
- contract changes (`plugin.shopify.contract_edits`): billing-cycle skip and unskip, pause,
  activate, cancel, contract drafts (open, update, line update, discount add, commit; applied
  only at commit, refused with CONCURRENT_CONTRACT_UPDATE when the contract changed after the
  draft was opened), upcoming billing cycles and selling plan choices. `changes` lists every
  applied change; `refuse_next()` scripts a user error; `change_contract_before_next_commit()`
  simulates a concurrent edit.
- `requests` logs every request (method, URL, headers, body) for assertions; `issued` lists
  every token handed out; `serve_next_bulk()` sets the next bulk result to any objects;
  `token_latency` slows the token endpoint to open race windows.
Tokens look like `fake-at-…` / `fake-rt-…`, deliberately not like `shpat_…`, so that the app's
log redaction cannot hide a leak from a test that searches logs for them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import jwt

from plugin.shopify.fake.billing import FakeBillingMixin, LostAnswer

# The shop and app credentials the fake knows by default (tests.support.signing signs with them).
SHOP = "valuehealth-test.myshopify.com"
API_KEY = "test-api-key"
API_SECRET = "test-api-secret-current-0123456789abcdef"  # noqa: S105 (a fake, public)
BASE_URL = "http://fake-shopify.test"
DEFAULT_SCOPE = "read_customers,read_orders,read_own_subscription_contracts"
BUCKET_SIZE = 2000.0
RESTORE_RATE = 100.0
QUERY_COST = 12

FLOW_HANDLES = (
    "nps-survey-ready",
    "value-segment-entered",
    "nps-answered",
    "cancel-reason-given",
    "initiative-started",
    "initiative-ended",
    "subscription-payment-failed",
    "subscription-dunning-ended",
)
FLOW_PAYLOAD_LIMIT = 50_000
# Operations that need a scope the default grant lacks: without it Shopify answers ACCESS_DENIED.
WRITE_SCOPES = {
    "MetafieldDefinitionCreate": "write_customers",
    "MetafieldsSet": "write_customers",
    "MetafieldsDelete": "write_customers",
    "TagsAdd": "write_customers",
    "TagsRemove": "write_customers",
    "CustomerPaymentMethodSendUpdateEmail": "write_customers",
}

FaultTarget = Literal["graphql", "token"]
_OPERATION = re.compile(r"^\s*(query|mutation)\s+(\w+)")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeLine:
    price: str = "25.00"
    quantity: int = 1
    selling_plan_name: str | None = "Monthly box"
    selling_plan_id: int | None = 7001  # a plan of `add_selling_plan_group`, when tests add one
    variant_id: int = 8001
    title: str = "Coffee beans"


@dataclass
class FakeContract:
    contract_id: int
    customer_id: int
    status: str = "ACTIVE"
    currency: str = "USD"
    lines: list[FakeLine] = field(default_factory=lambda: [FakeLine()])
    billing: tuple[str, int] = ("MONTH", 1)
    delivery: tuple[str, int] = ("MONTH", 1)
    next_billing_date: str | None = "2026-06-01T12:00:00Z"
    origin_order_id: int | None = None
    delivery_price: str = "4.95"  # present so tests can prove it is not in the recurring amount
    # Self-service state: the index of the next billing cycle, skipped cycles, the revision a
    # draft must still match at commit, manual discounts added through drafts.
    next_cycle_index: int = 4
    skipped: set[int] = field(default_factory=set)
    revision: int = 1
    discounts: list[dict[str, Any]] = field(default_factory=list)
    # Billing (plugin.shopify.fake.billing): cycle `anchor_index` falls on next_billing_date.
    anchor_index: int = 1
    max_cycles: int | None = None
    # The customer's vaulted card the contract charges (None: the contract has none).
    payment_method_id: str | None = "b7cc6e3267aace169e516ed48be72dff"

    @property
    def gid(self) -> str:
        return f"gid://shopify/SubscriptionContract/{self.contract_id}"

    def node(self) -> dict[str, Any]:
        return {
            "id": self.gid,
            "status": self.status,
            "currencyCode": self.currency,
            "nextBillingDate": self.next_billing_date,
            "customer": {"id": f"gid://shopify/Customer/{self.customer_id}"},
            "originOrder": (
                {"id": f"gid://shopify/Order/{self.origin_order_id}"}
                if self.origin_order_id
                else None
            ),
            "billingPolicy": {"interval": self.billing[0], "intervalCount": self.billing[1]},
            "deliveryPolicy": {"interval": self.delivery[0], "intervalCount": self.delivery[1]},
            "deliveryPrice": {"amount": self.delivery_price, "currencyCode": self.currency},
        }

    def line_nodes(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.line_gid(i),
                "quantity": line.quantity,
                "sellingPlanId": (
                    f"gid://shopify/SellingPlan/{line.selling_plan_id}"
                    if line.selling_plan_id is not None
                    else None
                ),
                "sellingPlanName": line.selling_plan_name,
                "currentPrice": {"amount": line.price, "currencyCode": self.currency},
            }
            for i, line in enumerate(self.lines, start=1)
        ]

    def line_gid(self, number: int) -> str:
        return f"gid://shopify/SubscriptionLine/{self.contract_id}-{number}"

    def cycles(self, count: int) -> list[dict[str, Any]]:
        """The next `count` billing cycles from the next one, a billing interval apart."""
        start = datetime.fromisoformat(str(self.next_billing_date).replace("Z", "+00:00"))
        unit, every = self.billing
        return [
            {
                "cycleIndex": self.next_cycle_index + k,
                "billingAttemptExpectedDate": _step(start, unit, every * k)
                .isoformat()
                .replace("+00:00", "Z"),
                "skipped": self.next_cycle_index + k in self.skipped,
            }
            for k in range(count)
        ]


def _step(start: datetime, unit: str, n: int) -> datetime:
    if unit == "DAY":
        return start + timedelta(days=n)
    if unit == "WEEK":
        return start + timedelta(weeks=n)
    months = n * (12 if unit == "YEAR" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    return start.replace(year=start.year + year, month=month + 1, day=min(start.day, 28))


@dataclass
class _Draft:
    gid: str
    shop: str
    contract_gid: str
    base_revision: int
    policy: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    discounts: list[dict[str, Any]] = field(default_factory=list)
    committed: bool = False


@dataclass
class _Fault:
    kind: Literal["throttled", "429", "5xx", "network"]
    target: FaultTarget
    status: int = 503
    retry_after: float = 1.0
    requested: float = 100.0
    available: float = 0.0
    restore_rate: float = RESTORE_RATE


@dataclass
class _BulkOperation:
    gid: str
    shop: str
    jsonl: list[str]
    polls_left: int
    error_code: str | None = None
    status: str = "CREATED"
    kind: str = "QUERY"  # or MUTATION: Shopify runs one of each at a time per shop


class FakeShopify(FakeBillingMixin):
    """An `httpx.MockTransport` handler; state lives on the instance (see module docstring)."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        scope: str = DEFAULT_SCOPE,
        access_token_ttl: int = 3600,
        refresh_token_ttl: int = 90 * 86400,
        bulk_polls: int = 2,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.scope = scope
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.bulk_polls = bulk_polls  # status polls answered RUNNING before COMPLETED
        self.token_latency = 0.0  # seconds the token endpoint takes (to widen race windows)
        self.contracts: dict[str, dict[str, FakeContract]] = {}
        self.access_tokens: dict[str, str] = {}  # token -> shop
        self.refresh_tokens: dict[str, str] = {}  # token -> shop
        self._replaced_by: dict[str, str] = {}  # refresh token -> its successor
        self.issued: list[str] = []  # every access and refresh token ever handed out
        self.bulk_operations: dict[str, _BulkOperation] = {}
        self.bulk_chunks_served = 0
        self.requests: list[LoggedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._bulk_failure: str | None = None
        self._bulk_objects: list[dict[str, Any]] | None = None
        self._ids = itertools.count(1)
        self._init_billing()  # selling plan groups and billing (plugin.shopify.fake.billing)
        # Customers: metafield definitions, metafields and tags the app wrote; staged uploads.
        self.metafield_definitions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.customer_metafields: dict[tuple[str, str], dict[tuple[str, str], tuple[str, str]]] = {}
        self.customer_tags: dict[tuple[str, str], set[str]] = {}
        self.staged_uploads: dict[str, bytes] = {}
        self._metafield_errors: dict[str, str] = {}  # owner id -> message of a user error
        # Flow: trigger handles deployed for the app, and every accepted firing.
        self.flow_handles: set[str] = set(FLOW_HANDLES)
        self.flow_triggers: list[tuple[str, str, dict[str, Any]]] = []  # (shop, handle, payload)
        # Contract changes (self-service, save offers): every applied change in order, as
        # (operation, contract GID, details); drafts by GID; scripted refusals by operation.
        self.changes: list[tuple[str, str, dict[str, Any]]] = []
        self.drafts: dict[str, _Draft] = {}
        self.selling_plan_groups: dict[str, list[list[dict[str, Any]]]] = {}
        self._refusals: dict[str, deque[dict[str, Any]]] = {}
        self._before_commit: deque[Callable[[], None]] = deque()
        # Card-update emails Shopify sent: (shop, customer payment method GID).
        self.payment_update_emails: list[tuple[str, str]] = []

    # ---- set-up -------------------------------------------------------------------------------

    def add_contract(
        self, shop: str = SHOP, *, contract_id: int, customer_id: int, **fields: Any
    ) -> str:
        """Add (or replace) a contract; returns its GID. Fields as in FakeContract."""
        contract = FakeContract(contract_id=contract_id, customer_id=customer_id, **fields)
        self.contracts.setdefault(shop, {})[contract.gid] = contract
        return contract.gid

    def grant_token(self, shop: str = SHOP) -> str:
        """An access token valid for the shop, as if exchanged earlier."""
        token = f"fake-at-{secrets.token_hex(12)}"
        self.access_tokens[token] = shop
        self.issued.append(token)
        return token

    def revoke_tokens(self, shop: str = SHOP) -> None:
        """Uninstall-like: every access and refresh token of the shop stops working."""
        for tokens in (self.access_tokens, self.refresh_tokens):
            for token in [t for t, s in tokens.items() if s == shop]:
                del tokens[token]

    def throttle(
        self,
        times: int = 1,
        *,
        requested: float = 100.0,
        available: float = 0.0,
        restore_rate: float = RESTORE_RATE,
    ) -> None:
        """The next GraphQL calls answer 200 + THROTTLED with this cost report."""
        for _ in range(times):
            self._faults.append(
                _Fault(
                    "throttled",
                    "graphql",
                    requested=requested,
                    available=available,
                    restore_rate=restore_rate,
                )
            )

    def rate_limit(
        self, times: int = 1, *, retry_after: float = 2.0, on: FaultTarget = "graphql"
    ) -> None:
        for _ in range(times):
            self._faults.append(_Fault("429", on, retry_after=retry_after))

    def server_error(
        self, times: int = 1, *, status: int = 503, on: FaultTarget = "graphql"
    ) -> None:
        for _ in range(times):
            self._faults.append(_Fault("5xx", on, status=status))

    def network_error(self, times: int = 1, *, on: FaultTarget = "graphql") -> None:
        for _ in range(times):
            self._faults.append(_Fault("network", on))

    def refuse_metafields_of(self, owner_id: str, message: str = "Value is invalid") -> None:
        """metafieldsSet answers a user error for this owner (directly and in bulk)."""
        self._metafield_errors[owner_id] = message

    def fail_next_bulk(self, error_code: str = "INTERNAL_SERVER_ERROR") -> None:
        self._bulk_failure = error_code

    def serve_next_bulk(self, objects: list[dict[str, Any]]) -> None:
        """The next bulk query (whatever it asks) results in exactly these JSONL objects."""
        self._bulk_objects = objects

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def add_selling_plan_group(
        self, shop: str = SHOP, *, plans: list[tuple[int, str, str, int]]
    ) -> None:
        """A selling plan group offered on every variant: (plan id, name, interval, count)."""
        self.selling_plan_groups.setdefault(shop, []).append(
            [
                {
                    "id": f"gid://shopify/SellingPlan/{plan_id}",
                    "name": name,
                    "billingPolicy": {"interval": interval, "intervalCount": count},
                    "deliveryPolicy": {"interval": interval, "intervalCount": count},
                }
                for plan_id, name, interval, count in plans
            ]
        )

    def refuse_next(
        self,
        operation: str,
        message: str,
        *,
        code: str = "INVALID",
        field: str | list[str] | None = "base",
    ) -> None:
        """The next call of this mutation (by its root field) answers with a user error."""
        path = [field] if isinstance(field, str) else field
        self._refusals.setdefault(operation, deque()).append(
            {"field": path, "message": message, "code": code}
        )

    def change_contract_before_next_commit(self, gid: str, shop: str = SHOP) -> None:
        """Someone else changes the contract between a draft's opening and its commit."""

        def bump() -> None:
            self.contracts[shop][gid].revision += 1

        self._before_commit.append(bump)

    # ---- assertions helpers -------------------------------------------------------------------

    def requests_to(self, path_part: str) -> list[LoggedRequest]:
        return [r for r in self.requests if path_part in r.url]

    # ---- the handler --------------------------------------------------------------------------

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.requests.append(
            LoggedRequest(
                request.method,
                str(request.url),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        parts = request.url.path.strip("/").split("/")
        if request.url.host != "fake-shopify.test":
            return httpx.Response(404, json={"errors": "Not Found"})
        if parts[0] == "_bulk-results" and request.method == "GET":
            return self._bulk_result(parts[-1])
        if parts[0] == "_staged-uploads" and request.method == "POST":
            return self._staged_upload(request, body)
        shop = parts[0]
        rest = "/".join(parts[1:])
        if request.method == "POST" and rest == "admin/oauth/access_token":
            if self.token_latency:
                await asyncio.sleep(self.token_latency)
            return self._fault("token", request) or self._token(shop, request, body)
        if request.method == "POST" and re.fullmatch(r"admin/api/[\w-]+/graphql\.json", rest):
            return self._fault("graphql", request) or self._graphql(shop, request, body)
        return httpx.Response(404, json={"errors": "Not Found"})

    def _fault(self, target: FaultTarget, request: httpx.Request) -> httpx.Response | None:
        if not self._faults or self._faults[0].target != target:
            return None
        fault = self._faults.popleft()
        if fault.kind == "network":
            raise httpx.ConnectError("fake network failure", request=request)
        if fault.kind == "429":
            return httpx.Response(
                429,
                headers={"Retry-After": f"{fault.retry_after:g}"},
                json={
                    "errors": "Exceeded 2 calls per second for api client. Reduce request rates."
                },
            )
        if fault.kind == "5xx":
            return httpx.Response(fault.status, text="upstream trouble")
        return httpx.Response(
            200,
            json={
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": self._cost(fault.requested, fault.available, fault.restore_rate),
            },
        )

    # ---- token endpoint -----------------------------------------------------------------------

    def _token(self, shop: str, request: httpx.Request, body: bytes) -> httpx.Response:
        params = self._form_or_json(request, body)
        if (
            params.get("client_id") != self.api_key
            or params.get("client_secret") != self.api_secret
        ):
            return _oauth_error(401, "invalid_client")
        grant_type = params.get("grant_type")
        if grant_type == "urn:ietf:params:oauth:grant-type:token-exchange":
            if (
                params.get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token"
                or params.get("requested_token_type")
                != "urn:shopify:params:oauth:token-type:offline-access-token"
            ):
                return _oauth_error(400, "invalid_request")
            try:
                claims = jwt.decode(
                    str(params.get("subject_token", "")),
                    self.api_secret,
                    algorithms=["HS256"],
                    audience=self.api_key,
                    leeway=10,
                )
            except jwt.PyJWTError:
                return _oauth_error(400, "invalid_subject_token")
            if claims.get("dest") != f"https://{shop}":
                return _oauth_error(400, "invalid_subject_token")
            expiring = str(params.get("expiring", "0")) == "1"
            return self._issue(shop, expiring=expiring)
        if grant_type == "refresh_token":
            token = str(params.get("refresh_token", ""))
            if self.refresh_tokens.get(token) != shop:
                return _oauth_error(400, "invalid_grant")
            # Using a refresh token retires the one it replaced (Shopify, 2026-08 changelog).
            for old, new in list(self._replaced_by.items()):
                if new == token:
                    self.refresh_tokens.pop(old, None)
                    del self._replaced_by[old]
            response = self._issue(shop, expiring=True)
            self._replaced_by[token] = response.json()["refresh_token"]
            return response
        return _oauth_error(400, "unsupported_grant_type")

    def _issue(self, shop: str, *, expiring: bool) -> httpx.Response:
        access = self.grant_token(shop)
        payload: dict[str, Any] = {"access_token": access, "scope": self.scope}
        if expiring:
            refresh = f"fake-rt-{secrets.token_hex(12)}"
            self.refresh_tokens[refresh] = shop
            self.issued.append(refresh)
            payload |= {
                "expires_in": self.access_token_ttl,
                "refresh_token": refresh,
                "refresh_token_expires_in": self.refresh_token_ttl,
            }
        return httpx.Response(200, json=payload)

    @staticmethod
    def _form_or_json(request: httpx.Request, body: bytes) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            loaded = json.loads(body or b"{}")
            return loaded if isinstance(loaded, dict) else {}
        return dict(parse_qsl(body.decode()))

    # ---- GraphQL ------------------------------------------------------------------------------

    def _graphql(self, shop: str, request: httpx.Request, body: bytes) -> httpx.Response:
        token = request.headers.get("x-shopify-access-token")
        if token is None or self.access_tokens.get(token) != shop:
            return httpx.Response(
                401,
                json={
                    "errors": "[API] Invalid API key or access token (unrecognized login or "
                    "wrong password)"
                },
            )
        payload = json.loads(body)
        query = payload.get("query", "")
        variables = payload.get("variables") or {}
        match = _OPERATION.match(query)
        name = match.group(2) if match else ""
        handlers = {
            "SubscriptionContractDetails": self._contract,
            "BulkOperationRunQuery": self._bulk_run,
            "BulkOperationStatus": self._bulk_status,
            "FlowTriggerReceive": self._flow_trigger,
            "MetafieldDefinitionCreate": self._definition_create,
            "MetafieldsSet": self._metafields_set,
            "MetafieldsDelete": self._metafields_delete,
            "TagsAdd": self._tags_add,
            "TagsRemove": self._tags_remove,
            "StagedUploadsCreate": self._staged_uploads_create,
            "BulkOperationRunMutation": self._bulk_run_mutation,
            **self.billing_handlers(),
            # Self-service and save offers (plugin.shopify.contract_edits).
            "SubscriptionEditableContract": self._editable_contract,
            "SubscriptionUpcomingCycles": self._upcoming_cycles,
            "SellingPlanChoices": self._plan_choices,
            "SubscriptionBillingCycleSkip": self._cycle_skip,
            "SubscriptionBillingCycleUnskip": self._cycle_skip,
            "SubscriptionContractPause": self._status_change,
            "SubscriptionContractActivate": self._status_change,
            "SubscriptionContractCancel": self._status_change,
            "SubscriptionContractUpdate": self._draft_open,
            "SubscriptionDraftUpdate": self._draft_edit,
            "SubscriptionDraftLineUpdate": self._draft_edit,
            "SubscriptionDraftDiscountAdd": self._draft_edit,
            "SubscriptionDraftCommit": self._draft_commit,
            # Dunning: the customer's card and Shopify's card-update email.
            "SubscriptionPaymentMethod": self._payment_method,
            "CustomerPaymentMethodSendUpdateEmail": self._send_update_email,
        }
        if name not in handlers:
            return self._answer(errors=[{"message": f"fake Shopify: unknown operation {name!r}"}])
        missing = WRITE_SCOPES.get(name)
        if missing and missing not in self.scope.split(","):
            return self._answer(
                errors=[
                    {
                        "message": f"Access denied for {name[0].lower() + name[1:]} field. "
                        f"Required access: `{missing}` access scope.",
                        "extensions": {"code": "ACCESS_DENIED"},
                    }
                ]
            )
        try:
            data = handlers[name](shop, variables, query)
        except LostAnswer as exc:
            raise httpx.ReadError(f"fake network failure: {exc}", request=request) from None
        return self._answer(data=data)

    def _answer(
        self, *, data: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None
    ) -> httpx.Response:
        payload: dict[str, Any] = {"data": data} if errors is None else {"errors": errors}
        payload["extensions"] = self._cost(QUERY_COST, BUCKET_SIZE - QUERY_COST, RESTORE_RATE)
        return httpx.Response(200, json=payload)

    @staticmethod
    def _cost(requested: float, available: float, restore_rate: float) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": BUCKET_SIZE,
                    "currentlyAvailable": available,
                    "restoreRate": restore_rate,
                },
            }
        }

    def _contract(self, shop: str, variables: dict[str, Any], query: str) -> dict[str, Any]:
        contract = self.contracts.get(shop, {}).get(variables.get("id", ""))
        if contract is None:
            return {"subscriptionContract": None}
        first = re.search(r"lines\(first:\s*(\d+)", query)
        page_size = int(first.group(1)) if first else 50
        start = int(variables.get("after") or 0)
        lines = contract.line_nodes()
        page = lines[start : start + page_size]
        has_next = start + page_size < len(lines)
        node = contract.node()
        node["lines"] = {
            "nodes": page,
            "pageInfo": {
                "hasNextPage": has_next,
                "endCursor": str(start + page_size) if has_next else None,
            },
        }
        return {"subscriptionContract": node}

    def _bulk_run(self, shop: str, variables: dict[str, Any], _query: str) -> dict[str, Any]:
        def refused(message: str, code: str) -> dict[str, Any]:
            error = {"field": ["query"], "message": message, "code": code}
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [error]}}

        if any(
            op.shop == shop and op.status in ("CREATED", "RUNNING") and op.kind == "QUERY"
            for op in self.bulk_operations.values()
        ):
            return refused(
                "A bulk query operation for this app and shop is already in progress.",
                "OPERATION_IN_PROGRESS",
            )
        jsonl: list[str] = []
        if self._bulk_objects is not None:
            jsonl = [json.dumps(obj) for obj in self._bulk_objects]
            self._bulk_objects = None
        elif "subscriptionContracts" in variables.get("query", ""):
            for contract in self.contracts.get(shop, {}).values():
                jsonl.append(json.dumps(contract.node()))
                jsonl.extend(
                    json.dumps({**line, "__parentId": contract.gid})
                    for line in contract.line_nodes()
                )
        else:
            return refused("fake Shopify only runs subscriptionContracts bulk queries", "INVALID")
        gid = f"gid://shopify/BulkOperation/{next(self._ids)}"
        operation = _BulkOperation(gid, shop, jsonl, self.bulk_polls, self._bulk_failure)
        self._bulk_failure = None
        self.bulk_operations[gid] = operation
        return {
            "bulkOperationRunQuery": {
                "bulkOperation": {"id": gid, "status": operation.status},
                "userErrors": [],
            }
        }

    def _bulk_status(self, shop: str, variables: dict[str, Any], _query: str) -> dict[str, Any]:
        operation = self.bulk_operations.get(variables.get("id", ""))
        if operation is None or operation.shop != shop:
            return {"node": None}
        if operation.polls_left > 0:
            operation.polls_left -= 1
            operation.status = "RUNNING"
        else:
            operation.status = "FAILED" if operation.error_code else "COMPLETED"
        done = operation.status == "COMPLETED"
        number = operation.gid.rsplit("/", 1)[1]
        return {
            "node": {
                "id": operation.gid,
                "status": operation.status,
                "errorCode": operation.error_code if operation.status == "FAILED" else None,
                "objectCount": str(len(operation.jsonl) if done else 0),
                "url": f"{BASE_URL}/_bulk-results/{number}.jsonl"
                if done and operation.jsonl
                else None,
            }
        }

    # ---- customers: metafields, tags, staged uploads, bulk mutations ---------------------------

    def _definition_create(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        definition = variables.get("definition") or {}
        key = (shop, str(definition.get("namespace")), str(definition.get("key")))
        if definition.get("ownerType") != "CUSTOMER" or not definition.get("type"):
            errors = [{"field": ["definition"], "message": "Invalid definition", "code": "INVALID"}]
            return {"metafieldDefinitionCreate": {"createdDefinition": None, "userErrors": errors}}
        if key in self.metafield_definitions:
            errors = [
                {
                    "field": ["definition", "key"],
                    "message": "Key is in use for Customer metafields on the 'valuehealth' "
                    "namespace.",
                    "code": "TAKEN",
                }
            ]
            return {"metafieldDefinitionCreate": {"createdDefinition": None, "userErrors": errors}}
        self.metafield_definitions[key] = definition
        created = {"id": f"gid://shopify/MetafieldDefinition/{next(self._ids)}", "key": key[2]}
        return {"metafieldDefinitionCreate": {"createdDefinition": created, "userErrors": []}}

    def _set_metafields(self, shop: str, metafields: Any) -> dict[str, Any]:
        """metafieldsSet, all or nothing as Shopify does: any invalid input, nothing is set."""
        errors: list[dict[str, Any]] = []
        if not isinstance(metafields, list) or not 1 <= len(metafields) <= 25:
            errors.append(
                {
                    "field": ["metafields"],
                    "message": "Exceeded the maximum metafields input limit of 25.",
                    "code": "LESS_THAN_OR_EQUAL_TO",
                }
            )
            return {"metafieldsSet": {"metafields": None, "userErrors": errors}}
        for i, mf in enumerate(metafields):
            owner = str(mf.get("ownerId", ""))
            definition = self.metafield_definitions.get(
                (shop, str(mf.get("namespace")), str(mf.get("key")))
            )
            if owner in self._metafield_errors:
                errors.append(
                    {
                        "field": ["metafields", str(i), "value"],
                        "message": self._metafield_errors[owner],
                        "code": "INVALID_VALUE",
                    }
                )
            elif definition is not None and definition["type"] != mf.get("type"):
                errors.append(
                    {
                        "field": ["metafields", str(i), "type"],
                        "message": "Type doesn't match the definition",
                        "code": "INVALID_TYPE",
                    }
                )
        if errors:
            return {"metafieldsSet": {"metafields": None, "userErrors": errors}}
        for mf in metafields:
            store = self.customer_metafields.setdefault((shop, mf["ownerId"]), {})
            store[(mf["namespace"], mf["key"])] = (mf["type"], mf["value"])
        written = [{"key": mf["key"], "namespace": mf["namespace"]} for mf in metafields]
        return {"metafieldsSet": {"metafields": written, "userErrors": []}}

    def _metafields_set(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        return self._set_metafields(shop, variables.get("metafields"))

    def _metafields_delete(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        deleted = []
        for mf in variables.get("metafields") or []:
            store = self.customer_metafields.get((shop, mf["ownerId"]), {})
            if store.pop((mf["namespace"], mf["key"]), None) is not None:
                deleted.append({"key": mf["key"], "namespace": mf["namespace"]})
        return {"metafieldsDelete": {"deletedMetafields": deleted, "userErrors": []}}

    def _tags(self, shop: str, variables: dict[str, Any], add: bool) -> dict[str, Any]:
        tags = self.customer_tags.setdefault((shop, str(variables.get("id"))), set())
        (tags.update if add else tags.difference_update)(variables.get("tags") or [])
        name = "tagsAdd" if add else "tagsRemove"
        return {name: {"node": {"id": variables.get("id")}, "userErrors": []}}

    def _tags_add(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        return self._tags(shop, variables, add=True)

    def _tags_remove(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        return self._tags(shop, variables, add=False)

    def _staged_uploads_create(
        self, shop: str, variables: dict[str, Any], _q: str
    ) -> dict[str, Any]:
        targets = []
        for item in variables.get("input") or []:
            key = f"tmp/{shop}/bulk/{secrets.token_hex(8)}/{item.get('filename')}"
            targets.append(
                {
                    "url": f"{BASE_URL}/_staged-uploads",
                    "resourceUrl": None,
                    "parameters": [
                        {"name": "key", "value": key},
                        {"name": "Content-Type", "value": item.get("mimeType")},
                        {"name": "success_action_status", "value": "201"},
                        {"name": "acl", "value": "private"},
                    ],
                }
            )
        return {"stagedUploadsCreate": {"stagedTargets": targets, "userErrors": []}}

    def _staged_upload(self, request: httpx.Request, body: bytes) -> httpx.Response:
        message = BytesParser(policy=email_policy).parsebytes(
            f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + body
        )
        fields: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = payload if isinstance(payload, bytes) else b""
        key = fields.get("key", b"").decode()
        if not key or "file" not in fields:
            return httpx.Response(400, text="<Error><Code>InvalidArgument</Code></Error>")
        self.staged_uploads[key] = fields["file"]
        return httpx.Response(201, text=f"<PostResponse><Key>{key}</Key></PostResponse>")

    def _bulk_run_mutation(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        def refused(message: str, code: str) -> dict[str, Any]:
            error = {"field": None, "message": message, "code": code}
            return {"bulkOperationRunMutation": {"bulkOperation": None, "userErrors": [error]}}

        if any(
            op.shop == shop and op.status in ("CREATED", "RUNNING") and op.kind == "MUTATION"
            for op in self.bulk_operations.values()
        ):
            return refused(
                "A bulk mutation operation is already in progress.", "OPERATION_IN_PROGRESS"
            )
        upload = self.staged_uploads.get(str(variables.get("stagedUploadPath")))
        if upload is None:
            return refused("The JSONL file could not be found.", "NO_SUCH_FILE")
        match = _OPERATION.match(str(variables.get("mutation", "")))
        if not match or match.group(2) != "MetafieldsSet":
            return refused("fake Shopify only runs metafieldsSet in bulk", "INVALID_MUTATION")
        results = []
        for number, line in enumerate(upload.decode().splitlines()):
            try:
                line_vars = json.loads(line)
            except ValueError:
                return refused(
                    "Unexpected file structure - expected JSONL", "INVALID_STAGED_UPLOAD_FILE"
                )
            data = self._set_metafields(shop, line_vars.get("metafields"))
            results.append(json.dumps({"data": data, "__lineNumber": number}))
        gid = f"gid://shopify/BulkOperation/{next(self._ids)}"
        operation = _BulkOperation(
            gid, shop, results, self.bulk_polls, self._bulk_failure, kind="MUTATION"
        )
        self._bulk_failure = None
        self.bulk_operations[gid] = operation
        return {
            "bulkOperationRunMutation": {
                "bulkOperation": {"id": gid, "status": operation.status},
                "userErrors": [],
            }
        }

    def _bulk_result(self, filename: str) -> httpx.Response:
        gid = f"gid://shopify/BulkOperation/{filename.removesuffix('.jsonl')}"
        operation = self.bulk_operations.get(gid)
        if operation is None or operation.status != "COMPLETED":
            return httpx.Response(404, text="NoSuchKey")

        async def chunks() -> AsyncIterator[bytes]:
            # One line per chunk, counted, so tests can see the client read while downloading.
            for line in operation.jsonl:
                self.bulk_chunks_served += 1
                yield (line + "\n").encode()

        return httpx.Response(200, headers={"Content-Type": "application/jsonl"}, content=chunks())

    def _flow_trigger(self, shop: str, variables: dict[str, Any], _query: str) -> dict[str, Any]:
        """Like Shopify: an unknown handle or a payload over 50 KB is a user error."""
        handle, payload = variables.get("handle"), variables.get("payload")
        errors = []
        if handle not in self.flow_handles:
            errors.append({"field": ["handle"], "message": f"Invalid handle '{handle}'"})
        elif not isinstance(payload, dict):
            errors.append({"field": ["payload"], "message": "Payload must be a JSON object"})
        elif len(json.dumps(payload)) > FLOW_PAYLOAD_LIMIT:
            errors.append({"field": ["payload"], "message": "Payload exceeds 50 KB"})
        else:
            self.flow_triggers.append((shop, str(handle), payload))
        return {"flowTriggerReceive": {"userErrors": errors}}

    # ---- contract changes ---------------------------------------------------------------------

    def _editable_contract(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        contract = self.contracts.get(shop, {}).get(variables.get("id", ""))
        if contract is None:
            return {"subscriptionContract": None}
        node = contract.node()
        node["lines"] = {
            "nodes": [
                {
                    **line_node,
                    "title": line.title,
                    "variantId": f"gid://shopify/ProductVariant/{line.variant_id}",
                    "sellingPlanId": f"gid://shopify/SellingPlan/{line.selling_plan_id}"
                    if line.selling_plan_id
                    else None,
                }
                for line, line_node in zip(contract.lines, contract.line_nodes(), strict=True)
            ]
        }
        return {"subscriptionContract": node}

    def _payment_method(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        contract = self.contracts.get(shop, {}).get(variables.get("id", ""))
        if contract is None:
            return {"subscriptionContract": None}
        method = contract.payment_method_id
        return {
            "subscriptionContract": {
                "id": contract.gid,
                "customer": {"id": f"gid://shopify/Customer/{contract.customer_id}"},
                "customerPaymentMethod": {"id": f"gid://shopify/CustomerPaymentMethod/{method}"}
                if method
                else None,
            }
        }

    def _send_update_email(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        """Like Shopify: an unknown or revoked method is a user error (field and message only:
        this mutation's UserError has no code)."""
        method = str(variables.get("customerPaymentMethodId", ""))
        root = "customerPaymentMethodSendUpdateEmail"
        refusal = self._refusal(root)
        if refusal is not None:
            errors = [{"field": e["field"], "message": e["message"]} for e in refusal]
            return {root: {"customer": None, "userErrors": errors}}
        owner = next(
            (
                c
                for c in self.contracts.get(shop, {}).values()
                if c.payment_method_id and method.endswith(f"/{c.payment_method_id}")
            ),
            None,
        )
        if owner is None:
            errors = [
                {"field": ["customerPaymentMethodId"], "message": "Payment method does not exist"}
            ]
            return {root: {"customer": None, "userErrors": errors}}
        self.payment_update_emails.append((shop, method))
        customer = {"id": f"gid://shopify/Customer/{owner.customer_id}"}
        return {root: {"customer": customer, "userErrors": []}}

    def _upcoming_cycles(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        contract = self.contracts.get(shop, {}).get(variables.get("contractId", ""))
        if contract is None or contract.next_billing_date is None:
            return {"subscriptionBillingCycles": {"nodes": []}}
        start = datetime.fromisoformat(variables["startDate"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(variables["endDate"].replace("Z", "+00:00"))
        nodes = [
            cycle
            for cycle in contract.cycles(24)
            if start
            <= datetime.fromisoformat(cycle["billingAttemptExpectedDate"].replace("Z", "+00:00"))
            <= end
        ]
        return {"subscriptionBillingCycles": {"nodes": nodes[:6]}}

    def _plan_choices(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        groups = self.selling_plan_groups.get(shop, [])
        return {
            "productVariant": {
                "sellingPlanGroups": {
                    "nodes": [{"sellingPlans": {"nodes": plans}} for plans in groups]
                }
            }
        }

    def _refusal(self, root: str) -> list[dict[str, Any]] | None:
        queued = self._refusals.get(root)
        return [queued.popleft()] if queued else None

    def _cycle_skip(self, shop: str, variables: dict[str, Any], query: str) -> dict[str, Any]:
        root = (
            "subscriptionBillingCycleUnskip"
            if "subscriptionBillingCycleUnskip" in query
            else "subscriptionBillingCycleSkip"
        )
        contract = self.contracts.get(shop, {}).get(variables.get("contractId", ""))
        index = variables.get("index")

        def refused(message: str, code: str) -> dict[str, Any]:
            error = {"field": ["billingCycleInput"], "message": message, "code": code}
            return {root: {"billingCycle": None, "userErrors": [error]}}

        if (errors := self._refusal(root)) is not None:
            return {root: {"billingCycle": None, "userErrors": errors}}
        if contract is None:
            return refused("Subscription contract does not exist", "INVALID")
        if contract.status in ("CANCELLED", "EXPIRED", "FAILED"):
            return refused("Contract is terminated", "CONTRACT_TERMINATED")
        if not isinstance(index, int) or index < contract.next_cycle_index:
            return refused("Billing cycle index is invalid", "INVALID_CYCLE_INDEX")
        skip = root == "subscriptionBillingCycleSkip"
        if skip:
            contract.skipped.add(index)
        else:
            contract.skipped.discard(index)
        self.changes.append(("skip" if skip else "unskip", contract.gid, {"index": index}))
        cycle = next(c for c in contract.cycles(index - contract.next_cycle_index + 1)[-1:])
        return {root: {"billingCycle": cycle, "userErrors": []}}

    def _status_change(self, shop: str, variables: dict[str, Any], query: str) -> dict[str, Any]:
        target = {
            "subscriptionContractPause": ("pause", "PAUSED"),
            "subscriptionContractActivate": ("activate", "ACTIVE"),
            "subscriptionContractCancel": ("cancel", "CANCELLED"),
        }
        root = next(r for r in target if r in query)
        operation, status = target[root]
        if (errors := self._refusal(root)) is not None:
            return {root: {"contract": None, "userErrors": errors}}
        contract = self.contracts.get(shop, {}).get(variables.get("contractId", ""))
        if contract is None:
            error = {"field": ["subscriptionContractId"], "message": "Contract does not exist"}
            return {root: {"contract": None, "userErrors": [{**error, "code": "INVALID"}]}}
        if contract.status in ("CANCELLED", "EXPIRED", "FAILED"):
            error = {
                "field": ["subscriptionContractId"],
                "message": "Subscription contract status cannot be changed once terminated.",
                "code": "CONTRACT_TERMINATED",
            }
            return {root: {"contract": None, "userErrors": [error]}}
        contract.status = status
        contract.revision += 1
        self.changes.append((operation, contract.gid, {}))
        return {root: {"contract": {"id": contract.gid, "status": status}, "userErrors": []}}

    def _draft_open(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        root = "subscriptionContractUpdate"
        if (errors := self._refusal(root)) is not None:
            return {root: {"draft": None, "userErrors": errors}}
        contract = self.contracts.get(shop, {}).get(variables.get("contractId", ""))
        if contract is None or contract.status in ("CANCELLED", "EXPIRED", "FAILED"):
            error = {
                "field": ["contractId"],
                "message": "Contract draft may only be created for active or paused contracts",
                "code": "INVALID",
            }
            return {root: {"draft": None, "userErrors": [error]}}
        gid = f"gid://shopify/SubscriptionContractDraft/{next(self._ids)}"
        self.drafts[gid] = _Draft(gid, shop, contract.gid, contract.revision)
        return {root: {"draft": {"id": gid}, "userErrors": []}}

    def _draft_edit(self, shop: str, variables: dict[str, Any], query: str) -> dict[str, Any]:
        root = next(
            r
            for r in (
                "subscriptionDraftUpdate",
                "subscriptionDraftLineUpdate",
                "subscriptionDraftDiscountAdd",
            )
            if f"{r}(" in query
        )
        result = {
            "subscriptionDraftUpdate": "draft",
            "subscriptionDraftLineUpdate": "lineUpdated",
            "subscriptionDraftDiscountAdd": "discountAdded",
        }[root]
        draft = self.drafts.get(variables.get("draftId", ""))
        if (errors := self._refusal(root)) is not None:
            return {root: {result: None, "userErrors": errors}}
        if draft is None or draft.shop != shop or draft.committed:
            code = "COMMITTED" if draft is not None and draft.committed else "INVALID"
            error = {"field": ["draftId"], "message": "Draft is not editable", "code": code}
            return {root: {result: None, "userErrors": [error]}}
        values = variables.get("input") or {}
        if root == "subscriptionDraftUpdate":
            draft.policy.update(values)
            return {root: {result: {"id": draft.gid}, "userErrors": []}}
        if root == "subscriptionDraftLineUpdate":
            line_gid = variables.get("lineId", "")
            quantity = values.get("quantity")
            if quantity is not None and (not isinstance(quantity, int) or quantity < 1):
                error = {
                    "field": ["input", "quantity"],
                    "message": "Quantity must be greater than or equal to 1",
                    "code": "GREATER_THAN_OR_EQUAL_TO",
                }
                return {root: {result: None, "userErrors": [error]}}
            draft.lines.setdefault(line_gid, {}).update(values)
            return {root: {result: {"id": line_gid, **values}, "userErrors": []}}
        discount_id = f"gid://shopify/SubscriptionManualDiscount/{next(self._ids)}"
        draft.discounts.append({"id": discount_id, **values})
        return {root: {result: {"id": discount_id}, "userErrors": []}}

    def _draft_commit(self, shop: str, variables: dict[str, Any], _q: str) -> dict[str, Any]:
        root = "subscriptionDraftCommit"
        while self._before_commit:
            self._before_commit.popleft()()
        draft = self.drafts.get(variables.get("draftId", ""))
        if (errors := self._refusal(root)) is not None:
            return {root: {"contract": None, "userErrors": errors}}
        if draft is None or draft.shop != shop:
            error = {"field": ["draftId"], "message": "Draft does not exist", "code": "INVALID"}
            return {root: {"contract": None, "userErrors": [error]}}
        contract = self.contracts[shop][draft.contract_gid]
        if draft.committed:
            error = {
                "field": ["draftId"],
                "message": "Draft already committed",
                "code": "COMMITTED",
            }
            return {root: {"contract": None, "userErrors": [error]}}
        if contract.revision != draft.base_revision:
            error = {
                "field": ["draftId"],
                "message": "The contract was updated after this draft was created",
                "code": "CONCURRENT_CONTRACT_UPDATE",
            }
            return {root: {"contract": None, "userErrors": [error]}}
        # Applied all at once, only here: an uncommitted draft changes nothing.
        for key, attribute in (("billingPolicy", "billing"), ("deliveryPolicy", "delivery")):
            if key in draft.policy:
                policy = draft.policy[key]
                setattr(contract, attribute, (policy["interval"], policy["intervalCount"]))
        if "nextBillingDate" in draft.policy:
            contract.next_billing_date = draft.policy["nextBillingDate"]
        for number, line in enumerate(contract.lines, start=1):
            values = draft.lines.get(contract.line_gid(number), {})
            if "quantity" in values:
                line.quantity = values["quantity"]
            if "sellingPlanId" in values:
                line.selling_plan_id = int(values["sellingPlanId"].rsplit("/", 1)[1])
            if "sellingPlanName" in values:
                line.selling_plan_name = values["sellingPlanName"]
        contract.discounts.extend(draft.discounts)
        contract.revision += 1
        draft.committed = True
        self.changes.append(
            (
                "commit",
                contract.gid,
                {"policy": draft.policy, "lines": draft.lines, "discounts": draft.discounts},
            )
        )
        return {
            root: {"contract": {"id": contract.gid, "status": contract.status}, "userErrors": []}
        }


def _oauth_error(status: int, error: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": error})


def line_total(lines: list[FakeLine]) -> Decimal:
    """The recurring amount the app should compute for these lines."""
    return sum((Decimal(line.price) * line.quantity for line in lines), Decimal(0))
