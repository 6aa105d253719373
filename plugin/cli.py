"""The `valuehealth` command (docs/design.md §6): demo, serve, worker, migrate, score, backfill,
review, bill.

Every command reads the one Settings object from the environment; a missing or malformed
setting prints its message (naming the variable) and exits with status 2, without a traceback.
Only `demo` fills in the Shopify credentials when they are unset, with values that say they are
for the demo, so that a newcomer can run it on a fresh machine with no configuration at all.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from starlette.types import ASGIApp

from plugin.db.migrate import DatabaseNotMigrated, upgrade_head
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.settings import Settings, SettingsError
from plugin.shopify.verify import normalize_shop_domain

PROG = "valuehealth"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_PORT = 8000
DEMO_HOST = "127.0.0.1"  # the demo serves this machine only
# The default demo shop: big enough to look like a real one (a year of history, its cohorts
# and a full trend window), small enough to be served within a minute of `make demo`.
DEMO_SUBSCRIBERS, DEMO_MONTHS = 500, 12

# Used by `valuehealth demo` only, and only for variables that are unset: labelled so that
# nobody mistakes them for real credentials.
DEMO_ENV: dict[str, str] = {
    "SHOPIFY_API_KEY": "demo-api-key-not-for-production",
    "SHOPIFY_API_SECRET": "demo-api-secret-not-for-production",
    "TOKEN_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"valuehealth-demo-key-not-secret!").decode(),
}


class CommandError(Exception):
    """A command cannot do what was asked; the message is for the user (exit status 1)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Customer value management for Shopify subscription merchants.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="build a demo shop with realistic history, score it and serve the admin page",
    )
    demo.add_argument("--subscribers", type=_positive_int, default=DEMO_SUBSCRIBERS, metavar="N")
    demo.add_argument("--months", type=_positive_int, default=DEMO_MONTHS, metavar="M")
    demo.add_argument(
        "--days",
        type=_positive_int,
        default=None,
        metavar="D",
        help="recent days scored day by day (default: the trends' window)",
    )
    demo.add_argument("--seed", type=int, default=7, metavar="S")
    demo.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="P")
    demo.add_argument("--no-serve", action="store_true", help="build the demo shop and exit")

    serve = commands.add_parser("serve", help="run the web app (webhooks, admin, portal)")
    serve.add_argument("--host", default="127.0.0.1", metavar="H")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="P")

    worker = commands.add_parser("worker", help="run the background worker (needs REDIS_URL)")
    worker.add_argument(
        "--burst", action="store_true", help="exit once the queue is empty (no crons)"
    )

    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")

    score = commands.add_parser("score", help="recompute one shop now and print a summary")
    score.add_argument("shop", type=_shop, metavar="SHOP")

    backfill = commands.add_parser(
        "backfill", help="import a shop's existing contracts through a bulk operation"
    )
    backfill.add_argument("shop", type=_shop, metavar="SHOP")

    review = commands.add_parser("review", help="write the monthly value review pack")
    review.add_argument("shop", type=_shop, metavar="SHOP")
    review.add_argument("--month", required=True, type=_month, metavar="YYYY-MM")
    review.add_argument("--format", choices=("html", "csv", "json"), default="html")
    review.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    bill = commands.add_parser(
        "bill", help="charge one shop's billing cycles due on a day now (a rerun charges nothing)"
    )
    bill.add_argument("shop", type=_shop, metavar="SHOP")
    bill.add_argument(
        "--date", type=_day, metavar="YYYY-MM-DD", help="the shop's day to bill (default: today)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _COMMANDS[args.command]
    try:
        return handler(args)
    except SettingsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (CommandError, DatabaseNotMigrated) as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


# -- commands ---------------------------------------------------------------------------


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    upgrade_head(settings.database_url)
    print(f"database at the latest revision: {_safe_url(settings.database_url)}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from plugin.app import create_app

    settings = Settings.from_env()
    # Without REDIS_URL the app runs the jobs in-process (plugin.queue.InProcessQueue).
    uvicorn.run(create_app(settings), **server_options(args.host, args.port))
    return EXIT_OK


def server_options(host: str, port: int) -> dict[str, Any]:
    """uvicorn's options for our app. Its access log (full URLs: signed links, id tokens) and
    its X-Forwarded-For handling (trusts loopback) are off: `plugin.access_log` does both, with
    route templates and the TRUSTED_PROXIES setting. Logging is ours (JSON lines)."""
    return {
        "host": host,
        "port": port,
        "access_log": False,
        "proxy_headers": False,
        "log_config": None,
        "server_header": False,
    }


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.worker import run_worker

    run_worker(Settings.from_env(), burst=args.burst)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env(demo_environment(os.environ))
    # The demo replays its history through the in-process queue; it never needs Redis.
    settings = dataclasses.replace(settings, redis_url=None)
    if not args.no_serve:
        _check_port_free(DEMO_HOST, args.port)
    upgrade_head(settings.database_url)
    return asyncio.run(_demo(settings, args))


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from plugin.app import build_app_runtime, create_app
    from plugin.demo.admin_api import ADMIN_ORIGIN
    from plugin.demo.initiatives import seed_demo_initiatives
    from plugin.demo.replay import build_demo
    from plugin.demo.simulation import DemoConfig
    from plugin.queue import InProcessQueue
    from plugin.scoring.summary import format_summary, score_shop_now
    from plugin.shopify.fake import FakeShopify

    # The history ends at the start of today (UTC), so a rerun the same day is identical.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = DemoConfig(subscribers=args.subscribers, months=args.months, seed=args.seed, end=end)
    # The demo shop's Shopify is the fake Admin API, in this process: the build bills through
    # it and the served workspace (plans, billing, self-service) talks to it too.
    shopify = FakeShopify()
    settings = dataclasses.replace(settings, admin_origin=ADMIN_ORIGIN)
    runtime = await build_app_runtime(settings, http=shopify.client())
    try:
        print(
            f"building the demo shop {config.shop_domain} in {_safe_url(settings.database_url)}:"
            f" {config.subscribers:,} subscribers over {config.months} months (seed {config.seed})",
            file=sys.stderr,
        )
        bar = ProgressBar()
        days = {} if args.days is None else {"daily_snapshots": args.days}
        summary = await build_demo(runtime, config, progress=bar.update, shopify=shopify, **days)
        bar.finish()
        for line in summary.lines():
            print(line)
        if summary.failed_events:
            raise CommandError(
                f"{summary.failed_events} demo events were not processed; see the log above"
            )
        await seed_demo_initiatives(runtime, config.shop_domain, end.date())
        print(format_summary(await score_shop_now(runtime, config.shop_domain)))
        # What the build queued (Flow triggers, customer data) runs now, not under the server.
        if isinstance(runtime.queue, InProcessQueue):
            await runtime.queue.drain()
        url = f"http://{DEMO_HOST}:{args.port}/demo"
        if args.no_serve:
            print(
                f"demo shop built; `{PROG} demo` without --no-serve serves its admin page at {url}"
            )
            return EXIT_OK
        print(
            f"admin page of the demo shop: {url}  (its Overview; Ctrl+C stops the server)",
            flush=True,
        )
        app = create_app(runtime=runtime, demo_shop=config.shop_domain)
        await _serve(app, DEMO_HOST, args.port)
        return EXIT_OK
    finally:
        await runtime.close()


async def _serve(app: ASGIApp, host: str, port: int) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, **server_options(host, port)))
    await server.serve()


