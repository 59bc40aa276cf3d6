"""Benchmark an authenticated ``GET /api/me`` through revocable's web layer, on every store.

Run from the repository root::

    .venv/bin/python benchmarks/bench_web.py [--stores memory,sqlite,redis,postgresql]
        [--quick] [--no-http] [--python-load]

Two measurements per store, of the apps in ``web_apps.py``:

1. In process: a hand-written ASGI call loop (a scope dict copied per request,
   a constant ``receive``, a ``send`` that counts 200s) calls each app directly,
   one request of each variant after the other in a shuffled order, each timed
   on its own; the figure is the median over repeats of µs per request. Compared
   on the same store, in the same rounds: (a) no auth, (b) a bare middleware
   doing one raw read of the store's backend, (c) ``SessionMiddleware`` with a
   Starlette endpoint, (d) ``SessionMiddleware`` with a FastAPI endpoint using
   ``SessionDependencies(auth).required``.
2. Over HTTP: each of (a)-(d) runs under uvicorn (one worker, a subprocess, a
   free loopback port) and ``wrk`` loads it with a fixed number of keep-alive
   connections, the session cookie set, a few seconds per run, round-robin
   (without wrk, a Python asyncio load generator in its own process).

Redis and PostgreSQL are found through ``REVOCABLE_TEST_REDIS_URL`` and
``REVOCABLE_TEST_POSTGRES_URL``. Every key, row and table the run creates carries
a per-run id and is deleted at the end; the SQLite file lives in a temporary
directory; every process the run starts is stopped before it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench_sessions import (
    POSTGRES_URL,
    REDIS_URL,
    Row,
    Settings,
    _safe_url,
    _us,
    _verdict,
    parse_store_args,
    store_parser,
)
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from web_apps import (
    PATH,
    VARIANTS,
    Floor,
    ServeConfig,
    build_app,
    floor_table,
    make_auth,
    open_bench_store,
    open_floor,
)

from revocable import StoreError
from revocable.stores.base import SessionStore
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sqlite import SQLiteStore

SELF = Path(__file__).resolve()
BENCH_DIR = SELF.parent

# (c - a) / (b - a): what SessionMiddleware adds over no auth, against what a bare
# one-read middleware adds, in process.
OVERHEAD_TARGET = {"redis": 1.2, "postgresql": 1.2}
FASTAPI_TARGET_US = 25.0  # (d) - (c), in process
RPS_TARGET = 0.9  # SessionMiddleware rps / bare middleware rps, over HTTP

HTTP_VARIANTS = ("noauth", "bare", "session", "fastapi")
HTTP_LABELS = {
    "noauth": "(a) no auth (floor 1)",
    "bare": "(b) bare one-read middleware (floor 2)",
    "session": "(c) SessionMiddleware + Starlette endpoint",
    "fastapi": "(d) SessionMiddleware + FastAPI Depends(required)",
}

# Requests of each variant per timed in-process round (before scaling).
LOOP_CALLS = {"memory": 1000, "sqlite": 1000, "redis": 200, "postgresql": 250}

Call = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class HttpSettings:
    rounds: int
    """Timed wrk runs of every variant (round-robin; the median is reported)."""
    seconds: int
    """Length of one timed run."""
    warmup_seconds: int
    """An untimed run of every variant first (0: none)."""
    connections: int
    """Keep-alive connections wrk holds open (one wrk thread)."""
    loop: str = "auto"
    """uvicorn --loop for every server (auto: uvloop when installed)."""
    parser: str = "auto"
    """uvicorn --http for every server (auto: httptools when installed)."""


FULL = Settings(repeats=21, warmup=2, bulk_repeats=0, scale=1.0)
QUICK = Settings(repeats=5, warmup=1, bulk_repeats=0, scale=0.3)
FULL_HTTP = HttpSettings(rounds=4, seconds=2, warmup_seconds=1, connections=32)
QUICK_HTTP = HttpSettings(rounds=1, seconds=1, warmup_seconds=0, connections=32)


# --------------------------------------------------------------------------- in process

_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> Message:
    return _REQUEST


class Sink:
    """The ``send`` of the call loop: counts 200 responses, keeps the last body."""

    __slots__ = ("body", "ok")

    def __init__(self) -> None:
        self.ok = 0
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                self.ok += 1
        else:
            self.body = message.get("body", b"")


def make_scope(cookie: str) -> dict[str, Any]:
    """The scope uvicorn would build for ``GET /api/me`` with the session cookie."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench_web"),
            (b"accept", b"*/*"),
            (b"cookie", cookie.encode("latin-1")),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


