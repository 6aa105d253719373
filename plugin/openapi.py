"""The OpenAPI 3.1 description of the JSON APIs (`/api/admin/*`, `/api/portal/*`), served at
`GET /api/openapi.json`.

One entry per route, kept beside the routes it describes (`admin_ui/openapi.py`,
`plugin/portal/openapi.py`): a new route adds its entry there, in a few lines, with the
helpers below. `tests/test_openapi.py` fails when a JSON route has no entry or an entry no
route, and runs schemathesis against the document (no 5xx, every response as described).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted (started in the background)",
    204: "No content",
    401: "Missing or invalid credential",
    404: "No such record in this shop (another shop's records are not found either)",
    409: "Conflict (nothing pending, or no longer editable)",
    413: "Body too large",
    415: "Unsupported body type",
    422: "Invalid input; `error.field` names the field",
    429: "Too many requests; see Retry-After",
    503: "Shopify could not be reached; nothing changed, try again",
}


def obj(*required: str, **properties: Schema) -> Schema:
    """A JSON object with these required keys (more are allowed: responses may grow)."""
    schema: Schema = {"type": "object", "required": list(required)}
    if properties:
        schema["properties"] = properties
    return schema


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    return {**parameter, "description": description} if description else parameter


def path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


@dataclass(frozen=True)
class Operation:
    """One route: its method and path template (as in the router), what it answers."""

    method: str
    path: str
    summary: str
    security: str | None  # a scheme name from SECURITY_SCHEMES; None: no credential
    ok: Schema | None = None  # the success body (JSON); None: no body
    ok_status: int = 200
    errors: tuple[int, ...] = (401,)
    parameters: tuple[Schema, ...] = ()
    body: Schema | None = None  # a JSON request body
    body_media: tuple[str, ...] = ("application/json",)
    ok_media: Mapping[str, Schema] = field(default_factory=dict)  # other success media types

    @property
    def operation_id(self) -> str:
        words = openapi_path(self.path).strip("/").replace("{", "").replace("}", "")
        return f"{self.method.lower()}_{words.replace('/', '_').replace('-', '_')}"

    def describe(self) -> Schema:
        responses: dict[str, Any] = {}
        content: dict[str, Any] = {}
        if self.ok is not None:
            content["application/json"] = {"schema": self.ok}
        content.update({media: {"schema": schema} for media, schema in self.ok_media.items()})
        responses[str(self.ok_status)] = {"description": _STATUS_TEXT[self.ok_status]}
        if content:
            responses[str(self.ok_status)]["content"] = content
        for status in self.errors:
            responses[str(status)] = {
                "description": _STATUS_TEXT[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        operation: Schema = {
            "summary": self.summary,
            "operationId": self.operation_id,
            "security": [{self.security: []}] if self.security else [],
            "responses": responses,
        }
        if self.parameters:
            operation["parameters"] = list(self.parameters)
        if self.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {media: {"schema": self.body} for media in self.body_media},
            }
        return operation


SECURITY_SCHEMES: Schema = {
    "staffSession": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "App Bridge session token of a staff member; the shop is the token's.",
    },
    "customerSession": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Customer-account session token; shop and customer are the token's.",
    },
}


def openapi_path(route_path: str) -> str:
    """The router's `{name:int}` as OpenAPI's `{name}`."""
    parts = []
    for part in route_path.split("/"):
        if part.startswith("{") and ":" in part:
            part = part.split(":", 1)[0] + "}"
        parts.append(part)
    return "/".join(parts)


def build_document(operations: Iterable[Operation], *, version: str) -> Schema:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(openapi_path(op.path), {})[op.method.lower()] = op.describe()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Valuehealth JSON APIs",
            "version": version,
            "description": "The admin API of the embedded page and the customer-account "
            "extension's API. Design and rules: docs/design.md §6.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": ERROR}, "securitySchemes": SECURITY_SCHEMES},
    }
