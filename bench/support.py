"""What benchmarks share: a throwaway PostgreSQL database, free ports, a uvicorn process."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from plugin.db.migrate import upgrade_head

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 1):
            return True
    except OSError:
        return False


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def temporary_database(prefix: str = "vh_bench") -> Iterator[str]:
    """A fresh database migrated to head; its SQLAlchemy URL; dropped afterwards."""
    import asyncio

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        upgrade_head(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_options() -> list[str]:
    """The fastest event loop and HTTP parser installed (uvicorn[standard] brings both)."""
    options = ["--no-access-log", "--log-level", "warning"]
    for flag, module, value in (
        ("--loop", "uvloop", "uvloop"),
        ("--http", "httptools", "httptools"),
    ):
        with contextlib.suppress(ImportError):
            __import__(module)
            options += [flag, value]
    return options


@contextlib.contextmanager
def uvicorn_server(app: str, env: dict[str, str], *, factory: bool = False) -> Iterator[int]:
    """Serve `app` ("module:attr") in one uvicorn process on a loopback port; yields the port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--factory"] if factory else []
    command += uvicorn_options()
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", port):
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited with {process.returncode} before serving")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start serving within 30 s")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
