"""Signed links from emails: no login, one-click score, bound to one invitation."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from plugin.db.transaction import transaction
from plugin.models import InvitationStatus, NpsInvitation, NpsResponse, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.surveys.links import make_token
from tests.plugin.portal.portal_helpers import HTML, JSON, form_body
from tests.plugin.surveys.survey_factories import (
    World,
    add_invitation,
    add_shop,
    add_subscriber,
    all_rows,
    count,
    world,
)


async def invitation(runtime: Runtime, w: World, **fields: object) -> NpsInvitation:
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        return await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            sent_at=now,
            **{"expires_at": now + timedelta(days=14), **fields},  # type: ignore[arg-type]
        )


def link(
    runtime: Runtime,
    inv: NpsInvitation,
    w: World,
    *,
    shop_id: int | None = None,
    customer_id: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    token = make_token(
        runtime.settings,
        invitation_id=inv.id,
        shop_id=shop_id or w.shop_id,
        customer_id=customer_id or w.customer_id,
        expires_at=expires_at or inv.expires_at,
    )
    return f"/s/{token}"


async def test_one_click_score_then_the_optional_questions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await world(runtime, locale="de")
    inv = await invitation(runtime, w)
    url = link(runtime, inv, w)
    page = await client.get(f"{url}?score=9", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<html lang="de">' in page.text and "Bewertung 9 gespeichert" in page.text
    assert 'id="vh-score-9" name="score" value="9" required' in page.text
    assert "checked><span>9</span>" in page.text
    assert f'action="{url}"' in page.text and "_ft" not in page.text
    assert len(page.content) < 30_000
    # Opening the link records nothing: the page's script posts the score (see below).
    assert await count(runtime, NpsResponse) == 0
    posted = await client.post(url, **one_click_post(9))
    assert posted.status_code == 201
    [recorded] = await all_rows(runtime, NpsResponse)
    assert (recorded.score, recorded.channel, recorded.value_for_money) == (9, "link", None)

    finished = await client.post(
        url, **form_body({"score": "9", "value_for_money": "5", "comment": "Schnell geliefert"})
    )
    assert finished.status_code == 200 and "Vielen Dank" in finished.text
    [answer] = await all_rows(runtime, NpsResponse)
    assert (answer.id, answer.value_for_money, answer.comment) == (
        recorded.id,
        5,
        "Schnell geliefert",
    )
    # Clicking another score in the email later changes the score only: the page it opens holds
    # the answer so far, and its script posts the form as it stands.
    later = await client.get(f"{url}?score=7", headers=HTML)
    assert "checked><span>7</span>" in later.text and "Schnell geliefert" in later.text
    await client.post(url, **one_click_post(7, value_for_money="5", comment="Schnell geliefert"))
    [answer] = await all_rows(runtime, NpsResponse)
    assert (answer.score, answer.value_for_money, answer.comment) == (7, 5, "Schnell geliefert")


def one_click_post(score: int, **fields: str) -> dict[str, Any]:
    """What the one-click page's script sends: the form as it stands, as urlencoded data,
    asking for JSON."""
    body = form_body({"invitation_id": "", "score": str(score), **fields})
    body["headers"] = {**JSON, "Content-Type": "application/x-www-form-urlencoded"}
    return body


async def test_following_a_one_click_link_without_a_browser_records_nothing(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    # Mail scanners fetch every link in a message: a GET must not answer the survey for them.
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    url = link(lite_runtime, inv, w)
    for accept in (HTML, JSON, {}):
        page = await lite_client.get(f"{url}?score=3", headers=accept)
        assert page.status_code == 200
    assert await count(lite_runtime, NpsResponse) == 0
    page = await lite_client.get(f"{url}?score=3", headers=HTML)
    assert "checked><span>3</span>" in page.text
    # The page posts the score when a browser runs it: the script is allowed by its hash only...
    script = re.search(r"<script>(.*?)</script>", page.text, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    csp = page.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in csp and "connect-src 'self'" in csp
    assert "fetch(" in script.group(1) and "data-vh-one-click" in page.text
    # ...and without script a button saves it.
    noscript = re.search(r"<noscript>(.*?)</noscript>", page.text, re.S)
    assert noscript is not None and '<button type="submit"' in noscript.group(1)


async def test_a_head_request_records_nothing(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    response = await lite_client.head(f"{link(lite_runtime, inv, w)}?score=0")
    assert response.status_code == 200
    assert await count(lite_runtime, NpsResponse) == 0


async def test_links_that_do_not_open(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    good = link(lite_runtime, inv, w)
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        other_shop = await add_shop(tx.session, "another-store.myshopify.com")
        stranger = await add_subscriber(tx.session, other_shop)
    refused = {
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "truncated": good[:-5],
        "expired": link(lite_runtime, inv, w, expires_at=utcnow() - timedelta(seconds=1)),
        "other shop": link(lite_runtime, inv, w, shop_id=other_shop.id),
        "other customer": link(lite_runtime, inv, w, customer_id=stranger.customer_id),
        "no such invitation": "/s/"
        + make_token(
            lite_runtime.settings,
            invitation_id=inv.id + 1000,
            shop_id=w.shop_id,
            customer_id=w.customer_id,
            expires_at=inv.expires_at,
        ),
    }
    for name, url in refused.items():
        page = await lite_client.get(f"{url}?score=10", headers=HTML)
        assert page.status_code == 401, name
        assert "This link does not work" in page.text, name
        posted = await lite_client.post(url, json={"score": 10}, headers=JSON)
        assert posted.status_code == 401, name
        assert posted.json()["error"]["code"] == "invalid_link", name
    assert await count(lite_runtime, NpsResponse) == 0


async def test_invalid_scores_store_nothing(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    url = link(lite_runtime, inv, w)
    for query in ("score=11", "score=-1", "score=ten", "score=1&score=9"):
        page = await lite_client.get(f"{url}?{query}", headers=HTML)
        assert page.status_code == 422, query
        assert 'id="vh-err-score"' in page.text, query
    response = await lite_client.post(url, json={"score": 5, "value_for_money": 0}, headers=JSON)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "value_for_money"
    assert await count(lite_runtime, NpsResponse) == 0


async def test_closed_and_final_surveys(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    expired = await invitation(lite_runtime, w, status=InvitationStatus.EXPIRED)
    page = await lite_client.get(f"{link(lite_runtime, expired, w)}?score=8", headers=HTML)
    assert page.status_code == 409 and "This survey is closed" in page.text

    inv = await invitation(lite_runtime, w)
    url = link(lite_runtime, inv, w)
    assert (await lite_client.post(url, **one_click_post(8))).status_code == 201
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        [response] = await all_rows(lite_runtime, NpsResponse)
        stored = await tx.session.get(NpsResponse, response.id)
        assert stored is not None
        stored.editable_until = utcnow() - timedelta(minutes=1)
    final = await lite_client.get(f"{url}?score=2", headers=HTML)
    assert final.status_code == 409 and "can no longer be changed" in final.text
    late = await lite_client.post(url, json={"score": 2}, headers=JSON)
    assert late.status_code == 409 and late.json()["error"]["code"] == "locked"
    [response] = await all_rows(lite_runtime, NpsResponse)
    assert response.score == 8


async def test_comments_are_escaped_on_the_link_page(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    url = link(lite_runtime, inv, w)
    nasty = '<img src=x onerror=alert(1)>"}}'
    assert (
        await lite_client.post(url, json={"score": 4, "comment": nasty}, headers=JSON)
    ).status_code == 201
    page = await lite_client.get(url, headers=HTML)
    assert "<img" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;&#125;&#125;</textarea>" in page.text


async def test_shop_removed_after_the_email(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    inv = await invitation(lite_runtime, w)
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        shop.uninstalled_at = utcnow()
    page = await lite_client.get(link(lite_runtime, inv, w), headers=HTML)
    assert page.status_code == 401
