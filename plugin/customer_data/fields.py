"""Our customer metafields: definitions, and the values one customer should hold.

Namespace `$app:valuehealth` is app-owned: only Valuehealth writes it, merchants read it in
the admin, in customer segments ("metafields.app--…--valuehealth.value_segment =
at_risk_high_value"), in Flow and in tools that read metafields (Shopify Email, Klaviyo).
Values are Shopify's metafield text: integers as digits, lists as JSON arrays. None means
"should not exist" (deleted when it did).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.value.codes import SEGMENT_NAMES
from plugin.value.nps import category
from plugin.value.score import risk_band

NAMESPACE = "$app:valuehealth"
TAG_PREFIX = "vh-"

SEGMENT, RISK_BAND, VALUE_SCORE, NPS_CATEGORY, INITIATIVES = (
    "value_segment",
    "churn_risk_band",
    "value_score",
    "nps_category",
    "initiatives",
)


@dataclass(frozen=True)
class Definition:
    key: str
    name: str
    type: str
    description: str
    choices: tuple[str, ...] = ()

    def input(self) -> dict[str, Any]:
        """The `MetafieldDefinitionInput` of metafieldDefinitionCreate."""
        doc: dict[str, Any] = {
            "name": self.name,
            "namespace": NAMESPACE,
            "key": self.key,
            "description": self.description,
            "type": self.type,
            "ownerType": "CUSTOMER",
            "access": {"admin": "MERCHANT_READ"},
        }
        if self.choices:
            doc["validations"] = [{"name": "choices", "value": json.dumps(list(self.choices))}]
        if self.type == "number_integer":
            doc["validations"] = [{"name": "min", "value": "0"}, {"name": "max", "value": "100"}]
        return doc


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        SEGMENT,
        "Value segment",
        "single_line_text_field",
        "Valuehealth's segment: value crossed with churn risk.",
        tuple(sorted(SEGMENT_NAMES.values())),
    ),
    Definition(
        RISK_BAND,
        "Churn-risk band",
        "single_line_text_field",
        "high from 15 % risk of cancelling before the next renewal, medium from 10 %, else low.",
        ("high", "medium", "low", "unknown"),
    ),
    Definition(
        VALUE_SCORE,
        "Value score",
        "number_integer",
        "0–100 blend of economic value, perceived value and health (absent when unknown).",
    ),
    Definition(
        NPS_CATEGORY,
        "NPS category",
        "single_line_text_field",
        "Latest NPS answer: promoter 9–10, passive 7–8, detractor 0–6, none.",
        ("promoter", "passive", "detractor", "none"),
    ),
    Definition(
        INITIATIVES,
        "Value initiatives (treatment)",
        "list.single_line_text_field",
        "Running initiatives whose treatment group holds this customer (vh-initiative-<id>).",
    ),
)
TYPES = {d.key: d.type for d in DEFINITIONS}

Values = dict[str, str | None]


def desired_values(
    *,
    segment: str | None,
    churn_risk: float | None,
    value_score: float | None,
    nps_last: int | None,
    markers: Iterable[str] = (),
) -> Values:
    """What one customer's metafields should say now."""
    listed = sorted(set(markers))
    return {
        SEGMENT: segment or "unscored",
        RISK_BAND: risk_band(churn_risk),
        VALUE_SCORE: None
        if value_score is None or value_score != value_score
        else str(round(value_score)),
        NPS_CATEGORY: category(nps_last),
        INITIATIVES: json.dumps(listed) if listed else None,
    }


def changes(desired: Values, published: Mapping[str, Any] | None) -> tuple[Values, list[str]]:
    """(values to set, keys to delete): only what differs from the last confirmed write."""
    before = published or {}
    to_set: Values = {k: v for k, v in desired.items() if v is not None and before.get(k) != v}
    to_delete = [k for k, v in desired.items() if v is None and before.get(k) is not None]
    return to_set, to_delete


def metafield_inputs(customer_gid: str, values: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """`MetafieldsSetInput`s for one customer."""
    return [
        {"ownerId": customer_gid, "namespace": NAMESPACE, "key": k, "type": TYPES[k], "value": v}
        for k, v in sorted(values.items())
        if v is not None
    ]


def desired_tags(values: Mapping[str, str | None], enabled: bool) -> set[str]:
    """Tags for tools that read only tags: the segment and each initiative marker."""
    if not enabled:
        return set()
    tags = {f"{TAG_PREFIX}{values[SEGMENT]}"} if values.get(SEGMENT) else set()
    markers = values.get(INITIATIVES)
    if markers:
        tags.update(json.loads(markers))
    return tags
