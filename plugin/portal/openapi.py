"""OpenAPI entries of `/api/portal/*` (the customer-account extension's API): one per route in
`plugin/portal/routes.py`. A new portal JSON route adds its entry here."""

from __future__ import annotations

from plugin.openapi import Operation, obj, path, query

CUSTOMER = "customerSession"
_ANSWER_ERRORS = (401, 404, 409, 413, 415, 422, 429)

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/portal/survey",
        "What to ask this customer now",
        CUSTOMER,
        ok={"type": "object"},
        errors=(401, 404, 422, 429),
        parameters=(query("contract_id", {"type": "string"}), query("locale", {"type": "string"})),
    ),
    Operation(
        "POST",
        "/api/portal/nps",
        "Answer the pending NPS survey",
        CUSTOMER,
        ok={"type": "object"},
        ok_status=201,
        errors=_ANSWER_ERRORS,
        body=obj(
            "score",
            score={"type": "integer", "minimum": 0, "maximum": 10},
            value_for_money={"type": "integer", "minimum": 1, "maximum": 5},
            comment={"type": "string", "maxLength": 2000},
        ),
    ),
    Operation(
        "POST",
        "/api/portal/cancel-reason",
        "Say why a subscription is cancelled",
        CUSTOMER,
        ok={"type": "object"},
        ok_status=201,
        errors=_ANSWER_ERRORS,
        body=obj(
            "contract_id",
            "reason",
            contract_id={"type": "string"},
            reason={"type": "string"},
            comment={"type": "string", "maxLength": 2000},
        ),
    ),
    Operation(
        "OPTIONS",
        "/api/portal/{rest:path}",
        "CORS preflight for any portal path",
        None,
        ok=None,
        ok_status=204,
        errors=(404,),  # a path that is not under /api/portal/ at all
        parameters=(path("rest", {"type": "string", "pattern": "^[a-z-]+$"}),),
    ),
]
