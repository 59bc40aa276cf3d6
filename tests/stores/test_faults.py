"""Store failures, for real: a killed or frozen Redis, a dropped or hung PostgreSQL
connection, a locked or unopenable SQLite file. No mocks.

Whatever goes wrong, an operation raises ``StoreUnavailable`` within the store's
timeout (plus ``MARGIN`` for scheduling), validation never answers with a session
it could not confirm, and the same store object works again once its backend is
back, without being reopened.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from revocable import SessionManager
from revocable.errors import StoreUnavailable
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sqlite import SQLiteStore
from tests.servers import PrivateRedis, free_port
from tests.services import POSTGRES_URL, require

MARGIN = 0.5
"""Seconds of slack allowed on top of a store's timeout before an error counts as late."""

REDIS_TIMEOUT = 0.5
PG_TIMEOUT = 1.0
SQLITE_TIMEOUT = 0.5

Operation = Callable[[], Awaitable[object]]


# -- helpers -----------------------------------------------------------------------------


async def _unavailable_within(bound: float, op: Operation) -> StoreUnavailable:
    """Run ``op``; it must raise StoreUnavailable (not return) within ``bound`` + MARGIN."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await op()
    elapsed = time.monotonic() - started
    assert elapsed < bound + MARGIN, f"StoreUnavailable after {elapsed:.2f}s, bound {bound}s"
    assert caught.value.code == "store_unavailable"
    return caught.value


class _TestServer:
    """A loopback asyncio TCP server that tracks its connections and closes them all."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.append(writer)
        try:
            await self.serve(reader, writer)
        except OSError:
            pass
        finally:
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop listening and close every connection; handlers end on the EOF this causes."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        if self._handlers:
            _, stuck = await asyncio.wait(self._handlers, timeout=2.0)
            assert not stuck, f"connection handlers did not end: {stuck}"
        if self._server is not None:
            await self._server.wait_closed()


