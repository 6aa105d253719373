"""Subscription plans: the merchant's offer, kept in Shopify as a selling plan group.

A plan is a name, the frequencies offered (delivery every N units, billed every M units, M a
multiple of N: prepaid when larger), one discount for all of them, and the products and
variants it is sold on. `create_plan` and `update_plan` validate everything first (bad input
changes nothing, and the error names the field), then change Shopify, then the database, in
the caller's transaction.

Nothing half-done: creating is one Shopify mutation (the group with its products). Editing
takes up to five: product and variant additions and removals, each undone again if a later one
is refused, and last the group update itself (name, frequencies, discount), atomic in Shopify.
When Shopify refuses a step, the steps already made are reversed and `PlanRejected` carries
Shopify's message; the transaction then rolls back, so our rows never claim what Shopify lacks.

Versions: a change of frequencies or discount adds a `PlanVersion` (the old one is kept as it
was); a change of name or products does not, since it does not change what a subscriber pays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Plan, PlanVersion
from plugin.models.base import utcnow
from plugin.shopify import selling_plans as sp
from plugin.shopify.graphql import AdminGraphQL
from plugin.shopify.mutations import UserErrors

log = logging.getLogger(__name__)

INTERVALS = ("day", "week", "month", "year")
MAX_COUNT = {"day": 365, "week": 52, "month": 24, "year": 5}
MAX_RESOURCES = 250
MAX_NAME = 255
DISCOUNT_TYPES = ("none", "percentage", "fixed_amount")
MAX_FIXED_DISCOUNT = Decimal("100000")
_GID = {
    "products": re.compile(r"^gid://shopify/Product/[1-9]\d{0,18}$"),
    "variants": re.compile(r"^gid://shopify/ProductVariant/[1-9]\d{0,18}$"),
}
_FIELDS = frozenset({"name", "frequencies", "discount", "products", "variants"})


class PlanInvalid(ValueError):
    """Bad input: `field` names what to fix; nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PlanRejected(Exception):
    """Shopify refused the change; whatever had been applied was reversed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PlanNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Frequency:
    interval: str
    delivery_count: int
    billing_count: int

    @property
    def key(self) -> str:
        return f"{self.interval}-{self.delivery_count}-{self.billing_count}"

    @property
    def label(self) -> str:
        """Shown at checkout and used as the selling plan's name (unique in its group)."""
        text = f"Delivered every {_every(self.interval, self.delivery_count)}"
        if self.billing_count != self.delivery_count:
            text += f", billed every {_every(self.interval, self.billing_count)}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "delivery_count": self.delivery_count,
            "billing_count": self.billing_count,
        }


def _every(interval: str, count: int) -> str:
    return interval if count == 1 else f"{count} {interval}s"


@dataclass(frozen=True)
class Discount:
    type: str
    value: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": str(self.value)}


@dataclass(frozen=True)
class PlanSpec:
    name: str
    frequencies: tuple[Frequency, ...]
    discount: Discount
    products: tuple[str, ...]
    variants: tuple[str, ...]


# ---- validation -------------------------------------------------------------------------


