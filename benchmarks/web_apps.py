"""The apps ``bench_web.py`` measures, in process and under uvicorn.

Every variant answers ``GET /api/me`` with a small JSON object:

- ``noauth``: a Starlette endpoint, no middleware (floor 1).
- ``bare``: the same endpoint behind ``OneReadMiddleware``, which does exactly one
  raw read of the store's backend per request and nothing else (floor 2).
- ``session``: ``SessionMiddleware`` and a Starlette endpoint reading
  ``request_session(request).record``.
- ``fastapi``: ``SessionMiddleware`` and a FastAPI endpoint that depends on
  ``SessionDependencies(auth).required``.
- ``fastapi-noauth`` and ``fastapi-request`` (context): FastAPI with no
  middleware, and FastAPI with ``SessionMiddleware`` whose endpoint takes the
  ``Request`` and reads ``request_session`` itself (no dependency).
- ``fastapi-dep`` (context): FastAPI with no middleware and a do-nothing
  class-based security dependency (an ``APIKeyCookie`` subclass whose async
  ``__call__(request)`` answers None): what FastAPI's dependency machinery costs
  by itself for a dependency shaped like ``SessionDependencies(auth).required``.

Under uvicorn (``bench_web.py`` starts it)::

    uvicorn web_apps:create_app --factory --app-dir benchmarks ...

with the variant and the store chosen by ``REVOCABLE_BENCH_*`` environment
variables (see ``ServeConfig.from_env``). At lifespan startup the app opens the
store, creates one session for ``REVOCABLE_BENCH_USER`` and writes its token to
``REVOCABLE_BENCH_TOKEN_FILE``; at shutdown it closes everything it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyCookie
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from revocable import SessionManager
from revocable.config import WebPolicy
from revocable.core.sessions import SessionRecord
from revocable.fastapi import SessionDependencies, install_error_handlers
from revocable.starlette import SessionMiddleware, request_session
from revocable.stores.base import SessionStore
from revocable.stores.memory import MemoryStore
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sqlite import SQLiteStore
from revocable.web import SessionAuth

PATH = "/api/me"
VARIANTS = (
    "noauth",
    "bare",
    "session",
    "fastapi",
    "fastapi-noauth",
    "fastapi-request",
    "fastapi-dep",
)
ANONYMOUS = {"id": "anonymous"}

Read = Callable[[], Awaitable[object]]


# --------------------------------------------------------------------------- floor 2


@dataclass
class Floor:
    """One raw read of the store's backend: what a bare one-read middleware costs."""

    label: str
    read: Read
    close: Callable[[], Awaitable[None]]


def floor_table(run_id: str) -> str:
    """The one-row table the SQL floors read (created and dropped by bench_web.py)."""
    return f"revocable_bench_web_floor_{run_id}"


async def _nothing() -> None:
    return None


class HeldConnections:
    """asyncpg connections held out of the store's pool, one per concurrent read.

    A read takes an idle held connection; when all are busy it acquires one
    more from the pool and keeps it, up to ``limit``, past which it waits for a
    held one to come free. In a sequential loop that is a single held
    connection, exactly the floor of bench_sessions.py; under concurrent HTTP
    load it grows to the concurrency the pool allows.
    """

    def __init__(self, pool: Any, select: str, limit: int) -> None:
        self.pool = pool
        self.select = select
        self.limit = max(1, limit)
        self.idle: list[Any] = []
        self.held: list[Any] = []
        self.size = 0
        """Connections held or being acquired."""
        self.waiters: deque[asyncio.Future[Any]] = deque()

    async def read(self) -> object:
        if self.idle:
            conn = self.idle.pop()
        elif self.size < self.limit:
            self.size += 1  # before the await: concurrent reads must not overshoot
            try:
                conn = await self.pool.acquire()
            except BaseException:
                self.size -= 1
                raise
            self.held.append(conn)
        else:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            conn = await waiter
        try:
            row: object = await conn.fetchrow(self.select, 1)
        finally:
            self._free(conn)
        return row

    def _free(self, conn: Any) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    async def close(self) -> None:
        for conn in self.held:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
        self.held.clear()
        self.idle.clear()
        self.size = 0


async def open_floor(store: SessionStore, table: str) -> Floor:
    """The raw one-read of ``store``'s own backend (the SQL ``table`` must exist)."""
    if isinstance(store, RedisStore):
        client = store.client
        key = f"{store.namespace}:floor"
        await client.set(key, b"x" * 32)

        def redis_get() -> Awaitable[object]:
            return client.get(key)

        return Floor("one Redis GET of a fixed key (store.client)", redis_get, _nothing)
    if isinstance(store, PostgresStore):
        pool: Any = store._pool
        # All the pool's connections but one, which the store keeps for its own writes.
        limit = pool.get_max_size() - 1
        held = HeldConnections(pool, f"SELECT v FROM {table} WHERE id = $1", limit)
        return Floor("one asyncpg SELECT by PK, held connection", held.read, held.close)
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
        select = f"SELECT v FROM {table} WHERE id = ?"

        async def sqlite_select() -> object:
            return conn.execute(select, (1,)).fetchall()

        async def sqlite_close() -> None:
            conn.close()

        return Floor("one sqlite3 SELECT by PK, direct", sqlite_select, sqlite_close)
    values = {"floor": b"x" * 32}

    async def dict_get() -> object:
        return values.get("floor")

    return Floor("one dict lookup", dict_get, _nothing)


