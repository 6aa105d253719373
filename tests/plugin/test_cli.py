"""The `valuehealth` command: arguments, settings errors, migrate, score and the demo."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from plugin import cli
from plugin.db.migrate import head_revision
from tests.support.signing import API_KEY, API_SECRET, TOKEN_KEY

ENV_NAMES = (
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_API_SECRET_PREVIOUS",
    "TOKEN_ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "SHOPIFY_API_VERSION",
    "SHOPIFY_ADMIN_ORIGIN",
    "APP_URL",
)
DEMO_SHOP = "valuehealth-demo.myshopify.com"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands configure logging on stderr; don't leave a handler on a closed capture."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A machine with none of our variables set."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def app_env(bare_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Valid settings on a fresh SQLite file; returns the file's path."""
    path = tmp_path / "cli.db"
    bare_env.setenv("SHOPIFY_API_KEY", API_KEY)
    bare_env.setenv("SHOPIFY_API_SECRET", API_SECRET)
    bare_env.setenv("TOKEN_ENCRYPTION_KEY", TOKEN_KEY)
    bare_env.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.EXIT_USAGE
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["nonsense"], "invalid choice"),
        (["demo", "--subscribers", "0"], "must be at least 1"),
        (["demo", "--months", "two"], "expected a whole number"),
        (["demo", "--port", "70000"], "not a TCP port"),
        (["score", "example.com"], "not a shop domain"),
        (["backfill"], "required: SHOP"),
        (["review", "shop.myshopify.com"], "--month"),
        (["review", "shop.myshopify.com", "--month", "2026-13"], "no month 13"),
        (["review", "shop.myshopify.com", "--month", "May 2026"], "month must be YYYY-MM"),
        (["review", "shop.myshopify.com", "--month", "2026-05", "--format", "pdf"], "pdf"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in _usage_error(capsys, argv)


def test_arguments_parse_with_their_defaults() -> None:
    parser = cli.build_parser()
    demo = parser.parse_args(["demo"])
    assert (demo.subscribers, demo.months, demo.days, demo.port, demo.no_serve) == (
        500,
        12,
        None,
        8000,
        False,
    )
    review = parser.parse_args(
        ["review", "My-Shop.MyShopify.com", "--month", "2026-04", "-o", "r.csv", "--format", "csv"]
    )
    assert (review.shop, review.month, review.format, review.output) == (
        "my-shop.myshopify.com",
        "2026-04",
        "csv",
        "r.csv",
    )
    assert parser.parse_args(["worker", "--burst"]).burst is True
    serve = parser.parse_args(["serve", "--host", "::1"])
    assert (serve.host, serve.port) == ("::1", 8000)


@pytest.mark.parametrize("command", [["migrate"], ["score", "a.myshopify.com"], ["serve"]])
def test_a_missing_setting_is_named_and_exits_2(
    bare_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    bare_env.setenv("SHOPIFY_API_KEY", API_KEY)
    bare_env.setenv("TOKEN_ENCRYPTION_KEY", TOKEN_KEY)
    assert cli.main(command) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    # Only the demo fills in credentials: other commands must refuse without them.
    assert err == "valuehealth: error: SHOPIFY_API_SECRET is required but not set\n"


def test_a_malformed_setting_is_named_and_exits_2(
    app_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", "not-a-key")
    assert cli.main(["migrate"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "TOKEN_ENCRYPTION_KEY is malformed" in err and "Traceback" not in err
    assert not app_env.exists()


def test_worker_needs_redis(app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--burst"]) == cli.EXIT_USAGE
    assert "REDIS_URL is required" in capsys.readouterr().err


def test_migrate_brings_a_new_sqlite_file_to_head(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == cli.EXIT_OK
    with sqlite3.connect(app_env) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert revision == head_revision(f"sqlite:///{app_env}")
    assert {"shops", "contracts", "webhook_inbox"} <= tables
    assert "database at the latest revision" in capsys.readouterr().out
    assert cli.main(["migrate"]) == cli.EXIT_OK  # idempotent


def test_score_of_an_unknown_shop_fails_cleanly(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == cli.EXIT_OK
    assert cli.main(["score", "nobody.myshopify.com"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "no shop nobody.myshopify.com" in err and "Traceback" not in err


def test_backfill_of_an_unknown_shop_fails_cleanly(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == cli.EXIT_OK
    assert cli.main(["backfill", "nobody.myshopify.com"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "no shop nobody.myshopify.com" in err and "Traceback" not in err


def test_review_needs_a_shop_and_a_scored_month(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == cli.EXIT_OK
    assert cli.main(["review", "nobody.myshopify.com", "--month", "2026-04"]) == cli.EXIT_FAILED
    assert "no shop nobody.myshopify.com" in capsys.readouterr().err
    with sqlite3.connect(app_env) as db:
        db.execute(
            "INSERT INTO shops (domain, installed_at, scopes, timezone, currency, locale,"
            " settings, created_at, updated_at) VALUES ('fresh.myshopify.com',"
            " '2026-01-01 00:00:00', '', 'UTC', 'EUR', 'en', '{}', '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')"
        )
    assert cli.main(["review", "fresh.myshopify.com", "--month", "2026-04"]) == cli.EXIT_FAILED
    assert "no figures for 2026-04" in capsys.readouterr().err


def test_demo_environment_fills_only_unset_credentials() -> None:
    filled = cli.demo_environment({"SHOPIFY_API_KEY": "mine", "SHOPIFY_API_SECRET": " "})
    assert filled["SHOPIFY_API_KEY"] == "mine"
    assert filled["SHOPIFY_API_SECRET"] == cli.DEMO_ENV["SHOPIFY_API_SECRET"]
    assert all("demo" in value or "not-secret" in _b64(value) for value in cli.DEMO_ENV.values())
    assert "DATABASE_URL" not in filled  # the default SQLite file


def _b64(value: str) -> str:
    import base64

    return base64.urlsafe_b64decode(value).decode(errors="replace")


def test_demo_refuses_a_busy_port_before_doing_any_work(
    bare_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "busy.db"
    bare_env.setenv("DATABASE_URL", f"sqlite:///{path}")
    with socket.socket() as taken:
        taken.bind((cli.DEMO_HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["demo", "--port", str(port)]) == cli.EXIT_FAILED
    assert f"port {port}" in capsys.readouterr().err
    assert not path.exists()


# -- the demo end to end -----------------------------------------------------------------


def _demo_counts(path: Path) -> dict[str, object]:
    """What the demo left in the database, read with plain SQL (independent of the app)."""
    with sqlite3.connect(path) as db:
        (shop_id,) = db.execute("SELECT id FROM shops WHERE domain = ?", (DEMO_SHOP,)).fetchone()

        def one(sql: str) -> int:
            return int(db.execute(sql, {"shop": shop_id}).fetchone()[0])

        return {
            "statuses": dict(
                db.execute(
                    "SELECT status, count(*) FROM contracts WHERE shop_id = :shop GROUP BY status",
                    {"shop": shop_id},
                ).fetchall()
            ),
            "subscribers": one("SELECT count(*) FROM subscribers WHERE shop_id = :shop"),
            "with_amount": one(
                "SELECT count(*) FROM contracts WHERE shop_id = :shop"
                " AND recurring_amount IS NOT NULL AND plan_name IS NOT NULL"
            ),
            "orders": one("SELECT count(*) FROM orders WHERE shop_id = :shop"),
            "renewals": one(
                "SELECT count(*) FROM billing_attempts WHERE shop_id = :shop AND status = 'success'"
            ),
            "delivered": one(
                "SELECT count(*) FROM orders WHERE shop_id = :shop AND delivered_at IS NOT NULL"
            ),
            "unprocessed": one(
                "SELECT count(*) FROM webhook_inbox WHERE shop_id = :shop AND status != 'handled'"
            ),
            "scored": one("SELECT count(*) FROM subscriber_scores WHERE shop_id = :shop"),
        }


@pytest.mark.slow
def test_demo_builds_and_scores_a_shop_on_a_machine_without_configuration(
    bare_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Small on purpose: the replay's exact end state, every status, billing failures, reasons
    and NPS answers, rebuilding and determinism are proven on build_demo itself (fixed dates);
    here the command must work end to end on a bare machine."""
    path = tmp_path / "demo.db"
    bare_env.setenv("DATABASE_URL", f"sqlite:///{path}")
    argv = ["demo", "--subscribers", "30", "--months", "3", "--no-serve", "--seed", "1"]

    assert cli.main(argv) == cli.EXIT_OK
    out = capsys.readouterr().out
    counts = _demo_counts(path)
    statuses = counts["statuses"]
    assert isinstance(statuses, dict) and statuses.get("active", 0) > 0
    assert counts["subscribers"] >= 30
    assert counts["with_amount"] == sum(statuses.values())  # details stored for every contract
    assert counts["orders"] > counts["renewals"] > 0
    assert counts["delivered"] > 0.8 * counts["orders"]
    assert counts["unprocessed"] == 0
    assert counts["scored"] > 0
    assert "serves its admin page at http://127.0.0.1:8000/demo" in out
    assert f"Value health of {DEMO_SHOP}" in out
    # The printed churn split adds up to the churn rate (each part rounded to 0.1 point).
    split = re.search(
        r"churn \(\d{4}-\d\d\)\s+([\d.]+)%\s+voluntary ([\d.]+)%, involuntary ([\d.]+)%,"
        r" merchant ([\d.]+)%, expired ([\d.]+)%, source unknown ([\d.]+)%",
        out,
    )
    assert split is not None, out
    total, *parts = (float(x) for x in split.groups())
    assert sum(parts) == pytest.approx(total, abs=0.05 * len(parts) + 1e-9)

    # The review pack of last month, from the snapshots the demo's scoring stored. Not a demo
    # command: it needs real settings, which the demo must not have put in the environment.
    for name, value in (
        ("SHOPIFY_API_KEY", API_KEY),
        ("SHOPIFY_API_SECRET", API_SECRET),
        ("TOKEN_ENCRYPTION_KEY", TOKEN_KEY),
    ):
        assert name not in os.environ
        bare_env.setenv(name, value)
    today = datetime.now(UTC).date()
    month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    report = tmp_path / "review.json"
    review = ["review", DEMO_SHOP, "--month", month, "--format", "json", "-o", str(report)]
    assert cli.main(review) == cli.EXIT_OK
    pack = json.loads(report.read_text(encoding="utf-8"))
    assert pack["month"] == month and pack["sections"]


@pytest.mark.slow
def test_demo_serves_its_admin_page_on_localhost_until_interrupted(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind((cli.DEMO_HOST, 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.db'}"
    argv = ["demo", "--subscribers", "12", "--months", "2", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", *argv],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    try:
        url = f"http://{cli.DEMO_HOST}:{port}/demo"
        while True:
            line = lines.get(timeout=180)
            if line.startswith("admin page of the demo shop:"):
                assert url in line
                break
        page = _get_when_up(url)
        assert page.status_code == 200 and DEMO_SHOP in page.text
        token = httpx.get(f"{url}/token").json()["token"]
        overview = httpx.get(
            f"http://{cli.DEMO_HOST}:{port}/api/admin/overview",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert overview.status_code == 200
        assert overview.json()["shop"] == DEMO_SHOP
        assert overview.json()["subscribers"]["active"] > 0
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0


def _get_when_up(url: str) -> httpx.Response:
    """The server starts listening just after printing its URL."""
    for _ in range(50):
        try:
            return httpx.get(url)
        except httpx.ConnectError:
            threading.Event().wait(0.1)
    return httpx.get(url)
