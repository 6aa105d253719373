"""Running one Admin API mutation and reading its `userErrors`.

Shopify answers a refused mutation with HTTP 200 and a non-empty `userErrors` list in the
mutation's payload; nothing of that mutation was applied. `mutate` turns that into
`UserErrors`, carrying Shopify's messages and codes for the caller to show or act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.shopify.errors import ShopifyError
from plugin.shopify.graphql import AdminGraphQL


@dataclass(frozen=True)
class UserError:
    field: tuple[str, ...]
    message: str
    code: str | None


class UserErrors(ShopifyError):
    """Shopify refused a mutation: nothing of that mutation was applied."""

    def __init__(self, operation: str, errors: list[UserError]) -> None:
        self.operation = operation
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors) or f"{operation} refused")


def user_errors(payload: dict[str, Any]) -> list[UserError]:
    found: list[UserError] = []
    for item in payload.get("userErrors") or []:
        if not isinstance(item, dict):
            continue
        field = item.get("field") or []
        found.append(
            UserError(
                tuple(str(f) for f in field) if isinstance(field, list) else (str(field),),
                str(item.get("message") or "refused"),
                str(item["code"]) if item.get("code") else None,
            )
        )
    return found


async def mutate(
    client: AdminGraphQL, document: str, field: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Run one mutation; its payload, or `UserErrors` when Shopify refused it."""
    data = await client.query(document, variables)
    payload = data.get(field)
    if not isinstance(payload, dict):
        raise ShopifyError(f"Shopify answered {field} without a payload")
    errors = user_errors(payload)
    if errors:
        raise UserErrors(field, errors)
    return payload
