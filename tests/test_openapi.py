"""`/api/openapi.json`: an OpenAPI 3.1 description of every admin and portal JSON route, no
more and no less than the router has; schemathesis then calls each described operation of a
real `valuehealth serve` process with generated input: no 5xx, every response as described."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from plugin.app import OPENAPI_DOCUMENT, all_routes, build_app_runtime
from plugin.db.migrate import upgrade_head
from plugin.openapi import openapi_path
from tests.conftest import make_settings
from tests.support.served import app_env, serve
from tests.support.tenants import Tenants, seed

JSON_APIS = ("/api/admin/", "/api/portal/")


def router_operations() -> set[tuple[str, str]]:
    found = set()
    for route in all_routes():
        route_path = getattr(route, "path", "")
        if route_path.startswith(JSON_APIS):
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method.lower(), openapi_path(route_path)))
    return found


def described_operations() -> set[tuple[str, str]]:
    return {
        (method, route_path)
        for route_path, item in OPENAPI_DOCUMENT["paths"].items()
        for method in item
    }


def test_every_json_route_is_described_and_nothing_else() -> None:
    routes, described = router_operations(), described_operations()
    assert routes - described == set(), "routes without an entry in admin_ui/ or portal openapi.py"
    assert described - routes == set(), "entries for routes the router does not have"


async def test_the_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI_DOCUMENT
    assert response.json()["openapi"] == "3.1.0"


# -- schemathesis against a served process -----------------------------------------------


@pytest.fixture(scope="module")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('openapi') / 'app.db'}"
    upgrade_head(url)
    return url


@pytest.fixture(scope="module")
async def tenants(seeded_database: str) -> AsyncIterator[Tenants]:
    runtime = await build_app_runtime(make_settings(seeded_database))
    try:
        yield await seed(runtime)
    finally:
        await runtime.close()


@pytest.fixture(scope="module")
def served_url(
    seeded_database: str, tenants: Tenants, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log_path: Path = tmp_path_factory.mktemp("openapi-log") / "serve.log"
    with serve(app_env(seeded_database), log_path) as served:
        yield served.url


# Checked: no 5xx; status codes, content types, headers and bodies as described; auth not
# ignored. Not checked: that every schema-valid input is accepted and every invalid one refused
# (positive/negative data acceptance): the schemas describe shapes, while the handlers also
# check meaning (dates in order, known metrics, a pending survey) and are lenient where the
# survey pages are (a number given as a comment is kept as text). Nor `Allow` on 405: the router
# answers per route, and GET and POST of one path are two routes.
NOT_CHECKED = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.unsupported_method,
    schemathesis.checks.allow_header_conformance,
]

# The document is built in-process; the calls go to the served process (base_url below).
schema = schemathesis.openapi.from_dict(OPENAPI_DOCUMENT)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_as_described(case: Any, served_url: str, tenants: Tenants) -> None:
    if case.path.startswith("/api/admin"):
        auth = tenants.staff(tenants.a1.shop)
    else:
        auth = tenants.customer(tenants.a1)
    case.call_and_validate(base_url=served_url, headers=auth, excluded_checks=NOT_CHECKED)
