"""Webhook HMAC, session tokens and app proxy signatures, signed the way Shopify signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plugin.settings import Settings
from plugin.shopify.verify import (
    InvalidRequest,
    normalize_shop_domain,
    verify_app_proxy_query,
    verify_session_token,
    verify_webhook_hmac,
)
from tests.conftest import make_settings
from tests.support.signing import (
    API_SECRET,
    API_SECRET_PREVIOUS,
    SHOP,
    proxy_query,
    session_token,
    webhook_hmac,
)

# The test secrets in tests/support/signing.py are shorter than real Shopify secrets.


# ---- shop domains ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("valuehealth-test.myshopify.com", "valuehealth-test.myshopify.com"),
        ("  Shop-1.MyShopify.COM ", "shop-1.myshopify.com"),
        ("-shop.myshopify.com", None),
        ("shop.myshopify.com.evil.com", None),
        ("evil.com/shop.myshopify.com", None),
        ("shop.example.com", None),
        ("sub.shop.myshopify.com", None),
        ("shop.myshopify.com\n", "shop.myshopify.com"),
        ("shop_1.myshopify.com", None),
        ("", None),
        (None, None),
        ("a" * 250 + ".myshopify.com", None),
    ],
)
def test_normalize_shop_domain(raw: str | None, expected: str | None) -> None:
    assert normalize_shop_domain(raw) == expected


# ---- webhooks --------------------------------------------------------------------------------

BODY = json.dumps(
    {"id": 7, "admin_graphql_api_id": "gid://shopify/SubscriptionContract/7"}
).encode()


def test_webhook_hmac_current_and_previous_secret(settings: Settings) -> None:
    assert verify_webhook_hmac(BODY, webhook_hmac(BODY), settings.webhook_secrets)
    assert verify_webhook_hmac(
        BODY, webhook_hmac(BODY, API_SECRET_PREVIOUS), settings.webhook_secrets
    )


def test_webhook_hmac_previous_secret_not_accepted_once_rotation_ends() -> None:
    after_rotation = make_settings("sqlite+aiosqlite:///:memory:", SHOPIFY_API_SECRET_PREVIOUS="")
    assert not verify_webhook_hmac(
        BODY, webhook_hmac(BODY, API_SECRET_PREVIOUS), after_rotation.webhook_secrets
    )


@pytest.mark.parametrize(
    "header",
    [
        webhook_hmac(BODY, "some-other-secret"),
        webhook_hmac(json.dumps(json.loads(BODY), indent=2).encode()),  # body re-serialised
        None,
        "",
        "not base64 at all!",
        webhook_hmac(BODY).replace("+", "-").replace("/", "_").rstrip("="),  # url-safe alphabet
        webhook_hmac(BODY)[:-4],  # truncated
        base64.b64encode(hmac.new(API_SECRET.encode(), BODY, hashlib.sha1).digest()).decode(),
        "ÿÿÿÿ",
    ],
    ids=[
        "wrong-secret",
        "reserialised",
        "missing",
        "empty",
        "not-base64",
        "urlsafe",
        "truncated",
        "sha1",
        "non-ascii",
    ],
)
def test_webhook_hmac_rejects(settings: Settings, header: str | None) -> None:
    assert not verify_webhook_hmac(BODY, header, settings.webhook_secrets)


def test_webhook_hmac_url_safe_signature_is_refused_even_when_digest_matches(
    settings: Settings,
) -> None:
    # Find a body whose digest has '+' or '/' so the url-safe spelling differs from Shopify's.
    for i in range(100):
        body = f'{{"n": {i}}}'.encode()
        standard = webhook_hmac(body)
        if "+" in standard or "/" in standard:
            break
    assert verify_webhook_hmac(body, standard, settings.webhook_secrets)
    urlsafe = standard.replace("+", "-").replace("/", "_")
    assert not verify_webhook_hmac(body, urlsafe, settings.webhook_secrets)


def test_webhook_hmac_non_utf8_body(settings: Settings) -> None:
    body = b"\xff\xfe binary"
    assert verify_webhook_hmac(body, webhook_hmac(body), settings.webhook_secrets)


def test_webhook_hmac_is_fast(settings: Settings) -> None:
    body = json.dumps({"note": "x" * 4000}).encode()
    header = webhook_hmac(body, API_SECRET_PREVIOUS)  # worst case: both secrets computed
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        assert verify_webhook_hmac(body, header, settings.webhook_secrets)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} us per verification"


# ---- session tokens --------------------------------------------------------------------------


def test_staff_token(settings: Settings) -> None:
    token = session_token(sub="42", sid="session-1")
    claims = verify_session_token(token, settings, subject="staff")
    assert claims.shop == SHOP
    assert claims.user_id == 42
    assert claims.customer_id is None
    assert claims.subject == "42"
    assert claims.session_id == "session-1"
    assert claims.expires_at > time.time()


def test_token_signed_with_previous_secret(settings: Settings) -> None:
    claims = verify_session_token(session_token(secret=API_SECRET_PREVIOUS), settings)
    assert claims.shop == SHOP


def test_customer_account_token(settings: Settings) -> None:
    token = _without_claims(session_token(sub="gid://shopify/Customer/123"), "iss")
    claims = verify_session_token(token, settings, subject="customer")
    assert claims.customer_id == 123
    assert claims.user_id is None
    assert claims.shop == SHOP


def test_customer_account_token_with_bare_dest_and_no_sub(settings: Settings) -> None:
    token = _without_claims(session_token(dest=SHOP), "sub", "iss")
    claims = verify_session_token(token, settings, subject="customer")
    assert (claims.shop, claims.customer_id, claims.user_id, claims.subject) == (
        SHOP,
        None,
        None,
        "",
    )


def test_within_leeway_accepted(settings: Settings) -> None:
    # Expired 5 s ago: inside Shopify's 10 s clock leeway.
    token = session_token(now=time.time() - 65, lifetime=60)
    assert verify_session_token(token, settings).shop == SHOP


def test_not_yet_valid_within_leeway_accepted(settings: Settings) -> None:
    token = session_token(nbf=int(time.time()) + 5)
    assert verify_session_token(token, settings).shop == SHOP


@pytest.mark.parametrize(
    ("token_kwargs", "reason"),
    [
        (lambda now: {"now": now - 75, "lifetime": 60}, "expired_id_token"),  # 15 s past exp
        (lambda now: {"nbf": int(now) + 30}, "invalid_id_token"),
        (lambda now: {"aud": "someone-elses-app"}, "invalid_aud"),
        (lambda now: {"secret": "not-our-secret"}, "invalid_id_token"),
        (lambda now: {"algorithm": "HS512"}, "invalid_id_token"),
        (lambda now: {"iss": "https://other-shop.myshopify.com/admin"}, "iss_dest_mismatch"),
        (lambda now: {"dest": "https://evil.example.com"}, "invalid_dest"),
        (lambda now: {"dest": "https://evil.myshopify.com.example.com"}, "invalid_dest"),
        (lambda now: {"dest": "http://valuehealth-test.myshopify.com"}, "invalid_dest"),
        (lambda now: {"sub": "gid://shopify/Order/5"}, "invalid_sub"),
        (lambda now: {"sub": "admin"}, "invalid_sub"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-aud",
        "wrong-secret",
        "hs512",
        "iss-other-shop",
        "dest-not-shopify",
        "dest-suffix-trick",
        "dest-http",
        "sub-order-gid",
        "sub-word",
    ],
)
# The wrong-secret and HS512 tokens are signed with keys jwt finds short; they exist only to
# be refused.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_session_token_rejected(
    settings: Settings, token_kwargs: Callable[[float], dict[str, Any]], reason: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_session_token(session_token(**token_kwargs(time.time())), settings)
    assert caught.value.reason == reason


def test_alg_none_rejected(settings: Settings) -> None:
    payload = jwt.decode(session_token(), options={"verify_signature": False})
    unsigned = jwt.encode(payload, "", algorithm="none")
    with pytest.raises(InvalidRequest):
        verify_session_token(unsigned, settings)


def test_rs256_rejected(settings: Settings) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    payload = jwt.decode(session_token(), options={"verify_signature": False})
    with pytest.raises(InvalidRequest):
        verify_session_token(jwt.encode(payload, pem, algorithm="RS256"), settings)


def test_token_without_exp_rejected(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_session_token(_without_claims(session_token(), "exp"), settings)
    assert caught.value.reason == "missing_exp"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_malformed_token_rejected(settings: Settings, token: str) -> None:
    with pytest.raises(InvalidRequest):
        verify_session_token(token, settings)


def test_customer_token_is_not_a_staff_token(settings: Settings) -> None:
    customer = session_token(sub="gid://shopify/Customer/9")
    with pytest.raises(InvalidRequest) as caught:
        verify_session_token(customer, settings, subject="staff")
    assert caught.value.reason == "not_a_staff_token"


def test_staff_token_is_not_a_customer_token(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_session_token(session_token(sub="42"), settings, subject="customer")
    assert caught.value.reason == "not_a_customer_token"


def test_staff_token_needs_iss(settings: Settings) -> None:
    with pytest.raises(InvalidRequest):
        verify_session_token(_without_claims(session_token(), "iss"), settings, subject="staff")


def _without_claims(token: str, *names: str) -> str:
    """Re-sign a token (with the current secret) after dropping claims."""
    payload = jwt.decode(token, options={"verify_signature": False})
    for name in names:
        payload.pop(name, None)
    return jwt.encode(payload, API_SECRET, algorithm="HS256")


# ---- app proxy -------------------------------------------------------------------------------


def test_proxy_logged_in_customer(settings: Settings) -> None:
    query = proxy_query({"contract_id": "55"}, customer_id="987")
    request = verify_app_proxy_query(query, settings)
    assert request.shop == SHOP
    assert request.customer_id == 987
    assert request.path_prefix == "/apps/valuehealth"
    assert request.params == {"contract_id": "55"}


def test_proxy_anonymous_visitor(settings: Settings) -> None:
    request = verify_app_proxy_query(proxy_query({}), settings)
    assert request.customer_id is None
    assert request.params == {}


def test_proxy_signed_with_previous_secret(settings: Settings) -> None:
    query = proxy_query({}, customer_id="1", secret=API_SECRET_PREVIOUS)
    assert verify_app_proxy_query(query, settings).customer_id == 1


def test_proxy_repeated_parameters_joined_with_commas(settings: Settings) -> None:
    query = proxy_query({"tag": ["a", "b", "c"]}, customer_id="5")
    assert "tag=a&tag=b&tag=c" in query
    assert verify_app_proxy_query(query, settings).params == {"tag": "a,b,c"}


def test_proxy_parameter_order_does_not_matter(settings: Settings) -> None:
    pairs = parse_qsl(proxy_query({"x": "1", "y": "2"}), keep_blank_values=True)
    reordered = urlencode(list(reversed(pairs)))
    assert verify_app_proxy_query(reordered, settings).params == {"x": "1", "y": "2"}


@pytest.mark.parametrize("offset", [-91, 91, -3600])
def test_proxy_stale_timestamp(settings: Settings, offset: int) -> None:
    query = proxy_query({}, timestamp=int(time.time()) + offset)
    with pytest.raises(InvalidRequest) as caught:
        verify_app_proxy_query(query, settings)
    assert caught.value.reason == "timestamp_too_old"


@pytest.mark.parametrize("offset", [-80, 80])
def test_proxy_timestamp_inside_window(settings: Settings, offset: int) -> None:
    query = proxy_query({}, timestamp=int(time.time()) + offset)
    assert verify_app_proxy_query(query, settings).shop == SHOP


def _tamper(query: str, key: str, value: str) -> str:
    pairs = [(k, value if k == key else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return urlencode(pairs)


@pytest.mark.parametrize(
    "make_query",
    [
        lambda: proxy_query({}, secret="not-our-secret"),
        lambda: _tamper(proxy_query({}, customer_id="1"), "logged_in_customer_id", "2"),
        lambda: _tamper(proxy_query({"contract_id": "1"}), "contract_id", "2"),
        lambda: proxy_query({}) + "&extra=1",
        lambda: _tamper(proxy_query({}), "signature", "é" * 64),
        lambda: _tamper(proxy_query({}), "signature", ""),
        lambda: urlencode(
            [
                (k, v)
                for k, v in parse_qsl(proxy_query({}), keep_blank_values=True)
                if k != "signature"
            ]
        ),
        lambda: proxy_query({}) + "&shop=other.myshopify.com",
        lambda: proxy_query({}) + "#&contract_id=9",
    ],
    ids=[
        "wrong-secret",
        "customer-swapped",
        "param-changed",
        "param-added",
        "non-ascii-signature",
        "empty-signature",
        "missing-signature",
        "second-shop",
        "fragment",
    ],
)
def test_proxy_rejected(settings: Settings, make_query: Callable[[], str]) -> None:
    with pytest.raises(InvalidRequest):
        verify_app_proxy_query(make_query(), settings)


def test_proxy_bad_shop_domain_rejected_even_when_signed(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_app_proxy_query(proxy_query({}, shop="evil.example.com"), settings)
    assert caught.value.reason == "invalid_shop"


def test_proxy_non_numeric_customer_rejected_even_when_signed(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as caught:
        verify_app_proxy_query(proxy_query({}, customer_id="12abc"), settings)
    assert caught.value.reason == "invalid_customer_id"
