"""`/api/admin/privacy/exports`: the data exports of the token's shop, listed for the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admin_ui.api import privacy
from plugin.db.transaction import transaction
from plugin.models import DataExport, Shop
from plugin.runtime import Runtime
from tests.support.signing import session_token

SHOP = "exports-shop.myshopify.com"
OTHER = "exports-other.myshopify.com"
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def make_exports(runtime: Runtime) -> list[int]:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop, other = Shop(domain=SHOP), Shop(domain=OTHER)
        tx.session.add_all([shop, other])
        await tx.session.flush()
        rows = [
            DataExport(
                shop_id=shop.id,
                customer_id=100 + i,
                request_key=f"req-{i}",
                requested_at=T0 + timedelta(days=i),
                data={"customer": {"id": 100 + i}, "answers": [{"score": 9}]},
            )
            for i in range(3)
        ]
        theirs = DataExport(
            shop_id=other.id,
            customer_id=999,
            request_key="req-x",
            requested_at=T0,
            data={"customer": {"id": 999}},
        )
        tx.session.add_all([*rows, theirs])
        await tx.session.flush()
        return [r.id for r in rows] + [theirs.id]


async def test_exports_are_listed_newest_first_without_their_data(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    *mine, theirs = await make_exports(runtime)
    monkeypatch.setattr(privacy, "PAGE_SIZE", 2)

    first = (await client.get("/api/admin/privacy/exports", headers=auth())).json()
    assert [e["id"] for e in first["exports"]] == [mine[2], mine[1]]
    assert first["exports"][0]["customer_id"] == 102
    assert first["exports"][0]["requested_at"] == (T0 + timedelta(days=2)).isoformat()
    assert "data" not in first["exports"][0]
    second = (
        await client.get(
            f"/api/admin/privacy/exports?cursor={first['next_cursor']}", headers=auth()
        )
    ).json()
    assert [e["id"] for e in second["exports"]] == [mine[0]]
    assert second["next_cursor"] is None
    assert theirs not in [e["id"] for e in first["exports"] + second["exports"]]

    bad = await client.get("/api/admin/privacy/exports?cursor=abc", headers=auth())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


async def test_one_export_downloads_its_data_for_its_shop_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    *mine, theirs = await make_exports(runtime)
    response = await client.get(f"/api/admin/privacy/exports/{mine[0]}", headers=auth())
    assert response.status_code == 200
    assert response.json() == {"customer": {"id": 100}, "answers": [{"score": 9}]}
    assert response.headers["content-disposition"] == (
        f'attachment; filename="customer-100-data-export-{mine[0]}.json"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert (
        await client.get(f"/api/admin/privacy/exports/{theirs}", headers=auth())
    ).status_code == 404
    assert (
        await client.get(f"/api/admin/privacy/exports/{2**70}", headers=auth())
    ).status_code == 404
    assert (await client.get(f"/api/admin/privacy/exports/{mine[0]}")).status_code == 401
