"""`valuehealth bill SHOP --date D`: charges each contract due on D once, with a progress bar
and a summary; a second run charges nothing; after a failure webhook, `--date D+1` retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plugin import cli
from plugin.app import build_app_runtime
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.settings import Settings
from tests.conftest import make_settings
from tests.plugin.billing.billing_helpers import D, deliver_outcomes, gid, keys, subscribe
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import API_KEY, API_SECRET, SHOP, TOKEN_KEY


@pytest.fixture
def command(db_url: str, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch) -> None:
    """`valuehealth` runs against the test database and the fake Shopify."""

    async def runtime(_settings: Settings) -> Runtime:
        return await build_app_runtime(make_settings(db_url), http=shopify.client())

    monkeypatch.setattr(cli, "_runtime", runtime)
    for name, value in {
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "DATABASE_URL": db_url,
    }.items():
        monkeypatch.setenv(name, value)


async def bill(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = await asyncio.to_thread(cli.main, ["bill", *argv])
    out, err = capsys.readouterr()
    return status, out, err


async def test_bill_charges_due_contracts_once_then_retries_the_next_day(
    command: None, rt: Runtime, shop: Shop, shopify: FakeShopify, capsys: pytest.CaptureFixture[str]
) -> None:
    due = [await subscribe(rt, shopify) for _ in range(3)]
    await subscribe(rt, shopify, D + timedelta(days=5))
    shopify.decline(gid(due[0]), "insufficient_funds")

    status, out, err = await bill(capsys, SHOP, "--date", D.isoformat())
    assert status == cli.EXIT_OK
    assert "cycles charged now     3" in out and "charging due cycles" in err
    assert sorted(keys(shopify)) == sorted(f"valuehealth-{c}-1-0" for c in due)

    status, out, _ = await bill(capsys, SHOP, "--date", D.isoformat())
    assert "cycles charged now     0" in out
    assert "asked earlier this day 3" in out
    assert len(shopify.attempts) == 3

    assert await deliver_outcomes(rt, shopify, D) == ["failure", "success", "success"]
    status, out, _ = await bill(capsys, SHOP, "--date", (D + timedelta(days=1)).isoformat())
    assert "retries charged        1" in out
    assert keys(shopify)[-1] == f"valuehealth-{due[0]}-1-1"


async def test_bill_of_an_unknown_shop_or_a_bad_date_fails_cleanly(
    command: None, rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = await bill(capsys, "nobody.myshopify.com")
    assert status == cli.EXIT_FAILED and "no shop nobody.myshopify.com" in err
    with pytest.raises(SystemExit):
        cli.main(["bill", SHOP, "--date", "2026-02-30"])
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err