class AsgiCall:
    """One request into ``app``: a copy of the scope, the constant receive, a counting send."""

    __slots__ = ("app", "scope", "send", "sink")

    def __init__(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.app = app
        self.scope = scope
        self.sink = Sink()
        self.send = self.sink.send

    def __call__(self) -> Awaitable[None]:
        return self.app(self.scope.copy(), _receive, self.send)


async def call_once(app: ASGIApp, scope: dict[str, Any]) -> tuple[bool, bytes]:
    """One request, outside the timed loops: (answered 200, body)."""
    call = AsgiCall(app, scope)
    await call()
    return call.sink.ok == 1, call.sink.body


def found(op: Call) -> Call:
    """``op``, checked to answer something (context rows)."""

    async def checked() -> object:
        result = await op()
        if result is None:
            raise RuntimeError("the read found nothing")
        return result

    return checked


async def interleaved(calls: Sequence[Call], count: int, rng: random.Random) -> list[float]:
    """µs per call of each of ``calls``: one call of each, in a shuffled order, ``count`` times.

    Every call is timed on its own (two ``perf_counter`` reads), so a slow phase of
    the machine, however short, hits every variant alike; the order is shuffled
    each time so no variant always runs first (after the previous one's I/O wait,
    with cold caches) or right after a given other one.
    """
    totals = [0.0] * len(calls)
    order = list(range(len(calls)))
    clock = time.perf_counter
    for _ in range(count):
        rng.shuffle(order)
        for i in order:
            call = calls[i]
            start = clock()
            await call()
            totals[i] += clock() - start
    return [total / count * 1e6 for total in totals]


async def measure_rows(rows: Sequence[tuple[Row, Call]], settings: Settings, count: int) -> None:
    """Warm up, then one sample per row per repeat; every request must answer 200."""
    calls = [call for _, call in rows]
    rng = random.Random(4321)  # the same orders on every run
    for _ in range(settings.warmup):
        await interleaved(calls, count, rng)
    for _ in range(settings.repeats):
        for (row, _), sample in zip(rows, await interleaved(calls, count, rng), strict=True):
            row.samples.append(sample)
    expected = (settings.warmup + settings.repeats) * count
    for row, call in rows:
        if isinstance(call, AsgiCall) and call.sink.ok != expected:
            raise RuntimeError(
                f"{row.label}: {expected - call.sink.ok} requests did not answer 200"
            )


async def trivial_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The least an ASGI app can do: the call loop's own cost."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def per_round(rows: Sequence[Row], f: Callable[..., float]) -> float:
    """Median over repeats of ``f`` applied to the rows' samples of the same round."""
    return statistics.median(f(*values) for values in zip(*(r.samples for r in rows), strict=True))


@dataclass
class Derived:
    """A figure computed from rows of the same rounds, with its target when it has one."""

    label: str
    value: str
    target: str = ""
    ok: bool | None = None
    counted: bool = True
    """False for a verdict shown for context only (left out of the PASS/MISS totals)."""


@dataclass
class InProcess:
    rows: list[Row]
    derived: list[Derived]
    notes: list[str]


async def harness_context(settings: Settings) -> list[Row]:
    """The call loop's own cost, and httpx.ASGITransport's, on the no-auth Starlette app."""
    store = await open_bench_store("memory", "", "")
    auth = make_auth(store)
    issued = await auth.sessions.create("bench-web-harness")
    cookie = f"{auth.cookie_name}={issued.token}"
    floor = await open_floor(store, "")
    app = build_app("noauth", auth, floor)
    scope = make_scope(cookie)
    count = settings.calls(500)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:8000",
        headers={"cookie": cookie},
    ) as client:

        async def via_httpx() -> object:
            response = await client.get(PATH)
            if response.status_code != 200:
                raise RuntimeError("httpx.ASGITransport: a request did not answer 200")
            return response

        rows: list[tuple[Row, Call]] = [
            (Row("trivial ASGI app (the call loop alone)"), AsgiCall(trivial_app, scope)),
            (Row("Starlette no-auth endpoint, hand-written loop"), AsgiCall(app, scope)),
            (Row("Starlette no-auth endpoint, httpx.ASGITransport"), via_httpx),
        ]
        await measure_rows(rows, settings, count)
    await store.close()
    return [row for row, _ in rows]


