"""`valuehealth serve` as deployed, a real process: its output holds no signed link, session
token, app proxy signature or customer id from the URLs it served (uvicorn's access log used to
print full URLs), and the per-IP limit on signed links trusts `X-Forwarded-For` only from the
proxies named in TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from plugin.db.migrate import upgrade_head
from plugin.surveys.links import make_token
from plugin.surveys.ratelimit import IP_LIMIT_REQUESTS
from tests.conftest import make_settings
from tests.support.served import app_env, serve
from tests.support.signing import SHOP, proxy_query, session_token

CUSTOMER_ID = "7364019283746"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('served') / 'app.db'}"
    upgrade_head(url)
    yield url


def link_token() -> str:
    return make_token(
        make_settings("sqlite://"),
        invitation_id=424242,
        shop_id=1,
        customer_id=int(CUSTOMER_ID),
        expires_at=datetime.now(UTC) + timedelta(days=3),
    )


def test_the_server_output_holds_no_credential_from_a_url(
    database_url: str, tmp_path: Path
) -> None:
    token = link_token()
    id_token = session_token()
    proxy = proxy_query({"contract_id": "5"}, customer_id=CUSTOMER_ID)
    signature = proxy.rsplit("signature=", 1)[1]
    with (
        serve(app_env(database_url), tmp_path / "serve.log") as served,
        httpx.Client(base_url=served.url) as client,
    ):
        client.get(f"/s/{token}?score=9")
        client.post(f"/s/{token}", data={"score": "9"})
        client.get(f"/app?shop={SHOP}&host=YWRtaW4&embedded=1&id_token={id_token}")
        client.get(f"/proxy/survey?{proxy}")
        client.get("/api/admin/overview", headers={"Authorization": f"Bearer {id_token}"})
    output = served.output()
    assert "GET" in output and "/s/{token}" in output  # the requests were logged, as routes
    for secret in (token, id_token, signature, CUSTOMER_ID, id_token.split(".")[1]):
        assert secret not in output


def _signed_link_answers(client: httpx.Client, token: str, forwarded: list[str]) -> list[int]:
    return [
        client.get(f"/s/{token}", headers={"X-Forwarded-For": ip}).status_code for ip in forwarded
    ]


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    database_url: str, tmp_path: Path
) -> None:
    token = link_token()
    many = [f"198.51.100.{i}" for i in range(IP_LIMIT_REQUESTS + 1)]
    with (
        serve(app_env(database_url), tmp_path / "untrusted.log") as served,
        httpx.Client(base_url=served.url) as client,
    ):
        answers = _signed_link_answers(client, token, many)
    # Every request counted against the one real peer, whatever it claimed.
    assert answers[-1] == 429 and set(answers[:-1]) == {401}


def test_a_trusted_proxy_gives_each_client_its_own_bucket(
    database_url: str, tmp_path: Path
) -> None:
    token = link_token()
    env = app_env(database_url, TRUSTED_PROXIES="127.0.0.1/32, ::1")
    distinct = [f"198.51.100.{i}" for i in range(IP_LIMIT_REQUESTS + 1)]
    # A client cannot pose as another by putting an address in front: the nearest untrusted
    # hop (the right-most) is the client.
    spoofing = [f"{ip}, 192.0.2.77" for ip in distinct]
    with serve(env, tmp_path / "trusted.log") as served, httpx.Client(base_url=served.url) as c:
        assert set(_signed_link_answers(c, token, distinct)) == {401}
        answers = _signed_link_answers(c, token, spoofing)
    assert answers[-1] == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", ["203.0.113.5"], "", "127.0.0.1"),
        ("10.0.0.2", ["203.0.113.5"], "10.0.0.0/8", "203.0.113.5"),
        ("10.0.0.2", ["198.51.100.1, 203.0.113.5, 10.0.0.9"], "10.0.0.0/8", "203.0.113.5"),
        ("10.0.0.2", ["198.51.100.1", "203.0.113.5"], "10.0.0.0/8", "203.0.113.5"),
        ("192.0.2.1", ["203.0.113.5"], "10.0.0.0/8", "192.0.2.1"),
        ("10.0.0.2", ["not-an-ip"], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", [], "10.0.0.0/8", "10.0.0.2"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], trusted: str, client: str) -> None:
    from plugin.access_log import client_address, parse_networks

    assert client_address(peer, forwarded, parse_networks(trusted)) == client


def test_a_malformed_trusted_proxy_stops_start_up() -> None:
    from plugin.settings import SettingsError

    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        make_settings("sqlite://", TRUSTED_PROXIES="10.0.0.0/8, proxy.internal")


def test_redaction_hides_the_whole_authorization_value_and_contacts() -> None:
    from plugin.logging_setup import redact

    jwt_like = session_token()
    text = redact(
        f"Authorization: Bearer {jwt_like} id_token={jwt_like}&signature=abc123"
        " mail ada@example.com /s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        " logged_in_customer_id=42 shpat_0123456789abcdef"
    )
    for leaked in (jwt_like, "Bearer", "abc123", "ada@example.com", "AAAAAAAAAAAAAAAA", "=42"):
        assert leaked not in text
    assert "0123456789abcdef" not in text
