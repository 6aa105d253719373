"""What benchmarks share: a throwaway PostgreSQL database, free ports, a uvicorn process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import random
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from starlette.types import Receive, Scope, Send

from plugin.db.migrate import upgrade_head
from plugin.queue import ArqQueue

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 1):
            return True
    except OSError:
        return False


def servers_missing(*, redis: bool) -> str | None:
    """Why the benchmark cannot run (PostgreSQL, and Redis when asked, not reachable), or None."""
    servers = [("PostgreSQL (BENCH_POSTGRES_URL)", PG_ADMIN_URL, 5432)]
    if redis:
        servers.append(("Redis (BENCH_REDIS_URL)", REDIS_URL, 6379))
    for name, url, default_port in servers:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or default_port
        if not reachable(host, port):
            return f"{name} is not reachable at {host}:{port}"
    return None


def use_uvloop() -> None:
    """Run asyncio on uvloop when it is installed, as uvicorn does for the server."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def start_served_bench() -> bool:
    """Before a benchmark that serves the app: check PostgreSQL and Redis (False, with the
    reason on stderr, when one is missing), switch to uvloop and print the conditions."""
    missing = servers_missing(redis=True)
    if missing:
        print(missing, file=sys.stderr)
        return False
    use_uvloop()
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work skews the figures)")
    print(f"uvicorn: 1 process, {' '.join(uvicorn_options())}", flush=True)
    return True


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
    with uvicorn_process(app, env, factory=factory) as (port, _process):
        yield port


@contextlib.contextmanager
def uvicorn_process(
    app: str, env: dict[str, str], *, factory: bool = False
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`uvicorn_server`, yielding the process too (for its CPU time)."""
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
        yield port, process
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


async def spread_sequences(database_url: str) -> int:
    """Start every sequence of the database at one random point far from 1; the point.

    Job keys in Redis are named after row ids (`event:{inbox id}`, `recompute:{shop id}:…`) and
    are global to the Redis database, not per queue: a fresh database would start at 1, where
    any other run sharing the Redis server starts too. Random starts keep the keys apart.
    """
    # Below 2**31 less room for growth: shop ids also key int4 advisory locks (recompute).
    start = random.SystemRandom().randrange(10**6, 2**31 - 10**8)
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "SELECT setval(c.oid::regclass, $1::bigint, false) FROM pg_class c "
            "WHERE c.relkind = 'S'",
            start,
        )
    finally:
        await conn.close()
    return start


# CPU accounting: who used the two shared cores during a load phase.
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _pids_named(names: tuple[str, ...]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.joinpath("comm").read_text().strip() in names:
                    pids.append(int(entry.name))
    return pids


def _machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


@dataclass
class CpuShare:
    """Cores used on average per group over a phase (1.0 = one core busy the whole time)."""

    cores: dict[str, float]

    def summary(self) -> str:
        return ", ".join(f"{name} {used:.2f}" for name, used in self.cores.items())


class CpuMeter:
    """CPU seconds per group of processes between `start()` and `stop()`: the server under
    test, this process (the load generator), PostgreSQL, Redis, and everything else."""

    def __init__(self, server_pid: int, *, label: str = "server") -> None:
        self._groups: dict[str, Callable[[], list[int]]] = {
            label: lambda: [server_pid],
            "load generator": lambda: [os.getpid()],
            "postgres": lambda: _pids_named(("postgres",)),
            "redis": lambda: _pids_named(("redis-server",)),
        }
        self._before: dict[str, dict[int, float]] = {}
        self._seen: dict[str, dict[int, float]] = {}
        self._busy = 0.0
        self._children = 0.0
        self._started = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: _process_cpu_s(pid) for pid in pids()}
            for name, pids in self._groups.items()
        }

    def poll(self) -> None:
        """Note the CPU time of the processes alive now: one that exits before `stop()` (a
        database connection closed with its client) keeps what it had used when last seen."""
        for name, pids in self._sample().items():
            seen = self._seen.setdefault(name, {})
            for pid, cpu in pids.items():
                seen[pid] = max(seen.get(pid, 0.0), cpu)

    def start(self) -> None:
        self._before = self._sample()
        self._seen = {}
        self._busy = _machine_busy_s()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children = children.ru_utime + children.ru_stime
        self._started = time.monotonic()

    def stop(self, *, children: resource.struct_rusage | None = None) -> CpuShare:
        """The shares since `start()`. Pass `children` (getrusage(RUSAGE_CHILDREN) taken after
        the measured process was reaped) when it exited during the phase: /proc no longer
        has it, and its CPU time is found among this process's children's instead."""
        self.poll()
        after = self._seen
        wall = max(time.monotonic() - self._started, 1e-9)
        cores = {}
        for name, pids in after.items():
            before = self._before.get(name, {})
            # A process that started during the phase counts from zero.
            used = sum(max(cpu - before.get(pid, 0.0), 0.0) for pid, cpu in pids.items())
            cores[name] = used / wall
        if children is not None:
            label = next(iter(self._groups))
            used = children.ru_utime + children.ru_stime - self._children
            cores[label] = used / wall
        machine_busy = (_machine_busy_s() - self._busy) / wall
        cores["other work"] = max(machine_busy - sum(cores.values()), 0.0)
        cores["machine (all)"] = machine_busy
        return CpuShare(cores)


QUEUE_NAME_ENV = "VH_BENCH_QUEUE_NAME"


class ServedApp:
    """`plugin.app:create_app` as `valuehealth serve` runs it, except that its queue is the
    run's own (`VH_BENCH_QUEUE_NAME`): uvicorn serves `bench.support:ServedApp` (a factory).

    The runtime is built at start-up and closed at shutdown, and what is loaded by then is kept
    out of the collector's full passes, as create_app does for the runtime it owns.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        from plugin.app import build_app_runtime, create_app
        from plugin.settings import Settings

        runtime = await build_app_runtime(
            Settings.from_env(), queue_name=os.environ[QUEUE_NAME_ENV]
        )
        try:
            self._app = create_app(runtime=runtime)
            gc.collect()
            gc.freeze()
            await self._app(scope, receive, send)
        finally:
            await runtime.close()


def run_queue_name(bench: str) -> str:
    """A queue of the run's own, so that no worker on a shared Redis takes the run's jobs."""
    return f"vh-bench-{bench}-{uuid.uuid4().hex[:12]}"


async def drop_queue(redis_url: str, queue_name: str) -> int:
    """Delete a run's queue and every key it made; how many jobs were still queued."""
    queue = ArqQueue(redis_url, queue_name=queue_name)
    try:
        return await queue.drop()
    finally:
        await queue.close()