class SilentServer(_TestServer):
    """Accepts connections and never sends a byte."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass  # swallow whatever the client says; answer nothing


class FreezableProxy(_TestServer):
    """Forwards to an upstream server; forwarding (both ways) can be stopped and resumed."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__()
        self.upstream = (upstream_host, upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()

    def freeze(self) -> None:
        """Stop forwarding: bytes are read and held, connections stay open."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, the held bytes first."""
        self._flowing.set()

    def dsn(self, url: str) -> str:
        """``url`` pointed at this proxy instead of its own host and port."""
        parts = urlsplit(url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{userinfo}{at}127.0.0.1:{self.port}").geturl()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        self._writers.append(upstream_w)
        await asyncio.gather(self._pump(reader, upstream_w), self._pump(upstream_r, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()  # pass the hang-up on to the other side


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(name="user")
def _user() -> str:
    return f"fault-{uuid.uuid4()}"


@pytest.fixture(name="redis_store")
async def _redis_store(redis_server: PrivateRedis) -> AsyncIterator[RedisStore]:
    store = await RedisStore.open(redis_server.url, timeout=REDIS_TIMEOUT)
    yield store
    await store.close()


@pytest.fixture(name="pg_url")
def _pg_url() -> str:
    return require("postgresql", POSTGRES_URL)


@pytest.fixture(name="pg_admin")
async def _pg_admin(pg_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


@pytest.fixture(name="app_name")
def _app_name() -> str:
    return f"rv-fault-{uuid.uuid4().hex[:12]}"


@pytest.fixture(name="pg_store", params=[1, 3], ids=["pool-only", "read-lanes"])
async def _pg_store(
    pg_url: str, app_name: str, request: pytest.FixtureRequest
) -> AsyncIterator[PostgresStore]:
    """A store with one pooled connection, or with read lanes held out of a pool of three."""
    store = await PostgresStore.open(
        pg_url,
        pool_size=request.param,
        timeout=PG_TIMEOUT,
        server_settings={"application_name": app_name},
    )
    yield store
    await store.close()


@pytest.fixture(name="pg_proxy")
async def _pg_proxy(pg_url: str) -> AsyncIterator[FreezableProxy]:
    parts = urlsplit(pg_url)
    proxy = FreezableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    yield proxy
    proxy.thaw()
    await proxy.close()


@pytest.fixture(name="silent_server")
async def _silent_server() -> AsyncIterator[SilentServer]:
    server = SilentServer()
    await server.start()
    yield server
    await server.close()


async def _backend_pids(admin: Any, app_name: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app_name
    )
    return [row["pid"] for row in rows]


async def _terminate_backends(admin: Any, app_name: str) -> list[bool]:
    rows = await admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        app_name,
    )
    return [row[0] for row in rows]


# -- Redis -------------------------------------------------------------------------------


async def test_redis_killed_mid_run_fails_fast_then_recovers_empty(
    redis_server: PrivateRedis, redis_store: RedisStore, user: str
) -> None:
    """With Redis killed every operation raises StoreUnavailable within the timeout, and the
    same store works again once a fresh (empty, non-persistent) server is on the port."""
    manager = SessionManager(redis_store)
    old = await manager.create(user)
    record = await manager.validate(old.token)
    assert record is not None
    assert record.handle == old.record.handle

    redis_server.kill()
    operations: dict[str, Operation] = {
        "validate": lambda: manager.validate(old.token),
        "create": lambda: manager.create(user),
        "revoke": lambda: manager.revoke(old.token),
        "revoke_all": lambda: manager.revoke_all(user),
        "list_sessions": lambda: manager.list_sessions(user),
    }
    for name, op in operations.items():
        error = await _unavailable_within(REDIS_TIMEOUT, op)
        assert error.store == "redis", name

    redis_server.start()  # same port, same store object, not reopened
    new = await manager.create(user)
    record = await manager.validate(new.token)
    assert record is not None
    assert record.handle == new.record.handle
    # --save '' --appendonly no: the restarted server remembers nothing, old session included.
    assert await manager.validate(old.token) is None
    assert [r.handle for r in await manager.list_sessions(user)] == [new.record.handle]
    assert await manager.revoke(new.token) is True
    assert await manager.validate(new.token) is None


async def test_redis_frozen_is_bounded_and_answers_stay_in_step(
    redis_server: PrivateRedis, redis_store: RedisStore, user: str
) -> None:
    """A frozen Redis (SIGSTOP: connects, never answers) makes validate raise StoreUnavailable
    within the timeout, and after it resumes no late answer is taken for a later call."""
    manager = SessionManager(redis_store)
    a, b = await manager.create(user), await manager.create(user)

    redis_server.freeze()
    try:
        await _unavailable_within(REDIS_TIMEOUT, lambda: manager.validate(a.token))
        started = time.monotonic()
        results = await asyncio.gather(
            *(manager.validate(s.token) for s in (a, b, a, b)), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        assert elapsed < REDIS_TIMEOUT + MARGIN, f"concurrent validations took {elapsed:.2f}s"
        await _unavailable_within(REDIS_TIMEOUT, lambda: manager.list_sessions(user))
    finally:
        redis_server.thaw()

    # The server now answers the GETs the timed-out calls sent; none may reach a later call.
    for issued in (b, a, b, a):
        record = await manager.validate(issued.token)
        assert record is not None
        assert record.handle == issued.record.handle
    assert sorted(r.handle for r in await manager.list_sessions(user)) == sorted(
        [a.record.handle, b.record.handle]
    )


async def test_redis_open_on_a_dead_port_is_unavailable() -> None:
    """RedisStore.open on a loopback port nothing listens on raises StoreUnavailable fast."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    error = await _unavailable_within(
        REDIS_TIMEOUT, lambda: RedisStore.open(url, timeout=REDIS_TIMEOUT)
    )
    assert error.store == "redis"


async def test_redis_open_on_a_silent_listener_is_bounded(silent_server: SilentServer) -> None:
    """RedisStore.open against a server that accepts but never answers raises StoreUnavailable
    within the timeout."""
    url = f"redis://127.0.0.1:{silent_server.port}/0"
    await _unavailable_within(REDIS_TIMEOUT, lambda: RedisStore.open(url, timeout=REDIS_TIMEOUT))


# -- PostgreSQL --------------------------------------------------------------------------


async def test_postgres_dropped_connection_is_replaced_transparently(
    pg_store: PostgresStore, pg_admin: Any, app_name: str, user: str
) -> None:
    """Once the pool has seen its connection terminated, the next operation succeeds on a
    fresh connection, with the right session, without reopening the store."""
    manager = SessionManager(pg_store)
    issued = await manager.create(user)
    assert await manager.validate(issued.token) is not None  # a read lane is in use, if any
    old_pids = set(await _backend_pids(pg_admin, app_name))

    terminated = await _terminate_backends(pg_admin, app_name)
    assert terminated
    assert all(terminated)
    deadline = time.monotonic() + 2.0
    while old_pids & set(await _backend_pids(pg_admin, app_name)):
        assert time.monotonic() < deadline, f"backends {old_pids} outlived their termination"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the store's event loop read the server's goodbye

    # Observed: asyncpg's pool sees the connection close and replaces it (it keeps min_size
    # connections open), so the next operation simply runs on the new connection.
    record = await manager.validate(issued.token)
    assert record is not None
    assert record.handle == issued.record.handle
    assert not old_pids & set(await _backend_pids(pg_admin, app_name))
    other = await manager.create(user)
    assert {r.handle for r in await manager.list_sessions(user)} == {
        issued.record.handle,
        other.record.handle,
    }


async def test_postgres_connection_dropped_under_a_request(
    pg_store: PostgresStore, pg_admin: Any, app_name: str, user: str
) -> None:
    """A connection terminated just before or while validate runs gives StoreUnavailable or
    the right session, never None or another error, and the next call succeeds."""
    manager = SessionManager(pg_store)
    issued = await manager.create(user)
    for attempt in range(12):
        terminated = await _terminate_backends(pg_admin, app_name)
        assert terminated
        assert all(terminated)
        # Block the loop so the server's FATAL notice and its close are both queued on the
        # store's socket, then let the loop read 0-3 times: every interleaving of "notice
        # read", "close read" and "query sent" is tried.
        time.sleep(0.05)  # noqa: ASYNC251 (blocking on purpose, see above)
        for _ in range(attempt % 4):
            await asyncio.sleep(0)
        try:
            record = await manager.validate(issued.token)
        except StoreUnavailable:
            pass  # refused to answer: fine
        else:
            assert record is not None, f"attempt {attempt}: validate answered no session"
            assert record.handle == issued.record.handle
        record = await manager.validate(issued.token)  # recovery, not reopened
        assert record is not None, f"attempt {attempt}: no recovery"
        assert record.handle == issued.record.handle


async def test_postgres_open_on_a_silent_server_is_bounded(silent_server: SilentServer) -> None:
    """PostgresStore.open against a server that accepts but never answers raises
    StoreUnavailable within the timeout."""
    dsn = f"postgresql://postgres@127.0.0.1:{silent_server.port}/test"
    error = await _unavailable_within(
        PG_TIMEOUT, lambda: PostgresStore.open(dsn, timeout=PG_TIMEOUT)
    )
    assert error.store == "postgresql"


async def test_postgres_frozen_link_is_bounded_then_recovers(
    pg_url: str, pg_proxy: FreezableProxy, user: str
) -> None:
    """When the network to PostgreSQL stops carrying bytes, validate raises StoreUnavailable
    within the timeout; when it flows again the same store answers correctly."""
    store = await PostgresStore.open(pg_proxy.dsn(pg_url), pool_size=3, timeout=PG_TIMEOUT)
    try:
        manager = SessionManager(store)
        issued = await manager.create(user)
        assert await manager.validate(issued.token) is not None

        pg_proxy.freeze()
        try:
            await _unavailable_within(PG_TIMEOUT, lambda: manager.validate(issued.token))
            # More reads than the one read lane: those queued for a lane are bounded by
            # the same deadline as the one on the wire.
            started = time.monotonic()
            results = await asyncio.gather(
                *(manager.validate(issued.token) for _ in range(4)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
            assert all(isinstance(r, StoreUnavailable) for r in results), results
            assert elapsed < PG_TIMEOUT + MARGIN, f"queued validations took {elapsed:.2f}s"
        finally:
            pg_proxy.thaw()

        record = await manager.validate(issued.token)
        assert record is not None
        assert record.handle == issued.record.handle
        other = await manager.create(user)
        assert {r.handle for r in await manager.list_sessions(user)} == {
            issued.record.handle,
            other.record.handle,
        }
    finally:
        await store.close()


# -- SQLite ------------------------------------------------------------------------------


async def test_sqlite_held_writer_lock_bounds_writes_not_reads(tmp_path: Path, user: str) -> None:
    """While another connection holds BEGIN EXCLUSIVE, create raises StoreUnavailable within
    the timeout, validation still reads (WAL), and create works once the lock is gone."""
    path = tmp_path / "sessions.db"
    store = await SQLiteStore.open(path, timeout=SQLITE_TIMEOUT)
    try:
        manager = SessionManager(store)
        existing = await manager.create(user)  # also runs the first sweep
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            error = await _unavailable_within(SQLITE_TIMEOUT, lambda: manager.create(user))
            assert error.store == "sqlite"
            await _unavailable_within(SQLITE_TIMEOUT, lambda: manager.revoke(existing.token))
            # Observed: in WAL mode EXCLUSIVE is IMMEDIATE; readers are not blocked.
            record = await manager.validate(existing.token)
            assert record is not None
            assert record.handle == existing.record.handle
            assert [r.handle for r in await manager.list_sessions(user)] == [existing.record.handle]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        new = await manager.create(user)
        record = await manager.validate(new.token)
        assert record is not None
        assert record.handle == new.record.handle
    finally:
        await store.close()


async def test_sqlite_open_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    """SQLiteStore.open on a path whose directory does not exist raises StoreUnavailable and
    leaves no worker thread running behind it."""
    path = tmp_path / "no-such-directory" / "sessions.db"
    before = _sqlite_workers()
    error = await _unavailable_within(
        SQLITE_TIMEOUT, lambda: SQLiteStore.open(path, timeout=SQLITE_TIMEOUT)
    )
    leaked = _sqlite_workers() - before
    # Let any leftover thread finish while this loop still runs (it reports into the loop).
    for thread in leaked:
        await asyncio.to_thread(thread.join, 2.0)
    assert error.store == "sqlite"
    assert not path.parent.exists()
    assert not leaked, f"open raised while its aiosqlite worker thread still ran: {leaked}"


def _sqlite_workers() -> set[threading.Thread]:
    """The live aiosqlite worker threads."""
    return {
        t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()
    }
