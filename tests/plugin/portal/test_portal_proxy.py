"""App proxy pages and answers: signature on every request, the customer from the signed query
only, HTML forms that work without JavaScript, JSON for scripts, Liquid inside the theme."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from plugin.db.transaction import transaction
from plugin.models import Cancellation, NpsInvitation, NpsResponse
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.plugin.portal.portal_helpers import (
    HTML,
    JSON,
    form_token_of,
    hidden,
    proxy_page,
    proxy_post_form,
    proxy_post_json,
    signed,
)
from tests.plugin.surveys.survey_factories import World, add_invitation, all_rows, count, world
from tests.support.signing import SHOP


async def invited(runtime: Runtime, **settings: object) -> World:
    w = await world(runtime, settings=dict(settings) or None)
    now = utcnow()
    async with transaction(runtime.sessionmaker, None) as tx:
        await add_invitation(
            tx.session,
            w.shop_id,
            w.subscriber_id,
            contract_pk=w.contract_pk,
            order_id=w.order_id,
            sent_at=now - timedelta(hours=1),
            expires_at=now + timedelta(days=14),
        )
    return w


async def test_the_survey_page_renders_inside_the_theme_as_liquid(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime)
    page = await proxy_page(lite_client, w.customer_id)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("application/liquid")
    assert "<html" not in page.text  # the theme provides the document
    assert page.headers["cache-control"] == "private, no-store"
    # Accessible without JavaScript: a fieldset of eleven labelled radios, a real form.
    assert "<script" not in page.text
    assert page.text.count('type="radio" id="vh-score-') == 11
    assert "<legend>How likely are you to recommend us" in page.text
    assert 'action="/apps/valuehealth/nps"' in page.text and 'method="post"' in page.text
    assert len(page.content) < 30_000


async def test_a_shop_can_serve_standalone_pages(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime, proxy_theme_layout=False)
    page = await proxy_page(lite_client, w.customer_id)
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!doctype html>") and '<html lang="en">' in page.text


async def test_signature_checks(lite_client: httpx.AsyncClient, lite_runtime: Runtime) -> None:
    w = await invited(lite_runtime)
    cases = {
        "wrong secret": signed("/proxy/survey", w.customer_id, secret="not-the-secret"),
        "stale": signed("/proxy/survey", w.customer_id, timestamp=int(time.time()) - 300),
        "future": signed("/proxy/survey", w.customer_id, timestamp=int(time.time()) + 300),
        "unsigned": f"/proxy/survey?shop={SHOP}&logged_in_customer_id={w.customer_id}",
        # The customer swapped after signing: another customer's survey must not be shown.
        "tampered": signed("/proxy/survey", w.customer_id).replace(
            f"logged_in_customer_id={w.customer_id}", "logged_in_customer_id=1"
        ),
        # A second logged_in_customer_id appended to a signed query.
        "duplicated": signed("/proxy/survey", w.customer_id) + "&logged_in_customer_id=1",
    }
    for name, url in cases.items():
        response = await lite_client.get(url, headers=HTML)
        assert response.status_code == 401, name
        assert "vh-score" not in response.text, name
    # Duplicated survey parameters are signed as Shopify joins them, and still refused.
    dup = await lite_client.get(
        signed("/proxy/survey", w.customer_id, {"contract_id": [str(w.contract_id), "1"]}),
        headers=HTML,
    )
    assert dup.status_code == 404 and "vh-reason" not in dup.text
    post = await lite_client.post(
        signed("/proxy/nps", w.customer_id, secret="not-the-secret"),
        json={"score": 9},
        headers=JSON,
    )
    assert post.status_code == 401 and post.json()["error"]["code"] == "unauthorized"
    assert await count(lite_runtime, NpsResponse) == 0


async def test_anonymous_visitors_are_asked_to_log_in(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    await invited(lite_runtime)
    page = await proxy_page(lite_client, None)
    assert page.status_code == 200
    assert "Please log in" in page.text and "/account/login?return_url=" in page.text
    assert "vh-score" not in page.text
    answer = await proxy_post_json(lite_client, "nps", None, {"score": 10})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_logged_in"
    assert await count(lite_runtime, NpsResponse) == 0


async def test_submitting_the_form(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await invited(runtime)
    page = await proxy_page(client, w.customer_id)
    form = {
        "_ft": form_token_of(page),
        "invitation_id": hidden(page, "invitation_id"),
        "score": "8",
        "value_for_money": "4",
        "comment": "Good beans",
    }
    thanks = await proxy_post_form(client, "nps", w.customer_id, form)
    assert thanks.status_code == 200
    assert thanks.headers["content-type"].startswith("application/liquid")
    assert "Thank you" in thanks.text and "You can change it until" in thanks.text
    [response] = await all_rows(runtime, NpsResponse)
    assert (response.score, response.value_for_money, response.comment, response.channel) == (
        8,
        4,
        "Good beans",
        "proxy",
    )
    # Within the edit window the same form changes the answer; no second row.
    again = await proxy_post_form(client, "nps", w.customer_id, {**form, "score": "9"})
    assert again.status_code == 200
    [response] = await all_rows(runtime, NpsResponse)
    assert response.score == 9


async def test_a_form_post_needs_the_pages_form_token(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime)
    for token in (None, "", "123.abc", f"{int(time.time()) + 60}.{'0' * 32}"):
        form = {"score": "0"} if token is None else {"score": "0", "_ft": token}
        response = await proxy_post_form(lite_client, "nps", w.customer_id, form)
        assert response.status_code == 403
    # A token of another customer does not do either.
    other = await proxy_page(lite_client, w.customer_id + 1)
    assert "_ft" not in other.text  # no survey for them, no form
    assert await count(lite_runtime, NpsResponse) == 0


async def test_json_answers(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await invited(runtime)
    created = await proxy_post_json(client, "nps", w.customer_id, {"score": 10, "comment": "<3"})
    assert created.status_code == 201
    body = created.json()["response"]
    assert (body["score"], body["comment"], body["channel"]) == (10, "<3", "proxy")
    none_left = await proxy_post_json(client, "nps", w.customer_id + 7, {"score": 10})
    assert none_left.status_code == 409
    assert none_left.json()["error"]["code"] == "no_pending"


async def test_invalid_answers_are_422_naming_the_field(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await invited(runtime)
    for body, field in [
        ({"score": 11}, "score"),
        ({"score": -1}, "score"),
        ({"score": "ten"}, "score"),
        ({"score": 7, "value_for_money": 9}, "value_for_money"),
        ({"score": 7, "comment": "x" * 2001}, "comment"),
        ({"score": 7, "invitation_id": "first"}, "invitation_id"),
    ]:
        response = await proxy_post_json(client, "nps", w.customer_id, body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field, body
    for body, field in [
        ({"reason": "too_expensive"}, "contract_id"),
        ({"contract_id": 12345, "reason": "too_expensive"}, "contract_id"),
        ({"contract_id": w.contract_id, "reason": "bored"}, "reason"),
        ({"contract_id": w.contract_id, "reason": "other"}, "comment"),
    ]:
        response = await proxy_post_json(client, "cancel-reason", w.customer_id, body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field, body
    bad_json = await client.post(
        signed("/proxy/nps", w.customer_id),
        content=b"{not json",
        headers={**JSON, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 422 and bad_json.json()["error"]["field"] == "body"
    assert await count(runtime, NpsResponse) == 0
    assert await count(runtime, Cancellation) == 0
    [invitation] = await all_rows(runtime, NpsInvitation)
    assert invitation.status == "pending"


async def test_an_invalid_form_comes_back_with_the_error_beside_the_field(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await invited(lite_runtime)
    page = await proxy_page(lite_client, w.customer_id)
    token = form_token_of(page)
    form = {"_ft": token, "score": "11", "value_for_money": "2", "comment": "kept <as> typed"}
    response = await proxy_post_form(lite_client, "nps", w.customer_id, form)
    assert response.status_code == 422
    assert 'role="alert"' in response.text and 'href="#vh-score-0"' in response.text
    assert 'id="vh-err-score"' in response.text
    assert "kept &lt;as&gt; typed</textarea>" in response.text
    assert 'id="vh-vfm-2" name="value_for_money" value="2" checked' in response.text
    # A field sent twice is refused rather than guessed.
    twice = [("_ft", token), ("score", "3"), ("score", "10")]
    response = await proxy_post_form(lite_client, "nps", w.customer_id, twice)
    assert response.status_code == 422 and "This answer was sent more than once." in response.text
    assert await count(lite_runtime, NpsResponse) == 0


async def test_the_cancel_reason_form(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await world(runtime)
    page = await proxy_page(client, w.customer_id, contract_id=w.contract_id)
    assert page.status_code == 200
    assert page.text.count('name="reason"') == 12
    assert "What is the main reason you are cancelling?" in page.text
    assert hidden(page, "contract_id") == str(w.contract_id)
    form = {
        "_ft": form_token_of(page),
        "contract_id": str(w.contract_id),
        "reason": "other",
        "comment": "",
    }
    refused = await proxy_post_form(client, "cancel-reason", w.customer_id, form)
    assert refused.status_code == 422 and 'id="vh-err-comment"' in refused.text
    assert refused.text.count('name="reason"') == 12  # the whole form again
    assert 'value="other" required checked' in refused.text
    done = await proxy_post_form(
        client, "cancel-reason", w.customer_id, {**form, "comment": "Moving abroad"}
    )
    assert done.status_code == 200 and "Thank you" in done.text
    [row] = await all_rows(runtime, Cancellation)
    assert (row.reason_code, row.comment, row.channel) == ("other", "Moving abroad", "proxy")
    # Someone else's contract, or none: not found, never their form.
    for contract_id in (w.contract_id + 1, "abc"):
        other = await proxy_page(client, w.customer_id, contract_id=contract_id)
        assert other.status_code == 404 and 'name="reason"' not in other.text
    stranger = await proxy_page(client, w.customer_id + 99, contract_id=w.contract_id)
    assert stranger.status_code == 404 and 'name="reason"' not in stranger.text


async def test_comments_are_escaped_wherever_shown(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime)
    nasty = '</textarea><script>alert(1)</script>{{ customer.email }}{% raw %}"'
    page = await proxy_page(lite_client, w.customer_id, contract_id=w.contract_id)
    form = {
        "_ft": form_token_of(page),
        "contract_id": str(w.contract_id),
        "reason": "other",
        "comment": nasty,
    }
    assert (
        await proxy_post_form(lite_client, "cancel-reason", w.customer_id, form)
    ).status_code == 200
    [row] = await all_rows(lite_runtime, Cancellation)
    assert row.comment == nasty  # stored as the subscriber typed it
    shown = await proxy_page(lite_client, w.customer_id, contract_id=w.contract_id)
    assert "<script>" not in shown.text and "</textarea><script" not in shown.text
    assert "{{" not in shown.text and "{%" not in shown.text  # no Liquid from a comment
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#123;&#123; customer.email" in (
        shown.text
    )


@pytest.mark.parametrize(
    ("params", "headers", "locale", "expected"),
    [
        ({"locale": "fr"}, {"Accept-Language": "de"}, None, "Votre avis compte"),
        ({}, {"Accept-Language": "de-CH, en;q=0.5"}, None, "Ihre Meinung zählt"),
        ({}, {"Accept-Language": "ja"}, "es", "Tu opinión nos importa"),
        ({"locale": "pt-BR"}, {"Accept-Language": "ja"}, None, "How are we doing?"),
    ],
)
async def test_translations(
    lite_client: httpx.AsyncClient,
    lite_runtime: Runtime,
    params: dict[str, str],
    headers: dict[str, str],
    locale: str | None,
    expected: str,
) -> None:
    w = await world(lite_runtime, locale=locale)
    now = utcnow()
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, sent_at=now, expires_at=now + timedelta(days=1)
        )
    page = await lite_client.get(
        signed("/proxy/survey", w.customer_id, params), headers={**HTML, **headers}
    )
    assert f'<h1 id="vh-title">{expected}</h1>' in page.text


async def test_merchant_label_overrides(
    lite_client: httpx.AsyncClient, lite_runtime: Runtime
) -> None:
    w = await world(lite_runtime, settings={"labels": {"de": {"cancel.title": "Auf Wiedersehen"}}})
    async with transaction(lite_runtime.sessionmaker, None) as tx:
        from plugin.surveys.catalogue import revise_reason

        await revise_reason(tx.session, w.shop_id, "budget", labels={"de": "Zu teuer für mich"})
    page = await lite_client.get(
        signed("/proxy/survey", w.customer_id, {"contract_id": w.contract_id, "locale": "de"}),
        headers=HTML,
    )
    assert '<h1 id="vh-title">Auf Wiedersehen</h1>' in page.text
    assert "Zu teuer für mich" in page.text and "Es ist zu teuer" in page.text
