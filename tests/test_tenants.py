"""Every admin and portal route, enumerated from the router, with shop A's credentials (staff
token, customer A1's token, A1's app proxy signature, A1's signed link) aimed at shop B's ids
and at customer A2's: nothing of B or A2 is read, nothing of theirs is written.

Generic: a route added later is covered as soon as it is in the router. Path parameters are
filled with the victim's ids by name (`PATH_VALUES`); a new parameter name fails the test until
it is given one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from plugin.app import all_routes, build_app_runtime, create_app
from plugin.models import Base
from plugin.runtime import Runtime
from tests.conftest import empty_tables, make_settings
from tests.support.asgi import asgi_client
from tests.support.tenants import Customer, Tenants, seed

PREFIXES = ("/api/admin", "/api/portal", "/proxy", "/s/")


@pytest.fixture
async def tenant_runtime(pg_url: str) -> AsyncIterator[Runtime]:
    rt = await build_app_runtime(make_settings(pg_url))
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


def routes() -> list[tuple[str, str]]:
    found = []
    for route in all_routes():
        route_path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD" and route_path.startswith(PREFIXES):
                found.append((method, route_path))
    return found


def path_values(t: Tenants) -> dict[str, str]:
    """The victim's id for each path parameter name."""
    return {
        "customer_id": str(t.b.customer_id),
        "contract_id": str(t.b.contract_id),
        "flow_id": "1",  # a cancel flow of shop B's would have a low id too
        "initiative_id": str(t.b_initiative_id),
        "export_id": str(t.b_export_id),
        "month": "2026-11",
        "rest": "nps",
        "plan_id": "1",
        "code": "too_expensive",
        "section": "surveys",
        "token": t.a1.link_token,  # A1's own link: the attacker holds only that
    }


def fill(route_path: str, values: dict[str, str]) -> str:
    out = []
    for part in route_path.split("/"):
        if part.startswith("{"):
            name = part[1:-1].split(":", 1)[0]
            assert name in values, f"give the path parameter {name!r} a value in PATH_VALUES"
            part = values[name]
        out.append(part)
    return "/".join(out)


def victim_params(t: Tenants, victim: Customer) -> dict[str, Any]:
    """Everything a request could use to name someone else's records."""
    return {
        "contract_id": victim.contract_id,
        "customer_id": victim.customer_id,
        "invitation_id": victim.invitation_id,
        "subscriber_id": victim.subscriber_id,
        "shop": victim.shop,
        "shop_id": victim.shop_id,
        "score": 9,
        "reason": "too_expensive",
        "comment": "written by A1",
        "title": "written by A1",
        "status": "done",
    }


def request_for(
    t: Tenants, method: str, route_path: str, victim: Customer
) -> tuple[str, dict[str, str], bytes | None]:
    url = fill(route_path, path_values(t))
    params = victim_params(t, victim)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if route_path.startswith("/api/admin"):
        headers.update(t.staff(t.a1.shop))
    elif route_path.startswith("/api/portal"):
        headers.update(t.customer(t.a1))
    query = {k: v for k, v in params.items() if k in ("contract_id", "customer_id", "shop")}
    if route_path.startswith("/proxy"):
        url += "?" + t.proxy(t.a1, {"contract_id": victim.contract_id})
    elif method == "GET":
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    body = json.dumps(params).encode() if method in ("POST", "PATCH", "PUT") else None
    return url, headers, body


async def rows_of(runtime: Runtime, t: Tenants) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of shop B, and every row naming customer A2's subscriber, in every table."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            conditions = []
            if "shop_id" in table.c:
                conditions.append(table.c.shop_id == t.b.shop_id)
            # A2's scores are recomputed with the rest of shop A after A1 answers: derived
            # figures, not A2's data; everything else naming A2 must stay as it was.
            if "subscriber_id" in table.c and table.name != "subscriber_scores":
                conditions.append(table.c.subscriber_id == t.a2.subscriber_id)
            if table.name == "shops":
                conditions.append(table.c.id == t.b.shop_id)
            for condition in conditions:
                rows = (await session.execute(select(table).where(condition))).all()
                out[f"{table.name}:{condition}"] = sorted(
                    (tuple(map(repr, row)) for row in rows), key=repr
                )
    return out


def markers(victim: Customer, t: Tenants) -> list[str]:
    """What only the victim's records hold (never anything the attacker's request sent)."""
    found = list(victim.secrets)
    if victim.shop != t.a1.shop:
        found += [t.b_initiative_title, "Secret export of bravo"]
    return found


def test_the_enumeration_finds_every_family_of_routes() -> None:
    families = {next(p for p in PREFIXES if path.startswith(p)) for _, path in routes()}
    assert families == set(PREFIXES)
    assert len(routes()) >= 20


async def test_no_route_crosses_a_tenant_or_a_customer(tenant_runtime: Runtime) -> None:
    rt = tenant_runtime
    t = await seed(rt)
    before = await rows_of(rt, t)
    assert any(before.values())
    checked = []
    async with asgi_client(create_app(runtime=rt)) as client:
        for method, route_path in routes():
            # Staff of shop A may see every customer of A; customers only themselves.
            victims = (t.b,) if route_path.startswith("/api/admin") else (t.b, t.a2)
            for victim in victims:
                url, headers, body = request_for(t, method, route_path, victim)
                response = await client.request(method, url, headers=headers, content=body)
                assert response.status_code < 500, (method, route_path, response.text)
                for marker in markers(victim, t):
                    assert marker not in response.text, (method, route_path, marker)
                checked.append((method, route_path, response.status_code))
        assert rt.queue is not None
    await rt.queue.drain()  # type: ignore[attr-defined]
    assert await rows_of(rt, t) == before
    # The requests did reach the handlers (not all refused at the door).
    assert any(status in (200, 201) for _, _, status in checked), checked
    print(f"tenant check: {len(checked)} requests over {len(routes())} routes, none crossed")


async def test_the_same_credentials_do_reach_their_own_data(tenant_runtime: Runtime) -> None:
    # The control: A's staff token reads A's subscriber, B's token reads B's.
    rt = tenant_runtime
    t = await seed(rt)
    async with asgi_client(create_app(runtime=rt)) as client:
        own = await client.get(  # control: the marker is there when reading is allowed
            f"/api/admin/subscribers/{t.a1.customer_id}", headers=t.staff(t.a1.shop)
        )
        assert own.status_code == 200 and t.a1.secrets[0] in own.text
        theirs = await client.get(
            f"/api/admin/subscribers/{t.b.customer_id}", headers=t.staff(t.b.shop)
        )
        assert theirs.status_code == 200 and t.b.secrets[0] in theirs.text
        export = await client.get(
            f"/api/admin/privacy/exports/{t.b_export_id}", headers=t.staff(t.b.shop)
        )
        assert export.status_code == 200 and "Secret export of bravo" in export.text
