"""Real processes for the fault tests: our own redis-server and PostgreSQL cluster on free
ports (never the machine's shared servers), `valuehealth serve`, the worker, and a steady
stream of signed webhooks with duplicates, in shuffled order, retried as Shopify retries."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import payloads
from tests.support.served import app_env, free_port
from tests.support.signing import signed_webhook

POSTGRES_BIN = Path(shutil.which("pg_ctl") or "/usr/local/bin/pg_ctl").parent


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A throwaway cluster in a temporary directory, on a free port, trust auth."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(POSTGRES_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(POSTGRES_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
        )
        return self.url(name)


class RedisServer:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # an outage, not a shutdown: nothing saved
            self.process.wait()
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Process:
    """A child process whose output goes to a file. With `restart_on_exit`, a process that
    exits by itself is started again a second later, as systemd's `Restart=always` or an
    orchestrator does (the worker exits when it loses Redis: docs/operations.md)."""

    def __init__(
        self, command: list[str], env: dict[str, str], log: Path, *, restart_on_exit: bool = False
    ) -> None:
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self.restart_on_exit = restart_on_exit
        self.restarts = 0
        self._wanted = False
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._wanted = True
        self._spawn()
        if self.restart_on_exit and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()

    def _spawn(self) -> None:
        self._out = self._out or self.log.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def _watch(self) -> None:
        while True:
            time.sleep(1)
            process = self.process
            if self._wanted and process is not None and process.poll() is not None:
                self.restarts += 1
                self._spawn()

    def kill(self, sig: int = signal.SIGKILL, *, timeout: float = 15.0) -> None:
        self._wanted = False
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout)
        self.process = None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop it as a supervisor does: SIGTERM, then SIGKILL if it has not exited in time
        (a worker waits for its running jobs' threads, slow on a loaded machine)."""
        try:
            self.kill(signal.SIGTERM, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def close(self) -> None:
        self.kill()
        if self._out is not None:
            self._out.close()
            self._out = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Delivery:
    topic: str
    body: bytes
    headers: dict[str, str]
    webhook_id: str
    contract_id: int | None = None
    answers: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return 200 in self.answers


def deliveries(contracts: int, *, seed: int) -> list[Delivery]:
    """For each contract a create and an update (same contract, later revision), each a
    separate delivery; shuffled, so updates often arrive before their create."""
    rng = random.Random(seed)
    out = []
    base = rng.randrange(10**9, 10**10)
    for i in range(contracts):
        contract_id = base + i
        for topic, revision in (
            ("subscription_contracts/create", 1),
            ("subscription_contracts/update", 2),
        ):
            payload = payloads.contract(contract_id, 500 + i, revision_id=revision)
            body, headers = signed_webhook(topic, payload)
            out.append(Delivery(topic, body, headers, headers["X-Shopify-Webhook-Id"], contract_id))
    rng.shuffle(out)
    return out


async def stream(
    urls: str | Sequence[str],
    items: list[Delivery],
    *,
    rate: float,
    seed: int,
    retry_until: float,
    in_flight: int = 1,
) -> None:
    """Send every delivery at `rate` per second, a third of them twice (duplicates); resend
    those not yet answered 200 every 2 s (Shopify retries) until all are or `retry_until`.

    With several `urls` (web processes) the deliveries go round robin, and a duplicate goes
    to the next process at the same moment as its original; up to `in_flight` deliveries are
    under way at once."""
    targets = [urls] if isinstance(urls, str) else list(urls)
    rng = random.Random(seed)
    slots = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(timeout=10) as client:

        async def send(url: str, d: Delivery) -> None:
            try:
                response = await client.post(f"{url}/webhooks", content=d.body, headers=d.headers)
                d.answers.append(response.status_code)
            except httpx.TransportError:
                d.answers.append(0)  # no answer at all: Shopify retries

        async def deliver(i: int, d: Delivery, twice: bool) -> None:
            async with slots:
                first = targets[i % len(targets)]
                second = targets[(i + 1) % len(targets)]
                await asyncio.gather(send(first, d), *([send(second, d)] if twice else []))

        running: set[asyncio.Task[None]] = set()
        for i, d in enumerate(items):
            task = asyncio.create_task(deliver(i, d, rng.random() < 1 / 3))
            running.add(task)
            task.add_done_callback(running.discard)
            if in_flight == 1:
                await task  # one at a time, as sent before several were in flight
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*running)
        while time.monotonic() < retry_until:
            pending = [d for d in items if not d.accepted]
            if not pending:
                return
            for i, d in enumerate(pending):
                await send(targets[i % len(targets)], d)
            await asyncio.sleep(2)


@dataclass
class Outcome:
    accepted: int
    answers: Counter[int]
    inbox_rows: int
    handled: int
    contracts: int
    duplicate_history: int
    missing: int


async def drained(database_url: str, items: list[Delivery], *, within_s: float) -> Outcome:
    """Wait until no inbox row is pending, then count what the database holds."""
    engine = create_async_engine(database_url)
    try:
        deadline = time.monotonic() + within_s
        while True:
            async with engine.connect() as conn:
                pending = await conn.scalar(
                    text("SELECT count(*) FROM webhook_inbox WHERE status <> 'handled'")
                )
            if pending == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        accepted = [d for d in items if d.accepted]
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT webhook_id, status FROM webhook_inbox"))
            inbox = {r.webhook_id: r.status for r in rows}
            contracts = {
                r.contract_id for r in await conn.execute(text("SELECT contract_id FROM contracts"))
            }
            duplicates = await conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT contract_pk, status, occurred_at, count(*) c"
                    " FROM contract_status_events GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
                )
            )
    finally:
        await engine.dispose()
    answers: Counter[int] = Counter(a for d in items for a in d.answers)
    missing = sum(1 for d in accepted if inbox.get(d.webhook_id) != "handled")
    missing += len({d.contract_id for d in accepted} - contracts)
    return Outcome(
        accepted=len(accepted),
        answers=answers,
        inbox_rows=len(inbox),
        handled=sum(1 for s in inbox.values() if s == "handled"),
        contracts=len(contracts),
        duplicate_history=int(duplicates or 0),
        missing=missing,
    )


def web_command(port: int) -> list[str]:
    return [sys.executable, "-m", "plugin.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "tests.faults.worker_proc"]


def env_for(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return app_env(
        database_url.replace("+asyncpg", ""),
        REDIS_URL=redis_url,
        **{"SWEEPER_AFTER_SECONDS": "5", "LOG_LEVEL": "WARNING", **extra},
    )