class OneReadMiddleware:
    """Exactly one raw store read per HTTP request, then the app: nothing else."""

    def __init__(self, app: ASGIApp, read: Read) -> None:
        self.app = app
        self.read = read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["bench.floor"] = await self.read()
        await self.app(scope, receive, send)


# --------------------------------------------------------------------------- the apps


async def anonymous(request: StarletteRequest) -> JSONResponse:
    return JSONResponse(ANONYMOUS)


async def me(request: StarletteRequest) -> JSONResponse:
    record = request_session(request).record
    if record is None:
        return JSONResponse({"error": "not_authenticated"}, status_code=401)
    return JSONResponse({"id": record.user_id})


class NoopCookieScheme(APIKeyCookie):
    """A class-based security dependency that does nothing (shaped like ``SessionCookie``)."""

    def __init__(self) -> None:
        super().__init__(name="__Host-session", scheme_name="noop", auto_error=False)

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


def make_auth(store: SessionStore) -> SessionAuth:
    """SessionAuth with the default session policy and a fresh CSRF key."""
    return SessionAuth(SessionManager(store), WebPolicy([secrets.token_bytes(32)]))


def build_app(variant: str, auth: SessionAuth, floor: Floor) -> ASGIApp:
    """The ASGI app of one variant (see the module's docstring)."""
    if variant == "noauth":
        return Starlette(routes=[Route(PATH, anonymous)])
    if variant == "bare":
        middleware = [Middleware(OneReadMiddleware, read=floor.read)]
        return Starlette(routes=[Route(PATH, anonymous)], middleware=middleware)
    if variant == "session":
        middleware = [Middleware(SessionMiddleware, auth=auth)]
        return Starlette(routes=[Route(PATH, me)], middleware=middleware)
    app = FastAPI()
    if variant == "fastapi-noauth":

        @app.get(PATH)
        async def fastapi_anonymous() -> dict[str, str]:
            return ANONYMOUS

        return app
    if variant == "fastapi-dep":
        noop = NoopCookieScheme()

        @app.get(PATH)
        async def fastapi_anonymous_dep(_: None = Depends(noop)) -> dict[str, str]:
            return ANONYMOUS

        return app
    app.add_middleware(SessionMiddleware, auth=auth)
    install_error_handlers(app)
    if variant == "fastapi":
        deps = SessionDependencies(auth)

        @app.get(PATH)
        async def fastapi_me(session: SessionRecord = Depends(deps.required)) -> dict[str, str]:
            return {"id": session.user_id}

        return app
    if variant == "fastapi-request":

        @app.get(PATH)
        async def fastapi_me_request(request: Request) -> dict[str, str]:
            record = request_session(request).record
            return {"id": record.user_id} if record else ANONYMOUS

        return app
    raise ValueError(f"unknown variant {variant!r}")


async def open_bench_store(kind: str, location: str, namespace: str) -> SessionStore:
    """Open a store the way the benchmark does (library defaults otherwise)."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return await SQLiteStore.open(location)
    if kind == "redis":
        return await RedisStore.open(location, namespace=namespace)
    if kind == "postgresql":
        return await PostgresStore.open(location)
    raise ValueError(f"unknown store {kind!r}")


# --------------------------------------------------------------------------- under uvicorn


@dataclass(frozen=True)
class ServeConfig:
    variant: str
    store: str
    location: str
    """SQLite file path, Redis URL or PostgreSQL DSN ('' for memory)."""
    namespace: str
    floor_table: str
    user: str
    token_file: str

    ENV: ClassVar[dict[str, str]] = {
        "variant": "REVOCABLE_BENCH_VARIANT",
        "store": "REVOCABLE_BENCH_STORE",
        "location": "REVOCABLE_BENCH_LOCATION",
        "namespace": "REVOCABLE_BENCH_NAMESPACE",
        "floor_table": "REVOCABLE_BENCH_FLOOR_TABLE",
        "user": "REVOCABLE_BENCH_USER",
        "token_file": "REVOCABLE_BENCH_TOKEN_FILE",
    }

    def to_env(self) -> dict[str, str]:
        return {name: getattr(self, attr) for attr, name in self.ENV.items()}

    @classmethod
    def from_env(cls) -> ServeConfig:
        missing = [name for name in cls.ENV.values() if name not in os.environ]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        values = {attr: os.environ[name] for attr, name in cls.ENV.items()}
        return cls(**values)


class Served:
    """What uvicorn runs: opens the store at lifespan startup, then serves the variant.

    It adds one call per request, the same for every variant.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.app: ASGIApp | None = None
        self.store: SessionStore | None = None
        self.floor: Floor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if self.app is None:
            raise RuntimeError("the app was not started")
        await self.app(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await self.stop()
                    failed = {"type": "lifespan.startup.failed", "message": repr(exc)}
                    await send(failed)
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        config = self.config
        store = self.store = await open_bench_store(config.store, config.location, config.namespace)
        self.floor = await open_floor(store, config.floor_table)
        auth = make_auth(store)
        issued = await auth.sessions.create(config.user)
        self.app = build_app(config.variant, auth, self.floor)
        # Written last: its appearance tells the parent the app is ready.
        write_atomically(config.token_file, f"{auth.cookie_name}={issued.token}")

    async def stop(self) -> None:
        if self.floor is not None:
            await self.floor.close()
            self.floor = None
        if self.store is not None:
            await self.store.close()
            self.store = None


def write_atomically(path: str, text: str) -> None:
    partial = Path(f"{path}.partial")
    partial.write_text(text)
    partial.replace(path)


def create_app() -> Served:
    """The uvicorn app factory: the variant and store named by the environment."""
    return Served(ServeConfig.from_env())
