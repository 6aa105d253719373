"""`valuehealth serve` as a real process on a loopback port, its output kept for the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.signing import API_KEY, API_SECRET, TOKEN_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "REDIS_"))}
    env.update(
        SHOPIFY_API_KEY=API_KEY,
        SHOPIFY_API_SECRET=API_SECRET,
        TOKEN_ENCRYPTION_KEY=TOKEN_KEY,
        DATABASE_URL=database_url,
        APP_URL="https://app.test",
        SHOPIFY_ADMIN_ORIGIN="http://127.0.0.1:9/{shop}",  # nothing listens: Shopify is down
        **extra,
    )
    return env


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes] | None,
    output: Callable[[], str],
    *,
    timeout: float = 90.0,
) -> None:
    """Wait until `url` answers `/healthz`; raise with the server's `output()` when its process
    exits first or `timeout` passes (generous: on a loaded machine importing the app alone has
    taken over 30 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start at {url}:\n{output()}")
        time.sleep(0.1)


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(env: dict[str, str], log_path: Path, *, timeout: float = 90.0) -> Iterator[Served]:
    """`valuehealth serve` on a free port; stdout and stderr go to `log_path`."""
    port = free_port()
    command = [sys.executable, "-m", "plugin.cli", "serve", "--host", "127.0.0.1"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_healthy(served.url, process, served.output, timeout=timeout)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