async def measure_in_process(
    store: SessionStore, floor: Floor, user: str, settings: Settings
) -> InProcess:
    auth = make_auth(store)
    issued = await auth.sessions.create(user)
    cookie = f"{auth.cookie_name}={issued.token}"
    scope = make_scope(cookie)
    count = settings.calls(LOOP_CALLS[store.name])
    apps = {variant: build_app(variant, auth, floor) for variant in VARIANTS}
    for variant, app in apps.items():
        ok, body = await call_once(app, scope)
        expected = user if variant in ("session", "fastapi", "fastapi-request") else "anonymous"
        if not ok or json.loads(body).get("id") != expected:
            raise RuntimeError(f"{variant}: unexpected answer {body!r}")

    a = Row("(a) no auth (floor 1)")
    b = Row(f"(b) bare middleware: {floor.label} (floor 2)")
    c = Row("(c) SessionMiddleware + Starlette endpoint")
    d = Row("(d) SessionMiddleware + FastAPI Depends(required)")
    fa = Row("  FastAPI, no middleware (context)")
    fr = Row("  FastAPI + SessionMiddleware, endpoint reads request (context)")
    fdep = Row("  FastAPI, no middleware, do-nothing class-based security dependency (context)")
    validate = Row("  auth.sessions.validate(token) alone (context)")
    raw = Row("  the floor's read alone (context)")
    token = issued.token
    rows: list[tuple[Row, Call]] = [
        (a, AsgiCall(apps["noauth"], scope)),
        (b, AsgiCall(apps["bare"], scope)),
        (c, AsgiCall(apps["session"], scope)),
        (d, AsgiCall(apps["fastapi"], scope)),
        (fa, AsgiCall(apps["fastapi-noauth"], scope)),
        (fr, AsgiCall(apps["fastapi-request"], scope)),
        (fdep, AsgiCall(apps["fastapi-dep"], scope)),
        (validate, found(lambda: auth.sessions.validate(token))),
        (raw, found(floor.read)),
    ]
    await measure_rows(rows, settings, count)

    bare = per_round([a, b], lambda a, b: b - a)
    auth_cost = per_round([a, c], lambda a, c: c - a)
    ratio = per_round([a, b, c], lambda a, b, c: (c - a) / (b - a))
    fastapi_extra = per_round([c, d], lambda c, d: d - c)
    neutral = per_round([a, c, d, fa], lambda a, c, d, fa: (d - fa) - (c - a))
    target = OVERHEAD_TARGET.get(store.name)
    derived = [
        Derived("bare middleware overhead (b) - (a)", f"{bare:+.1f} µs"),
        Derived("SessionMiddleware overhead (c) - (a)", f"{auth_cost:+.1f} µs"),
        Derived(
            "  revocable's extra over one raw read (c) - (b)",
            f"{per_round([b, c], lambda b, c: c - b):+.1f} µs",
        ),
        Derived(
            "auth overhead / bare overhead ((c)-(a)) / ((b)-(a))",
            f"{ratio:.2f}x",
            "" if target is None else f"<= {target}x",
            None if target is None else ratio <= target,
        ),
        Derived(
            "FastAPI dependency path - plain middleware path (d) - (c)",
            f"{fastapi_extra:+.1f} µs",
            f"<= {FASTAPI_TARGET_US:.0f} µs",
            fastapi_extra <= FASTAPI_TARGET_US,
        ),
        Derived(
            "  of which FastAPI itself: FastAPI no-auth - (a)",
            f"{per_round([a, fa], lambda a, fa: fa - a):+.1f} µs",
        ),
        Derived(
            "  of which the dependency: (d) - FastAPI endpoint reading the request",
            f"{per_round([fr, d], lambda fr, d: d - fr):+.1f} µs",
        ),
        Derived(
            "    FastAPI's own cost of a do-nothing class-based security dependency",
            f"{per_round([fa, fdep], lambda fa, fdep: fdep - fa):+.1f} µs",
        ),
        Derived(
            "    revocable's dependency over that do-nothing one",
            f"{per_round([fa, fr, d, fdep], lambda fa, fr, d, x: (d - fr) - (x - fa)):+.1f} µs",
        ),
        Derived(
            "  and SessionMiddleware in FastAPI's stack over in Starlette's",
            f"{per_round([a, c, fa, fr], lambda a, c, fa, fr: (fr - fa) - (c - a)):+.1f} µs",
        ),
        Derived(
            "auth cost in FastAPI over auth cost in Starlette ((d)-FastAPI no-auth)-((c)-(a))",
            f"{neutral:+.1f} µs",
            f"(<= {FASTAPI_TARGET_US:.0f} µs)",
            neutral <= FASTAPI_TARGET_US,
            counted=False,
        ),
    ]
    notes = [
        f"{count} requests of each variant per round, interleaved; the session was made by "
        "SessionManager(store).create() (default policy: last_seen is written back at "
        "most once a minute, so nearly every request is a read only).",
    ]
    return InProcess([row for row, _ in rows], derived, notes)


