"""OpenAPI entries of `/api/admin/*`: one per route in `admin_ui/routes.py`, in the same order.
A new admin route adds its entry here (plugin.openapi has the helpers)."""

from __future__ import annotations

from plugin.openapi import Operation, nullable, obj, path, query
from plugin.scoring.reads import MAX_LIMIT, SORTS

STAFF = "staffSession"
_STR = {"type": "string"}
_MONTH = {"type": "string", "description": "YYYY-MM"}

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/admin/overview",
        "The shop's value health",
        STAFF,
        ok=obj("shop", "computed_at"),
    ),
    Operation(
        "GET",
        "/api/admin/retention",
        "Retention model and cohort curves",
        STAFF,
        ok=obj("shop", "status", "computed_at"),
    ),
    Operation(
        "GET",
        "/api/admin/subscribers",
        "Scored subscribers, one keyset page",
        STAFF,
        ok=obj("items", "next_cursor", "sort", "limit", items={"type": "array"}),
        errors=(401, 422),
        parameters=(
            query("sort", {"type": "string", "enum": list(SORTS)}),
            query("segment", _STR),
            query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            query("cursor", _STR, "next_cursor of the previous page"),
        ),
    ),
    Operation(
        "GET",
        "/api/admin/subscribers/{customer_id}",
        "One subscriber's scores",
        STAFF,
        ok=obj("customer_id"),
        errors=(401, 404, 422),
        parameters=(path("customer_id", _STR),),
    ),
    Operation(
        "GET",
        "/api/admin/trends",
        "A metric over time",
        STAFF,
        ok=obj("metric", "period", "from", "to", "points"),
        errors=(401, 422),
        parameters=(
            query("metric", _STR),
            query("period", {"type": "string", "enum": ["day", "month"]}),
            query("from", _STR),
            query("to", _STR),
        ),
    ),
    Operation(
        "GET",
        "/api/admin/reviews",
        "Months that can be reviewed",
        STAFF,
        ok=obj("months", months={"type": "array", "items": _MONTH}),
    ),
    Operation(
        "GET",
        "/api/admin/reviews/{month}",
        "The monthly value review pack",
        STAFF,
        ok=obj("shop", "month"),
        errors=(401, 404, 422),
        parameters=(
            path("month", _MONTH),
            query("format", {"type": "string", "enum": ["json", "csv", "html"]}),
        ),
        ok_media={"text/csv": _STR, "text/html": _STR},
    ),
    Operation(
        "GET",
        "/api/admin/initiatives",
        "The value-initiative backlog",
        STAFF,
        ok=obj("initiatives", "choices"),
    ),
    Operation(
        "POST",
        "/api/admin/initiatives",
        "Add an initiative",
        STAFF,
        ok=obj("id", "status"),
        ok_status=201,
        errors=(401, 422),
        body={"type": "object"},
    ),
    Operation(
        "GET",
        "/api/admin/initiatives/{initiative_id:int}",
        "One initiative",
        STAFF,
        ok=obj("id", "status"),
        errors=(401, 404),
        parameters=(path("initiative_id", {"type": "integer", "minimum": 0}),),
    ),
    Operation(
        "PATCH",
        "/api/admin/initiatives/{initiative_id:int}",
        "Change an initiative",
        STAFF,
        ok=obj("id", "status"),
        errors=(401, 404, 422),
        body={"type": "object"},
        parameters=(path("initiative_id", {"type": "integer", "minimum": 0}),),
    ),
    Operation(
        "GET",
        "/api/admin/privacy/exports",
        "Customer data exports, newest first",
        STAFF,
        ok=obj("exports", "next_cursor", next_cursor=nullable(_STR)),
        errors=(401, 422),
        parameters=(query("cursor", _STR),),
    ),
    Operation(
        "GET",
        "/api/admin/privacy/exports/{export_id:int}",
        "One customer data export",
        STAFF,
        ok={"type": "object"},
        errors=(401, 404),
        parameters=(path("export_id", {"type": "integer", "minimum": 0}),),
    ),
]
