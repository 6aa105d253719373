"""OpenAPI entries of `/api/portal/*` (the customer-account extension's API): one per route in
`plugin/portal/routes.py`. A new portal JSON route adds its entry here."""

from __future__ import annotations

from plugin.openapi import Operation, obj, path, query

CUSTOMER = "customerSession"
_ANSWER_ERRORS = (401, 404, 409, 413, 415, 422, 429)
_CHANGE_ERRORS = (*_ANSWER_ERRORS, 503)  # 503: Shopify could not be reached

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
    # Self-service and the cancel flow (plugin.selfservice, plugin.saveoffers)
    Operation(
        "GET",
        "/api/portal/subscriptions",
        "This customer's subscriptions and what they can change",
        CUSTOMER,
        ok={"type": "object"},
        errors=(401, 404, 409, 429, 503),
    ),
    Operation(
        "GET",
        "/api/portal/subscriptions/{contract_id}",
        "One subscription: next delivery, plan options, allowed changes, payment problem",
        CUSTOMER,
        ok={"type": "object"},
        errors=(401, 404, 409, 429, 503),
        parameters=(path("contract_id", {"type": "integer", "minimum": 1}),),
    ),
    Operation(
        "POST",
        "/api/portal/subscriptions/{contract_id}",
        "Skip, change frequency or quantity, pause or resume (carried out in Shopify), or "
        "payment_update_email: Shopify emails a secure card-update link (while a payment "
        "problem is open; 429 when asked again too soon)",
        CUSTOMER,
        ok=obj("done", "subscription"),
        errors=_CHANGE_ERRORS,
        parameters=(path("contract_id", {"type": "integer", "minimum": 1}),),
        body=obj(
            "action",
            action={
                "type": "string",
                "enum": [
                    "skip",
                    "frequency",
                    "quantity",
                    "pause",
                    "resume",
                    "payment_update_email",
                ],
            },
        ),
    ),
    Operation(
        "POST",
        "/api/portal/cancel-flow",
        "Start cancelling: the reason, and the save offer for it (if any)",
        CUSTOMER,
        ok={"type": "object"},
        ok_status=201,
        errors=_CHANGE_ERRORS,
        body=obj(
            "contract_id",
            "reason",
            contract_id={"type": "string"},
            reason={"type": "string"},
            comment={"type": "string", "maxLength": 2000},
        ),
    ),
    Operation(
        "POST",
        "/api/portal/cancel-flow/{flow_id}",
        "Accept the save offer or confirm the cancellation",
        CUSTOMER,
        ok=obj("outcome"),
        errors=_CHANGE_ERRORS,
        parameters=(path("flow_id", {"type": "integer", "minimum": 1}),),
        body=obj("decision", decision={"type": "string", "enum": ["accept", "cancel"]}),
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