# --------------------------------------------------------------------------- over HTTP


def free_port() -> int:
    """A loopback TCP port nothing listens on (as of now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Server:
    """One uvicorn process serving one variant."""

    variant: str
    port: int
    process: subprocess.Popen[bytes]
    token_file: Path
    log: Path
    cookie: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"


def start_server(
    config: ServeConfig, port: int, log: Path, http: HttpSettings
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "web_apps:create_app",
        "--factory",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
        "--loop",  # the same event loop and HTTP parser for every variant
        http.loop,
        "--http",
        http.parser,
    ]
    env = {**os.environ, **config.to_env()}
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


async def wait_ready(server: Server, timeout: float = 30.0) -> None:
    """Until the app has written its cookie and the port accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"uvicorn ({server.variant}) exited with {server.process.returncode}: "
                f"{server.log.read_text(errors='replace')[-2000:]}"
            )
        if server.token_file.exists():
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            except OSError:
                pass
            else:
                writer.close()
                await writer.wait_closed()
                server.cookie = server.token_file.read_text()
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn ({server.variant}) was not ready within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def stop_servers(servers: Sequence[Server]) -> list[str]:
    """SIGTERM (uvicorn runs the lifespan shutdown: the app closes its store), then kill.

    Answers the variants that had to be killed.
    """
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    killed = []
    deadline = time.monotonic() + 10.0
    for server in servers:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5.0)
            killed.append(server.variant)
    return killed


@dataclass
class LoadResult:
    rps: float
    requests: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us: float | None = None
    """Server CPU time per request (user + system), when /proc can tell."""
    errors: str = ""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)([a-z]+)", text)
    if found is None:
        raise RuntimeError(f"cannot read wrk's duration {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(output: str) -> LoadResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output: {output!r}")
    result = LoadResult(float(rps.group(1)), int(total.group(1)))
    for percent, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+[a-z]+)\s*$", output, re.MULTILINE)
        if found:
            setattr(result, attr, _ms(found.group(1)))
    problems = []
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        problems.append(f"{non_2xx.group(1)} non-2xx")
    sockets = re.search(r"Socket errors: (.*)", output)
    if sockets:
        problems.append(f"socket errors: {sockets.group(1)}")
    result.errors = "; ".join(problems)
    return result


async def run_wrk(server: Server, seconds: int, connections: int) -> LoadResult:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"cookie: {server.cookie}",
        server.url,
    ]
    return await _run_load(command, server, seconds, parse_wrk)


async def run_python_load(server: Server, seconds: int, connections: int) -> LoadResult:
    """The fallback load generator: ``python bench_web.py --load URL ...`` in its own process."""
    command = [
        sys.executable,
        str(SELF),
        "--load",
        server.url,
        "--load-seconds",
        str(seconds),
        "--load-connections",
        str(connections),
        "--load-cookie",
        server.cookie,
    ]

    def parse(output: str) -> LoadResult:
        data = json.loads(output.strip().splitlines()[-1])
        return LoadResult(
            data["rps"],
            data["requests"],
            data["p50_ms"],
            data["p99_ms"],
            errors=data["errors"],
        )

    return await _run_load(command, server, seconds, parse)