def _check_port_free(host: str, port: int) -> None:
    """Fail before minutes of work rather than after, when the demo could not be served."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"port {port} on {host} is not free ({exc.strerror}); pass --port or --no-serve"
            ) from None


def cmd_score(args: argparse.Namespace) -> int:
    from plugin.scoring.recompute import ShopNotFound
    from plugin.scoring.summary import format_summary, score_shop_now

    settings = Settings.from_env()

    async def run() -> int:
        runtime = await _runtime(settings)
        try:
            summary = await score_shop_now(runtime, args.shop)
        except ShopNotFound as exc:
            raise CommandError(str(exc)) from None
        finally:
            await runtime.close()
        print(format_summary(summary))
        return EXIT_OK

    return asyncio.run(run())


def cmd_review(args: argparse.Namespace) -> int:
    from plugin.review.build import build_review
    from plugin.review.pack import ReviewError
    from plugin.review.render import render

    settings = Settings.from_env()

    async def run() -> str:
        runtime = await _runtime(settings)
        try:
            async with runtime.sessionmaker() as session:
                shop_id = await session.scalar(select(Shop.id).where(Shop.domain == args.shop))
                if shop_id is None:
                    raise CommandError(f"no shop {args.shop} in this database")
                pack = await build_review(session, shop_id, args.month)
        except ReviewError as exc:
            raise CommandError(str(exc)) from None
        finally:
            await runtime.close()
        return render(pack, args.format)

    document = asyncio.run(run())
    if args.output:
        Path(args.output).write_text(document, encoding="utf-8")
        print(f"review of {args.shop} for {args.month} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(document)
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    from plugin.backfill import BackfillError, backfill_shop
    from plugin.queue import InProcessQueue

    async def work(runtime: Runtime, bar: ProgressBar) -> str:
        try:
            result = await backfill_shop(runtime, args.shop, progress=bar.update)
        except BackfillError as exc:
            raise CommandError(str(exc)) from None
        if isinstance(runtime.queue, InProcessQueue):
            # No worker without Redis: run the recompute the import asked for here.
            await runtime.queue.drain()
        return result.describe()

    return _shopify_command(work, "run the backfill again later")


def cmd_bill(args: argparse.Namespace) -> int:
    from plugin.billing.run import BillingUnavailable, bill_shop

    async def work(runtime: Runtime, bar: ProgressBar) -> str:
        try:
            result = await bill_shop(runtime, args.shop, args.date, progress=bar.update)
        except BillingUnavailable as exc:
            raise CommandError(str(exc)) from None
        return result.describe()

    return _shopify_command(work, "run the same command again (nothing is charged twice)")


def _shopify_command(
    work: Callable[[Runtime, ProgressBar], Awaitable[str]], on_shopify_error: str
) -> int:
    """Run a command that talks to Shopify with a progress bar; print its summary."""
    from plugin.queue import TransientError
    from plugin.shopify.errors import ShopifyError

    settings = Settings.from_env()

    async def run() -> str:
        runtime = await _runtime(settings)
        bar = ProgressBar()
        try:
            return await work(runtime, bar)
        except (ShopifyError, TransientError) as exc:
            raise CommandError(f"Shopify: {exc}; {on_shopify_error}") from None
        finally:
            bar.finish()
            await runtime.close()

    print(asyncio.run(run()))
    return EXIT_OK


# -- helpers ----------------------------------------------------------------------------


def demo_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the demo's labelled credentials filled in where a variable is unset."""
    merged = dict(env)
    for name, value in DEMO_ENV.items():
        if not merged.get(name, "").strip():
            merged[name] = value
    return merged