def parse_plan(data: Any, *, current: PlanSpec | None = None) -> PlanSpec:
    """A full spec from a JSON body; on edit (`current` given) missing fields keep theirs."""
    if not isinstance(data, Mapping):
        raise PlanInvalid("body", "expected a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise PlanInvalid(unknown[0], f"{unknown[0]!r} is not a plan field")
    if current is None:
        for required in ("name", "frequencies"):
            if required not in data:
                raise PlanInvalid(required, f"{required} is required")
    return PlanSpec(
        name=_name(data["name"]) if "name" in data else _require(current).name,
        frequencies=(
            _frequencies(data["frequencies"])
            if "frequencies" in data
            else _require(current).frequencies
        ),
        discount=(
            _discount(data["discount"])
            if "discount" in data
            else (current.discount if current else Discount("none", Decimal(0)))
        ),
        products=(
            _gids("products", data["products"])
            if "products" in data
            else (current.products if current else ())
        ),
        variants=(
            _gids("variants", data["variants"])
            if "variants" in data
            else (current.variants if current else ())
        ),
    )


def _require(current: PlanSpec | None) -> PlanSpec:
    assert current is not None  # guarded by the required-field check
    return current


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanInvalid("name", "name must be a non-empty text")
    name = value.strip()
    if len(name) > MAX_NAME:
        raise PlanInvalid("name", f"name must be at most {MAX_NAME} characters")
    return name


def _count(value: Any, field: str, interval: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanInvalid(field, f"{field} must be a whole number")
    if not 1 <= value <= MAX_COUNT[interval]:
        raise PlanInvalid(field, f"{field} must be between 1 and {MAX_COUNT[interval]}")
    return value


def _frequencies(value: Any) -> tuple[Frequency, ...]:
    if not isinstance(value, list) or not value:
        raise PlanInvalid("frequencies", "offer at least one frequency")
    if len(value) > sp.MAX_PLANS_PER_GROUP:
        raise PlanInvalid(
            "frequencies", f"Shopify allows at most {sp.MAX_PLANS_PER_GROUP} frequencies"
        )
    found: list[Frequency] = []
    for i, item in enumerate(value):
        field = f"frequencies[{i}]"
        if not isinstance(item, Mapping):
            raise PlanInvalid(field, "each frequency is an object")
        interval = item.get("interval")
        if interval not in INTERVALS:
            raise PlanInvalid(
                f"{field}.interval", f"interval must be one of {', '.join(INTERVALS)}"
            )
        delivery = _count(item.get("delivery_count"), f"{field}.delivery_count", interval)
        billing = _count(item.get("billing_count", delivery), f"{field}.billing_count", interval)
        if billing % delivery:
            raise PlanInvalid(
                f"{field}.billing_count",
                "billing must cover whole deliveries: billing_count a multiple of delivery_count",
            )
        frequency = Frequency(interval, delivery, billing)
        if any(f.key == frequency.key for f in found):
            raise PlanInvalid(field, f"{frequency.label} is offered twice")
        found.append(frequency)
    return tuple(found)


def _discount(value: Any) -> Discount:
    if value is None:
        return Discount("none", Decimal(0))
    if not isinstance(value, Mapping) or value.get("type") not in DISCOUNT_TYPES:
        raise PlanInvalid("discount.type", f"discount type must be one of {DISCOUNT_TYPES}")
    kind = str(value["type"])
    if kind == "none":
        return Discount(kind, Decimal(0))
    raw = value.get("value")
    try:
        amount = Decimal(str(raw)) if not isinstance(raw, bool) and raw is not None else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise PlanInvalid("discount.value", "discount value must be a number")
    if kind == "percentage" and not Decimal(0) < amount < Decimal(100):
        raise PlanInvalid("discount.value", "a percentage discount is above 0 and below 100")
    if kind == "fixed_amount" and not Decimal(0) < amount <= MAX_FIXED_DISCOUNT:
        raise PlanInvalid("discount.value", "a fixed discount is above 0")
    return Discount(kind, amount.quantize(Decimal("0.01")))


def _gids(field: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PlanInvalid(field, f"{field} must be a list of Shopify IDs")
    if len(value) > MAX_RESOURCES:
        raise PlanInvalid(field, f"at most {MAX_RESOURCES} {field}")
    seen: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _GID[field].match(item):
            raise PlanInvalid(field, f"not a {field[:-1]} ID: {str(item)[:80]!r}")
        if item not in seen:
            seen.append(item)
    return tuple(seen)


# ---- Shopify documents ------------------------------------------------------------------


def _pricing(discount: Discount) -> list[dict[str, Any]]:
    if discount.type == "percentage":
        value: dict[str, Any] = {"percentage": float(discount.value)}
        kind = "PERCENTAGE"
    elif discount.type == "fixed_amount":
        value, kind = {"fixedValue": str(discount.value)}, "FIXED_AMOUNT"
    else:
        return []
    return [{"fixed": {"adjustmentType": kind, "adjustmentValue": value}}]


def selling_plan_input(
    frequency: Frequency, discount: Discount, position: int, gid: str | None = None
) -> dict[str, Any]:
    interval = frequency.interval.upper()
    plan: dict[str, Any] = {} if gid is None else {"id": gid}
    plan |= {
        "name": frequency.label,
        "options": [frequency.label],
        "position": position,
        "category": "SUBSCRIPTION",
        "billingPolicy": {
            "recurring": {"interval": interval, "intervalCount": frequency.billing_count}
        },
        "deliveryPolicy": {
            "recurring": {"interval": interval, "intervalCount": frequency.delivery_count}
        },
        "pricingPolicies": _pricing(discount),
    }
    return plan


def group_create_input(spec: PlanSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "merchantCode": _merchant_code(spec.name),
        "options": ["Delivery"],
        "sellingPlansToCreate": [
            selling_plan_input(f, spec.discount, i) for i, f in enumerate(spec.frequencies, 1)
        ],
    }


def group_update_input(
    spec: PlanSpec, existing: Mapping[str, str], offer_changed: bool
) -> dict[str, Any]:
    """Name always; plans created, updated and deleted only when the offer changed."""
    group: dict[str, Any] = {"name": spec.name, "merchantCode": _merchant_code(spec.name)}
    if not offer_changed:
        return group
    keys = {f.key for f in spec.frequencies}
    group["sellingPlansToCreate"] = [
        selling_plan_input(f, spec.discount, i)
        for i, f in enumerate(spec.frequencies, 1)
        if f.key not in existing
    ]
    group["sellingPlansToUpdate"] = [
        selling_plan_input(f, spec.discount, i, existing[f.key])
        for i, f in enumerate(spec.frequencies, 1)
        if f.key in existing
    ]
    group["sellingPlansToDelete"] = [gid for key, gid in existing.items() if key not in keys]
    return group


def _merchant_code(name: str) -> str:
    """The group's code in Shopify admin (not shown to buyers): a slug of the name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:200]
    return f"valuehealth-{slug or 'plan'}"


# ---- the service ------------------------------------------------------------------------


def spec_of(plan: Plan, version: PlanVersion) -> PlanSpec:
    return PlanSpec(
        name=plan.name,
        frequencies=tuple(
            Frequency(f["interval"], int(f["delivery_count"]), int(f["billing_count"]))
            for f in version.frequencies
        ),
        discount=Discount(version.discount_type, Decimal(version.discount_value)),
        products=tuple(plan.products or ()),
        variants=tuple(plan.variants or ()),
    )


def _by_key(spec: PlanSpec, by_name: Mapping[str, str]) -> dict[str, str]:
    return {f.key: by_name[f.label] for f in spec.frequencies if f.label in by_name}


# Shopify's error paths, as the fields of our plan they come from.
_SHOPIFY_FIELDS = {
    "productIds": "products",
    "productVariantIds": "variants",
    "input.name": "name",
    "input.sellingPlansToCreate": "frequencies",
    "input.sellingPlansToUpdate": "frequencies",
}


def _rejected(exc: UserErrors) -> PlanRejected:
    first = exc.errors[0] if exc.errors else None
    path = ".".join(first.field) if first and first.field else None
    field = _SHOPIFY_FIELDS.get(path, path) if path else None
    return PlanRejected(f"Shopify refused the plan: {exc}", field)


async def create_plan(
    session: AsyncSession, shop_id: int, client: AdminGraphQL, data: Any
) -> tuple[Plan, PlanVersion]:
    spec = parse_plan(data)
    try:
        group_gid, by_name = await sp.create_group(
            client, group_create_input(spec), list(spec.products), list(spec.variants)
        )
    except UserErrors as exc:
        raise _rejected(exc) from None
    plan = Plan(
        shop_id=shop_id,
        name=spec.name,
        group_gid=group_gid,
        products=list(spec.products),
        variants=list(spec.variants),
        current_version=1,
    )
    session.add(plan)
    await session.flush()
    version = _new_version(plan, spec, 1, _by_key(spec, by_name))
    session.add(version)
    await session.flush()
    return plan, version


def _new_version(plan: Plan, spec: PlanSpec, number: int, gids: dict[str, str]) -> PlanVersion:
    return PlanVersion(
        shop_id=plan.shop_id,
        plan_id=plan.id,
        version=number,
        discount_type=spec.discount.type,
        discount_value=spec.discount.value,
        frequencies=[f.as_json() for f in spec.frequencies],
        selling_plans=gids,
        effective_from=utcnow(),
    )


async def load_plan(session: AsyncSession, shop_id: int, plan_id: int) -> tuple[Plan, PlanVersion]:
    plan = await session.scalar(
        select(Plan).where(Plan.shop_id == shop_id, Plan.id == plan_id).with_for_update()
    )
    if plan is None:
        raise PlanNotFound(plan_id)
    version = await session.scalar(
        select(PlanVersion).where(
            PlanVersion.plan_id == plan.id, PlanVersion.version == plan.current_version
        )
    )
    if version is None:
        raise PlanNotFound(plan_id)
    return plan, version


Step = Callable[[], Awaitable[None]]


async def update_plan(
    session: AsyncSession, shop_id: int, plan_id: int, client: AdminGraphQL, data: Any
) -> tuple[Plan, PlanVersion]:
    plan, version = await load_plan(session, shop_id, plan_id)
    current = spec_of(plan, version)
    spec = parse_plan(data, current=current)
    offer_changed = (spec.frequencies, spec.discount) != (current.frequencies, current.discount)
    group = str(plan.group_gid)

    # Reversible resource changes first, each with the step that undoes it.
    steps: list[tuple[Step, Step]] = []
    for resource, old, new in (
        ("products", current.products, spec.products),
        ("variants", current.variants, spec.variants),
    ):
        added = [g for g in new if g not in old]
        removed = [g for g in old if g not in new]
        if added:
            steps.append(_resource_step(client, group, resource, "add", "remove", added))
        if removed:
            steps.append(_resource_step(client, group, resource, "remove", "add", removed))
    done: list[Step] = []
    try:
        for do, undo in steps:
            await do()
            done.append(undo)
        by_name: dict[str, str] = {}
        if offer_changed or spec.name != current.name:
            by_name = await sp.update_group(
                client, group, group_update_input(spec, version.selling_plans, offer_changed)
            )
    except Exception as exc:
        await _undo(done, plan_id)
        if isinstance(exc, UserErrors):
            raise _rejected(exc) from None
        raise

    plan.name = spec.name
    plan.products = list(spec.products)
    plan.variants = list(spec.variants)
    if offer_changed:
        plan.current_version += 1
        version = _new_version(plan, spec, plan.current_version, _by_key(spec, by_name))
        session.add(version)
    await session.flush()
    return plan, version


def _resource_step(
    client: AdminGraphQL, group: str, resource: str, verb: str, inverse: str, gids: list[str]
) -> tuple[Step, Step]:
    async def do() -> None:
        await sp.change_resources(client, group, resource, verb, gids)

    async def undo() -> None:
        await sp.change_resources(client, group, resource, inverse, gids)

    return do, undo


async def _undo(done: list[Step], plan_id: int) -> None:
    for undo in reversed(done):
        try:
            await undo()
        except Exception:
            # Shopify now holds part of the edit; the merchant sees the error and saves again
            # (every step is an idempotent add or remove of the same IDs).
            log.exception("plan %s: could not reverse a step of a refused edit", plan_id)


async def list_plans(session: AsyncSession, shop_id: int) -> list[tuple[Plan, list[PlanVersion]]]:
    plans = (
        await session.scalars(select(Plan).where(Plan.shop_id == shop_id).order_by(Plan.id))
    ).all()
    versions = (
        await session.scalars(
            select(PlanVersion)
            .where(PlanVersion.shop_id == shop_id)
            .order_by(PlanVersion.plan_id, PlanVersion.version)
        )
    ).all()
    grouped: dict[int, list[PlanVersion]] = {}
    for v in versions:
        grouped.setdefault(v.plan_id, []).append(v)
    return [(p, grouped.get(p.id, [])) for p in plans]


async def plan_name_of_selling_plan(
    session: AsyncSession, shop_id: int, selling_plan_gid: str
) -> str | None:
    """The name of our plan that offers `selling_plan_gid` (in any of its versions), or None
    when it is not one of ours. A selling plan's own name says only its frequency ("Delivered
    every month"); the plan's name is what the merchant and the metrics group contracts by."""
    rows = await session.execute(
        select(Plan.name, PlanVersion.selling_plans)
        .join(PlanVersion, PlanVersion.plan_id == Plan.id)
        .where(Plan.shop_id == shop_id, PlanVersion.shop_id == shop_id)
    )
    for name, selling_plans in rows:
        if selling_plan_gid in (selling_plans or {}).values():
            return str(name)
    return None