async def _run_load(
    command: list[str], server: Server, seconds: int, parse: Callable[[str], LoadResult]
) -> LoadResult:
    before = cpu_seconds(server.process.pid)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(seconds + 20):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    after = cpu_seconds(server.process.pid)
    if process.returncode != 0:
        raise RuntimeError(f"load generator exited with {process.returncode}: {output!r}")
    result = parse(output.decode(errors="replace"))
    if before is not None and after is not None and result.requests:
        result.cpu_us = (after - before) / result.requests * 1e6
    if server.process.poll() is not None:
        raise RuntimeError(f"uvicorn ({server.variant}) died under load")
    return result


async def python_load(url: str, seconds: float, connections: int, cookie: str) -> dict[str, Any]:
    """Keep-alive GETs on ``connections`` connections for ``seconds``; a wrk stand-in."""
    parts = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    if parts is None:
        raise ValueError(f"expected http://host:port/path, not {url!r}")
    host, port, path = parts.groups()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n\r\n").encode(
        "latin-1"
    )
    latencies: list[float] = []
    bad = 0
    stop_at = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: (\d+)", head)
                if length is None:
                    raise RuntimeError("a response without Content-Length")
                await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - start)
                bad += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3 if latencies else None
        )

    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "errors": f"{bad} non-2xx" if bad else "",
    }


@dataclass
class HttpRow:
    variant: str
    runs: list[LoadResult] = field(default_factory=list)

    @property
    def rps(self) -> list[float]:
        return [run.rps for run in self.runs]


@dataclass
class OverHttp:
    generator: str
    rows: list[HttpRow]
    derived: list[Derived]
    notes: list[str]