async def _runtime(settings: Settings) -> Runtime:
    # Imported here: the app pulls in every route and job, which `--help` and `migrate` skip.
    from plugin.app import build_app_runtime

    return await build_app_runtime(settings)


class ProgressBar:
    """A text progress bar on stderr: redrawn in place on a terminal, a line per step otherwise.

    `update(label, done, total)` with total None shows a running count (e.g. while Shopify is
    still preparing a bulk operation and the size is not known yet).
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._label = ""
        self._last_draw = 0.0
        self._last_step = -1
        self._open = False

    def update(self, label: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if label != self._label:
            self.finish()
            self._label, self._last_step = label, -1
        final = total is not None and done >= total
        if self.tty:
            if not final and now - self._last_draw < 0.1:
                return
            self.stream.write("\r" + self._render(label, done, total))
            self._open = True
        else:
            # Logs and pipes: one line per tenth of the way, and at the end.
            step = 10 * done // total if total else done // 1000
            if step == self._last_step and not final:
                return
            self._last_step = step
            self.stream.write(self._render(label, done, total) + "\n")
        self._last_draw = now
        self.stream.flush()

    def finish(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _render(self, label: str, done: int, total: int | None) -> str:
        if not total:
            return f"{label}: {done:,}"
        share = min(done / total, 1.0)
        filled = round(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{label} [{bar}] {share:4.0%} {done:,}/{total:,}"


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


def _shop(text: str) -> str:
    domain = normalize_shop_domain(text)
    if domain is None:
        raise argparse.ArgumentTypeError(
            f"not a shop domain: {text!r} (expected name.myshopify.com)"
        )
    return domain


def _month(text: str) -> str:
    from plugin.review.build import parse_month
    from plugin.review.pack import ReviewError

    try:
        parse_month(text)
    except ReviewError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "score": cmd_score,
    "review": cmd_review,
    "backfill": cmd_backfill,
    "bill": cmd_bill,
}


if __name__ == "__main__":
    sys.exit(main())
