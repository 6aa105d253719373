"""Routes of the admin UI: the App Home page and its JSON API (`/api/admin/*`).

One flat list: add a page or an endpoint by adding its Route here.
"""

from starlette.routing import BaseRoute, Mount, Route

from admin_ui.api.billing import billing_overview, billing_settings_save
from admin_ui.api.customer_data import customer_data_get, customer_data_update
from admin_ui.api.history import history
from admin_ui.api.initiatives import (
    initiative_create,
    initiative_get,
    initiative_update,
    initiatives_list,
)
from admin_ui.api.onboarding import onboarding, onboarding_backfill
from admin_ui.api.overview import definitions, overview, retention
from admin_ui.api.plans import plan_create, plan_update, plans_list
from admin_ui.api.privacy import export_get, exports_list
from admin_ui.api.review_digests import (
    digest_get,
    digest_reviewed,
    digest_settings_update,
    digests_list,
)
from admin_ui.api.reviews import review_months, review_pack
from admin_ui.api.save_offers import save_offers_get, save_offers_put
from admin_ui.api.settings import (
    reason_add,
    reason_order,
    reason_update,
    settings_get,
    settings_put,
)
from admin_ui.api.subscribers import export_subscribers, get_subscriber, list_subscribers
from admin_ui.api.trends import trends
from admin_ui.assets import StaticAssets
from admin_ui.auth import admin_endpoint
from admin_ui.page import PATCH_ID_TOKEN_PATH, STATIC_PATH, app_home, patch_id_token

ROUTES: list[BaseRoute] = [
    Route("/api/admin/overview", admin_endpoint(overview), methods=["GET"]),
    Route("/api/admin/retention", admin_endpoint(retention), methods=["GET"]),
    Route("/api/admin/subscribers", admin_endpoint(list_subscribers), methods=["GET"]),
    Route("/api/admin/subscribers.csv", admin_endpoint(export_subscribers), methods=["GET"]),
    Route("/api/admin/subscribers/{customer_id}", admin_endpoint(get_subscriber), methods=["GET"]),
    Route("/api/admin/trends", admin_endpoint(trends), methods=["GET"]),
    Route("/api/admin/history", admin_endpoint(history), methods=["GET"]),
    Route("/api/admin/metrics/definitions", admin_endpoint(definitions), methods=["GET"]),
    # Workspace settings: shop settings sections and the cancel-reason list (admin_ui.api.settings)
    Route("/api/admin/settings", admin_endpoint(settings_get), methods=["GET"]),
    Route("/api/admin/settings/reasons", admin_endpoint(reason_add), methods=["POST"]),
    Route("/api/admin/settings/reasons/order", admin_endpoint(reason_order), methods=["PUT"]),
    Route("/api/admin/settings/reasons/{code}", admin_endpoint(reason_update), methods=["PATCH"]),
    Route("/api/admin/settings/{section}", admin_endpoint(settings_put), methods=["PUT"]),
    # Workspace onboarding: setup checklist and the import it starts (plugin.onboarding)
    Route("/api/admin/onboarding", admin_endpoint(onboarding), methods=["GET"]),
    Route(
        "/api/admin/onboarding/backfill",
        admin_endpoint(onboarding_backfill),
        methods=["POST"],
    ),
    # App Home document and what it loads (admin_ui.page, static/)
    # Workspace shell: every page under /app is the same document (admin_ui.page, static/)
    Route("/app", app_home, methods=["GET"]),
    Route("/app/{path:path}", app_home, methods=["GET"]),
    Route(PATCH_ID_TOKEN_PATH, patch_id_token, methods=["GET"]),
    Mount(STATIC_PATH, app=StaticAssets(), name="admin-static"),
    # Monthly value review pack (plugin.review)
    Route("/api/admin/reviews", admin_endpoint(review_months), methods=["GET"]),
    Route("/api/admin/reviews/{month}", admin_endpoint(review_pack), methods=["GET"]),
    # Monthly review digest: stored packs, badge, review history (plugin.review.digest)
    Route("/api/admin/review-digests", admin_endpoint(digests_list), methods=["GET"]),
    Route(
        "/api/admin/review-digests/settings",
        admin_endpoint(digest_settings_update),
        methods=["PATCH"],
    ),
    Route("/api/admin/review-digests/{month}", admin_endpoint(digest_get), methods=["GET"]),
    Route(
        "/api/admin/review-digests/{month}/reviewed",
        admin_endpoint(digest_reviewed),
        methods=["POST"],
    ),
    # Value initiatives (plugin.initiatives)
    Route("/api/admin/initiatives", admin_endpoint(initiatives_list), methods=["GET"]),
    Route("/api/admin/initiatives", admin_endpoint(initiative_create), methods=["POST"]),
    Route(
        "/api/admin/initiatives/{initiative_id:int}",
        admin_endpoint(initiative_get),
        methods=["GET"],
    ),
    Route(
        "/api/admin/initiatives/{initiative_id:int}",
        admin_endpoint(initiative_update),
        methods=["PATCH"],
    ),
    # Subscription plans, kept in Shopify as selling plan groups (plugin.billing.plans)
    Route("/api/admin/plans", admin_endpoint(plans_list), methods=["GET"]),
    Route("/api/admin/plans", admin_endpoint(plan_create), methods=["POST"]),
    Route("/api/admin/plans/{plan_id:int}", admin_endpoint(plan_update), methods=["PATCH"]),
    # Billing: dunning settings, today's run, recovered revenue (plugin.billing)
    Route("/api/admin/billing", admin_endpoint(billing_overview), methods=["GET"]),
    Route("/api/admin/billing/settings", admin_endpoint(billing_settings_save), methods=["PUT"]),
    # Value data on Shopify customers: metafields, tags, scopes (plugin.customer_data)
    Route("/api/admin/customer-data", admin_endpoint(customer_data_get), methods=["GET"]),
    Route("/api/admin/customer-data", admin_endpoint(customer_data_update), methods=["PATCH"]),
    # Save offers in the cancel flow (plugin.saveoffers)
    Route("/api/admin/save-offers", admin_endpoint(save_offers_get), methods=["GET"]),
    Route("/api/admin/save-offers", admin_endpoint(save_offers_put), methods=["PUT"]),
    # Customer data exports made for customers/data_request (plugin.domain.privacy)
    Route("/api/admin/privacy/exports", admin_endpoint(exports_list), methods=["GET"]),
    Route(
        "/api/admin/privacy/exports/{export_id:int}", admin_endpoint(export_get), methods=["GET"]
    ),
]