async def check_server(server: Server, user: str) -> None:
    """One request first: 200, and the session's user for the authenticated variants."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(server.url, headers={"cookie": server.cookie})
    expected = user if server.variant in ("session", "fastapi") else "anonymous"
    if response.status_code != 200 or response.json().get("id") != expected:
        raise RuntimeError(f"{server.variant}: unexpected answer {response.text!r}")


async def measure_http(
    kind: str,
    location: str,
    namespace: str,
    table: str,
    user_prefix: str,
    http: HttpSettings,
    tmp: Path,
    use_wrk: bool,
) -> OverHttp:
    servers: list[Server] = []
    killed: list[str] = []
    load = run_wrk if use_wrk else run_python_load
    try:
        for variant in HTTP_VARIANTS:
            port = free_port()
            token_file = tmp / f"{kind}-{variant}.cookie"
            log = tmp / f"{kind}-{variant}.log"
            config = ServeConfig(
                variant=variant,
                store=kind,
                location=location,
                namespace=namespace,
                floor_table=table,
                user=f"{user_prefix}http-{variant}",
                token_file=str(token_file),
            )
            process = start_server(config, port, log, http)
            servers.append(Server(variant, port, process, token_file, log))
        await asyncio.gather(*(wait_ready(server) for server in servers))
        for server in servers:
            await check_server(server, f"{user_prefix}http-{server.variant}")
        rows = {server.variant: HttpRow(server.variant) for server in servers}
        if http.warmup_seconds:
            for server in servers:
                await load(server, http.warmup_seconds, http.connections)
        for round_ in range(http.rounds):
            # Forwards, then backwards: (b) and (c) always run back to back, and no
            # variant always runs in the same place.
            order = servers if round_ % 2 == 0 else servers[::-1]
            for server in order:
                rows[server.variant].runs.append(await load(server, http.seconds, http.connections))
        logs = [server.log.read_text(errors="replace").strip() for server in servers]
    finally:
        killed = stop_servers(servers)
    a, b, c, d = (rows[v] for v in HTTP_VARIANTS)

    def ratio(x: HttpRow, y: HttpRow) -> float:
        return statistics.median(p / q for p, q in zip(x.rps, y.rps, strict=True))

    def extra_us(x: HttpRow, y: HttpRow) -> float:
        return statistics.median(1e6 / p - 1e6 / q for p, q in zip(x.rps, y.rps, strict=True))

    def cpu(x: HttpRow, y: HttpRow) -> str:
        pairs = [(p.cpu_us, q.cpu_us) for p, q in zip(x.runs, y.runs, strict=True)]
        diffs = [p - q for p, q in pairs if p is not None and q is not None]
        return f"{statistics.median(diffs):+.0f} µs" if diffs else "n/a"

    rps_ratio = ratio(c, b)
    derived = [
        Derived(
            "SessionMiddleware rps / bare middleware rps (c) / (b)",
            f"{rps_ratio:.3f}x",
            f">= {RPS_TARGET}x",
            rps_ratio >= RPS_TARGET,
        ),
        Derived("FastAPI dependency rps / SessionMiddleware rps (d) / (c)", f"{ratio(d, c):.3f}x"),
        Derived("bare middleware rps / no-auth rps (b) / (a)", f"{ratio(b, a):.3f}x"),
        Derived("server CPU per request, SessionMiddleware - bare (c) - (b)", cpu(c, b)),
        Derived("server CPU per request, FastAPI - SessionMiddleware (d) - (c)", cpu(d, c)),
        Derived(
            "µs per request from 1/rps: (b) - (a), (c) - (a), (d) - (c)",
            f"{extra_us(b, a):+.1f} / {extra_us(c, a):+.1f} / {extra_us(d, c):+.1f}",
        ),
    ]
    errors = sorted({run.errors for row in rows.values() for run in row.runs if run.errors})
    notes = [f"[yellow]load generator reported: {'; '.join(errors)}[/]"] if errors else []
    notes += [f"uvicorn said: {text}" for text in logs if text]
    if killed:
        notes.append(f"[yellow]killed after 10 s of SIGTERM: {', '.join(killed)}[/]")
    generator = "wrk" if use_wrk else "the Python load generator"
    return OverHttp(generator, [rows[v] for v in HTTP_VARIANTS], derived, notes)


# --------------------------------------------------------------------------- stores


@dataclass
class StoreResult:
    store: str
    where: str
    in_process: InProcess
    over_http: OverHttp | None


async def prepare_floor_table(store: SessionStore, table: str) -> None:
    if isinstance(store, PostgresStore):
        pool: Any = store._pool
        await pool.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text NOT NULL)")
        await pool.execute(f"INSERT INTO {table} VALUES (1, 'floor')")
    elif isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        try:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            conn.execute(f"INSERT INTO {table} VALUES (1, 'floor')")
        finally:
            conn.close()


async def cleanup(store: SessionStore, table: str, users: list[str], user_prefix: str) -> None:
    """Delete every session, key, row and table this run made on ``store``."""
    if isinstance(store, RedisStore):
        client = store.client
        keys = [key async for key in client.scan_iter(match=f"{store.namespace}:*")]
        if keys:
            await client.delete(*keys)
    elif isinstance(store, PostgresStore):
        pool: Any = store._pool
        await pool.execute(f"DROP TABLE IF EXISTS {table}")
        await pool.execute(
            "DELETE FROM revocable_sessions WHERE starts_with(user_id, $1)", user_prefix
        )
    elif isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        try:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            conn.close()
    for user in users:
        with contextlib.suppress(StoreError):
            await store.delete_user(user)


async def bench_store(
    kind: str,
    settings: Settings,
    http: HttpSettings | None,
    run_id: str,
    tmp: Path,
    use_wrk: bool,
) -> StoreResult:
    location = {
        "memory": "",
        "sqlite": str(tmp / "bench-web.db"),
        "redis": REDIS_URL,
        "postgresql": POSTGRES_URL,
    }[kind]
    namespace = f"rvbench-web-{run_id}"
    store = await open_bench_store(kind, location, namespace)
    where = {
        "memory": "in process",
        "sqlite": f"{location} (durable=True, WAL)",
        "redis": f"{_safe_url(REDIS_URL)}, namespace {namespace}",
        "postgresql": _safe_url(POSTGRES_URL),
    }[kind]
    table = floor_table(run_id)
    user_prefix = f"bench-web-{run_id}-{kind}-"
    users = [f"{user_prefix}in-process"] + [f"{user_prefix}http-{v}" for v in HTTP_VARIANTS]
    floor: Floor | None = None
    try:
        await prepare_floor_table(store, table)
        floor = await open_floor(store, table)
        in_process = await measure_in_process(store, floor, users[0], settings)
        await floor.close()
        floor = None
        over_http = None
        if http is not None:
            over_http = await measure_http(
                kind, location, namespace, table, user_prefix, http, tmp, use_wrk
            )
    finally:
        if floor is not None:
            await floor.close()
        try:
            await cleanup(store, table, users, user_prefix)
        finally:
            await store.close()
    return StoreResult(kind, where, in_process, over_http)


# --------------------------------------------------------------------------- output


def render_derived(console: Console, title: str, derived: list[Derived]) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("result")
    for item in derived:
        table.add_row(item.label, item.value, item.target, _shown_verdict(item))
    console.print(table)


def _shown_verdict(item: Derived) -> str:
    if item.ok is None or item.counted:
        return _verdict(item.ok)
    return "(pass)" if item.ok else "(miss)"


def render(console: Console, result: StoreResult, http: HttpSettings | None) -> list[Derived]:
    """Print one store's tables; answer its figures that have a target."""
    timing = Table(
        title=f"{result.store} (in process; store: {result.where})", title_justify="left"
    )
    timing.add_column("GET /api/me")
    timing.add_column("median µs/req", justify="right")
    timing.add_column("min µs/req", justify="right")
    timing.add_column("+µs vs (a)", justify="right")
    rows = result.in_process.rows
    a = rows[0]
    for row in rows:
        extra = (
            ""
            if row is a or row.label.startswith("  auth.") or "alone" in row.label
            else (f"{per_round([a, row], lambda a, x: x - a):+,.1f}")
        )
        timing.add_row(row.label, _us(row.median), _us(min(row.samples)), extra)
    console.print(timing)
    render_derived(console, f"{result.store} in process: overheads", result.in_process.derived)
    for note in result.in_process.notes:
        console.print(f"  {note}", highlight=False)
    verdicts = [item for item in result.in_process.derived if item.ok is not None]
    over = result.over_http
    if over is not None and http is not None:
        table = Table(
            title=f"{result.store} over HTTP: uvicorn (1 worker) loaded by {over.generator}, "
            f"{http.connections} connections, {http.rounds} x {http.seconds} s per variant",
            title_justify="left",
        )
        table.add_column("GET /api/me")
        table.add_column("median req/s", justify="right")
        table.add_column("min-max req/s", justify="right")
        table.add_column("p50 ms", justify="right")
        table.add_column("p99 ms", justify="right")
        table.add_column("server CPU µs/req", justify="right")
        for http_row in over.rows:
            runs = http_row.runs
            p50 = [r.p50_ms for r in runs if r.p50_ms is not None]
            p99 = [r.p99_ms for r in runs if r.p99_ms is not None]
            cpu = [r.cpu_us for r in runs if r.cpu_us is not None]
            table.add_row(
                HTTP_LABELS[http_row.variant],
                f"{statistics.median(http_row.rps):,.0f}",
                f"{min(http_row.rps):,.0f}-{max(http_row.rps):,.0f}",
                f"{statistics.median(p50):.2f}" if p50 else "",
                f"{statistics.median(p99):.2f}" if p99 else "",
                f"{statistics.median(cpu):,.0f}" if cpu else "",
            )
        console.print(table)
        render_derived(console, f"{result.store} over HTTP: ratios", over.derived)
        for note in over.notes:
            console.print(f"  {note}", highlight=False)
        verdicts += [item for item in over.derived if item.ok is not None]
    console.print()
    return [
        Derived(f"{result.store} {item.label}", item.value, item.target, item.ok, item.counted)
        for item in verdicts
    ]


