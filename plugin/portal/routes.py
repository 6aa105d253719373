"""Subscriber-facing routes (docs/design.md §6 "Portal routes")."""

from collections.abc import Callable
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from plugin.portal import api, link_pages, proxy, selfservice_api, selfservice_pages
from plugin.portal.timing import ServerTiming

_TIMED = [Middleware(ServerTiming)]


def _route(path: str, endpoint: Callable[..., Any], method: str) -> Route:
    return Route(path, endpoint, methods=[method], middleware=_TIMED)


ROUTES: list[BaseRoute] = [
    # App proxy: Shopify forwards https://{shop}/apps/{subpath}/… here, signed.
    _route("/proxy/survey", proxy.survey_page, "GET"),
    _route("/proxy/nps", proxy.submit_nps, "POST"),
    _route("/proxy/cancel-reason", proxy.submit_cancel, "POST"),
    # Self-service and the cancel flow with save offers (plugin.selfservice, plugin.saveoffers).
    _route("/proxy/subscriptions", selfservice_pages.subscriptions_page, "GET"),
    _route("/proxy/subscriptions/{contract_id:int}", selfservice_pages.subscription_page, "GET"),
    _route("/proxy/subscriptions/{contract_id:int}", selfservice_pages.change_subscription, "POST"),
    _route("/proxy/cancel", selfservice_pages.cancel_page, "GET"),
    _route("/proxy/cancel", selfservice_pages.submit_reason, "POST"),
    _route("/proxy/cancel/{flow_id:int}", selfservice_pages.decide, "POST"),
    # Customer-account UI extension: Bearer session token, CORS.
    _route("/api/portal/survey", api.survey, "GET"),
    _route("/api/portal/nps", api.submit_nps, "POST"),
    _route("/api/portal/cancel-reason", api.submit_cancel, "POST"),
    _route("/api/portal/subscriptions", selfservice_api.subscriptions, "GET"),
    _route("/api/portal/subscriptions/{contract_id}", selfservice_api.subscription, "GET"),
    _route("/api/portal/subscriptions/{contract_id}", selfservice_api.change, "POST"),
    _route("/api/portal/cancel-flow", selfservice_api.start_cancel, "POST"),
    _route("/api/portal/cancel-flow/{flow_id}", selfservice_api.decide_cancel, "POST"),
    _route("/api/portal/{rest:path}", api.preflight, "OPTIONS"),
    # Signed links from emails.
    _route("/s/{token}", link_pages.link_page, "GET"),
    _route("/s/{token}", link_pages.link_submit, "POST"),
]