def server_stack(http: HttpSettings | None) -> str:
    versions = {
        name: importlib.metadata.version(name) for name in ("starlette", "fastapi", "uvicorn")
    }
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if http is not None and http.loop != "auto":
        loop = http.loop
    if http is not None and http.parser != "auto":
        parser = http.parser
    return (
        f"starlette {versions['starlette']}, fastapi {versions['fastapi']}, "
        f"uvicorn {versions['uvicorn']} (loop {loop}, HTTP parser {parser})"
    )


async def main_async(
    stores: list[str],
    settings: Settings,
    http: HttpSettings | None,
    console: Console,
    python_load: bool = False,
) -> int:
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:10]
    mode = "quick" if settings is QUICK else "full"
    wrk = None if python_load else shutil.which("wrk")
    use_wrk = wrk is not None
    console.print(
        f"revocable web benchmark ({mode}: {settings.warmup} warm-up round(s), "
        f"{settings.repeats} timed repeats in process; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, run {run_id})",
        highlight=False,
    )
    console.print(f"  {server_stack(http)}", highlight=False)
    if http is None:
        console.print("  over HTTP: skipped (--no-http)", highlight=False)
    elif use_wrk:
        console.print(f"  load generator: {wrk} -t1 (one thread)", highlight=False)
    else:
        console.print(
            "  [yellow]load generator: wrk not found or not wanted (apt-get install -y wrk); "
            "using the Python asyncio fallback in a separate process, which is slower than wrk and "
            "may limit the rates measured[/]",
            highlight=False,
        )
    console.print()

    harness = Table(title="harness (context): the call loop's own cost", title_justify="left")
    harness.add_column("GET /api/me")
    harness.add_column("median µs/req", justify="right")
    harness.add_column("min µs/req", justify="right")
    harness_rows = await harness_context(settings)
    for row in harness_rows:
        harness.add_row(row.label, _us(row.median), _us(min(row.samples)))
    console.print(harness)
    overhead = per_round(harness_rows[1:], lambda loop, via: via - loop)
    console.print(
        f"  httpx.ASGITransport costs {overhead:+.1f} µs per request over the hand-written "
        "loop, which the in-process figures below use.",
        highlight=False,
    )
    console.print()

    verdicts: list[Derived] = []
    tmp = Path(tempfile.mkdtemp(prefix="revocable-bench-web-"))
    try:
        for name in stores:
            try:
                result = await bench_store(name, settings, http, run_id, tmp, use_wrk)
            except StoreError as exc:
                console.print(f"[yellow]{name}: skipped, store unavailable: {exc}[/]")
                console.print()
                continue
            verdicts += render(console, result, http)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print_targets(console, verdicts, started, "(figures in parentheses are context, not counted)")
    return 0


def print_targets(
    console: Console, verdicts: Sequence[Derived], started: float, note: str = ""
) -> None:
    """The run's figures that have a target, then the PASS/MISS count and the wall time."""
    summary = Table(title="targets", title_justify="left")
    summary.add_column("check")
    summary.add_column("value", justify="right")
    summary.add_column("target", justify="right")
    summary.add_column("result")
    for item in verdicts:
        summary.add_row(item.label, item.value, item.target, _shown_verdict(item))
    console.print(summary)
    counted = [item for item in verdicts if item.counted]
    misses = sum(not item.ok for item in counted)
    console.print(
        f"{len(counted) - misses} PASS, {misses} MISS{' ' + note if note else ''}; "
        f"wall time {time.perf_counter() - started:.1f} s",
        highlight=False,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = store_parser(__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short in-process loops, one 1 s HTTP run per variant (~25 s)",
    )
    parser.add_argument("--no-http", action="store_true", help="in process only")
    parser.add_argument(
        "--uvicorn-loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="uvicorn's event loop for every server (default auto: uvloop when installed)",
    )
    parser.add_argument(
        "--uvicorn-http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser for every server (default auto: httptools when installed)",
    )
    parser.add_argument(
        "--python-load",
        action="store_true",
        help="use the Python load generator even when wrk is installed",
    )
    # The fallback load generator's own entry point (run in a separate process).
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--load-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--load-connections", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--load-cookie", default="", help=argparse.SUPPRESS)
    return parse_store_args(parser, argv)


def main() -> int:
    args = parse_args()
    if args.load:
        if not re.fullmatch(r"http://(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/.*", args.load):
            raise SystemExit("the load generator only targets loopback addresses")
        seconds = min(args.load_seconds, 60.0)
        result = asyncio.run(
            python_load(args.load, seconds, args.load_connections, args.load_cookie)
        )
        print(json.dumps(result))
        return 0
    # A SIGTERM unwinds like Ctrl-C, so the servers started are stopped and data removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console = Console(width=None if sys.stdout.isatty() else 120)
    settings = QUICK if args.quick else FULL
    http = None if args.no_http else (QUICK_HTTP if args.quick else FULL_HTTP)
    if http is not None:
        http = dataclasses.replace(http, loop=args.uvicorn_loop, parser=args.uvicorn_http)
    try:
        return asyncio.run(main_async(args.store_list, settings, http, console, args.python_load))
    except KeyboardInterrupt:
        console.print("interrupted: the servers started were stopped and the run's data removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
