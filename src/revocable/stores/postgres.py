"""Sessions in PostgreSQL through an asyncpg connection pool.

asyncpg rather than psycopg 3: it is the faster driver on the one query that
matters (a primary-key SELECT per request), and its pool, prepared-statement
cache and binary protocol come built in. A sync (WSGI) adapter can reuse the
SQL and the row conversion in ``revocable.stores.sql``.

Every change is one statement, atomic by itself: rotation updates the primary
key in place, "log out all devices" is a single DELETE. Expiry is a
``deadline`` column checked on read and swept by ``sweep``.

Crash safety follows the server's ``synchronous_commit``: with the default
``on`` a committed revocation survives a crash; with ``off`` the last few
hundred milliseconds of commits (revocations too) can be lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from revocable.core.records import DecodedRecords
from revocable.core.refresh import RefreshFamily
from revocable.core.sessions import SessionRecord
from revocable.core.tokens import TokenRef
from revocable.core.users import UserRecord, username_key
from revocable.errors import (
    ConfigurationError,
    InvalidStoreURL,
    StoreCorrupted,
    StoreError,
    StoreUnavailable,
)
from revocable.stores.base import DEFAULT_TIMEOUT
from revocable.stores.bounds import Deadlines
from revocable.stores.sql import (
    COLUMNS,
    COUNTERS_TABLE,
    FAMILIES_TABLE,
    FAMILY_COLUMNS,
    SCHEMA_VERSION,
    TABLE,
    USER_COLUMNS,
    USERS_TABLE,
    family_values,
    record_values,
    row_to_family,
    row_to_record,
    row_to_user,
    user_values,
)

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
_COLS = ", ".join(COLUMNS)
_PARAMS = ", ".join(f"${i}" for i in range(2, len(COLUMNS) + 2)) + "::jsonb"
_SELECT = f"SELECT {_COLS} FROM {TABLE} WHERE digest = $1"  # noqa: S608
_SELECT_USER = f"SELECT {_COLS} FROM {TABLE} WHERE user_id = $1"  # noqa: S608
_INSERT = f"INSERT INTO {TABLE} (digest, {_COLS}) VALUES ($1, {_PARAMS})"  # noqa: S608
_TOUCH = (
    f"UPDATE {TABLE} SET last_seen = $1, idle_expires_at = $2, deadline = $3 "  # noqa: S608
    "WHERE digest = $4 AND deadline > $1"
)
_REPLACE = (
    f"UPDATE {TABLE} SET digest = $1, ({_COLS}) = ({_PARAMS}) "  # noqa: S608
    f"WHERE digest = ${len(COLUMNS) + 2}"
)
_DELETE = f"DELETE FROM {TABLE} WHERE digest = $1"  # noqa: S608
_DELETE_HANDLE = f"DELETE FROM {TABLE} WHERE user_id = $1 AND handle = $2"  # noqa: S608
_DELETE_USER = f"DELETE FROM {TABLE} WHERE user_id = $1 AND handle IS DISTINCT FROM $2::text"  # noqa: S608
_SWEEP = f"DELETE FROM {TABLE} WHERE deadline <= $1"  # noqa: S608
_SWEEP_COUNTERS = f"DELETE FROM {COUNTERS_TABLE} WHERE window_end <= $1"  # noqa: S608
# One statement: a new window restarts the count, the same window adds one.
_HIT = (
    f"INSERT INTO {COUNTERS_TABLE} AS c (key, window_start, window_end, hits) "  # noqa: S608
    "VALUES ($1, $2, $3, 1) ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN c.window_start = excluded.window_start THEN c.hits + 1 ELSE 1 END, "
    "window_start = excluded.window_start, window_end = excluded.window_end "
    "RETURNING hits"
)
_FAMILY_COLS = ", ".join(FAMILY_COLUMNS)
_INSERT_FAMILY = (
    f"INSERT INTO {FAMILIES_TABLE} ({_FAMILY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"  # noqa: S608
)
_USER_FAMILIES = f"SELECT {_FAMILY_COLS} FROM {FAMILIES_TABLE} WHERE user_id = $1"  # noqa: S608
# Compare-and-swap on the current digest, refusing an expired family, and on a refusal the
# family as it was, all in one statement (one round trip). Every part of a statement reads
# one snapshot, so the SELECT half sees the row as before the UPDATE: it answers only when
# the UPDATE did not. That snapshot may predate a racing rotation the UPDATE waited for;
# the caller then sees the family still current and retries.
_ROTATE_FAMILY = (
    f"WITH rotated AS (UPDATE {FAMILIES_TABLE} SET previous_digest = current_digest, "  # noqa: S608
    "current_digest = $2, nonce = $3, rotated_at = $4, generation = generation + 1 "
    "WHERE family_id = $1 AND current_digest = $5 AND expires_at > $4 "
    f"RETURNING {_FAMILY_COLS}) "
    f"SELECT true AS done, {_FAMILY_COLS} FROM rotated UNION ALL "
    f"SELECT false, {_FAMILY_COLS} FROM {FAMILIES_TABLE} "
    "WHERE family_id = $1 AND NOT EXISTS (SELECT FROM rotated)"
)
_DELETE_FAMILY = f"DELETE FROM {FAMILIES_TABLE} WHERE family_id = $1"  # noqa: S608
_DELETE_USER_FAMILIES = f"DELETE FROM {FAMILIES_TABLE} WHERE user_id = $1"  # noqa: S608
_SWEEP_FAMILIES = f"DELETE FROM {FAMILIES_TABLE} WHERE expires_at <= $1"  # noqa: S608
_USER_COLS = ", ".join(USER_COLUMNS)
_INSERT_USER = (
    f"INSERT INTO {USERS_TABLE} ({_USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "  # noqa: S608
    "ON CONFLICT (username_key) DO NOTHING"
)
_GET_USER = f"SELECT {_USER_COLS} FROM {USERS_TABLE} WHERE id = $1"  # noqa: S608
_SET_NOT_BEFORE = f"UPDATE {USERS_TABLE} SET not_before = $1 WHERE id = $2"  # noqa: S608
_FIND_USER = f"SELECT {_USER_COLS} FROM {USERS_TABLE} WHERE username_key = $1"  # noqa: S608
_SET_PASSWORD = (
    f"UPDATE {USERS_TABLE} SET password_hash = $1, password_changed_at = $2 "  # noqa: S608
    "WHERE id = $3"
)

_MIGRATION_LOCK = 0x7265766F  # "revo": one migrator at a time, across processes
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        f"""CREATE TABLE {TABLE} (
            digest bytea PRIMARY KEY,
            handle text NOT NULL,
            user_id text NOT NULL,
            created_at double precision NOT NULL,
            last_seen double precision NOT NULL,
            authenticated_at double precision NOT NULL,
            expires_at double precision NOT NULL,
            idle_expires_at double precision,
            deadline double precision NOT NULL,
            client_ip text,
            user_agent text,
            data jsonb NOT NULL
        )""",
        f"CREATE UNIQUE INDEX {TABLE}_user ON {TABLE} (user_id, handle)",
        f"CREATE INDEX {TABLE}_deadline ON {TABLE} (deadline)",
    ),
    2: (
        f"""CREATE TABLE {USERS_TABLE} (
            id text PRIMARY KEY,
            username text NOT NULL,
            username_key text NOT NULL UNIQUE,
            password_hash text NOT NULL,
            created_at double precision NOT NULL,
            password_changed_at double precision NOT NULL
        )""",
    ),
    3: (
        f"""CREATE TABLE {COUNTERS_TABLE} (
            key text PRIMARY KEY,
            window_start double precision NOT NULL,
            window_end double precision NOT NULL,
            hits integer NOT NULL
        )""",
        f"CREATE INDEX {COUNTERS_TABLE}_end ON {COUNTERS_TABLE} (window_end)",
    ),
    4: (
        f"""CREATE TABLE {FAMILIES_TABLE} (
            family_id text PRIMARY KEY,
            user_id text NOT NULL,
            created_at double precision NOT NULL,
            expires_at double precision NOT NULL,
            current_digest bytea NOT NULL,
            previous_digest bytea,
            rotated_at double precision,
            nonce bytea NOT NULL,
            generation integer NOT NULL
        )""",
        f"CREATE INDEX {FAMILIES_TABLE}_user ON {FAMILIES_TABLE} (user_id)",
        f"CREATE INDEX {FAMILIES_TABLE}_expires ON {FAMILIES_TABLE} (expires_at)",
    ),
    5: (f"ALTER TABLE {USERS_TABLE} ADD COLUMN not_before double precision NOT NULL DEFAULT 0",),
}

# Failures that mean "the server is not there (now)", as opposed to a refused statement.
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    # A connection dropped by the server while a query was starting on it:
    # "cannot switch to state …; another operation is in progress".
    asyncpg.InternalClientError,
)


class PostgresStore:
    """Sessions in PostgreSQL. Build it with ``await PostgresStore.open(dsn)``."""

    name = "postgresql"

    def __init__(self, pool: Any, timeout: float, *, read_lanes: int = 2) -> None:
        self.timeout = timeout
        self._deadlines = Deadlines(timeout)
        self._decoded = DecodedRecords()
        self._pool = pool
        # Connections held out of the pool for ``get``, the per-request read.
        # asyncpg's acquire/release costs about as much again as the query
        # itself (release is shielded in a task); a held connection does not.
        self._read_lanes = read_lanes
        self._idle_lanes: list[Any] = []
        self._held_lanes = 0
        self._lane_waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pool_size: int = 10,
        read_lanes: int | None = None,
        migrate: bool = True,
        **connect_kwargs: Any,
    ) -> PostgresStore:
        """Connect a pool and bring the schema up to date.

        ``read_lanes`` of the ``pool_size`` connections (default all but two)
        are held for session reads (validation), which wait for a free lane
        when all are busy; the rest serve writes. With no lanes (pools of one or
        two), reads use the pool too.
        ``connect_kwargs`` go to ``asyncpg.create_pool`` (for example
        ``statement_cache_size=0`` behind PgBouncer in transaction mode).
        """
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError("timeout must be a positive number of seconds")
        if read_lanes is None:
            read_lanes = max(0, pool_size - 2) if pool_size > 2 else 0
        if not 0 <= read_lanes < pool_size:
            raise ConfigurationError("read_lanes must be at least 0 and less than pool_size")
        connect_kwargs.setdefault("server_settings", {"application_name": "revocable"})
        pool = asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            command_timeout=timeout,
            reset=_keep_session_state,
            **connect_kwargs,
        )
        store = cls(pool, timeout, read_lanes=read_lanes)
        try:
            await store._guard(lambda: pool)  # the first connection
            await store._guard(lambda: (_migrate if migrate else _check_version)(pool))
        except StoreUnavailable as exc:
            pool.terminate()
            if isinstance(exc.__cause__, asyncpg.exceptions.ClientConfigurationError):
                raise InvalidStoreURL(dsn, "the connection string is malformed") from None
            raise
        except BaseException:
            pool.terminate()
            raise
        return store

    async def _guard(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op`` within the timeout, turning driver failures into store errors."""
        try:
            with self._deadlines.call():
                return await op()
        except Exception as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def _failure(self, exc: BaseException) -> StoreError | None:
        """The store error a driver failure or a timeout stands for; None for anything else."""
        if isinstance(exc, TimeoutError):  # before OSError, its base class
            return StoreUnavailable(
                f"PostgreSQL did not answer within {self.timeout}s", store=self.name
            )
        if isinstance(exc, _UNREACHABLE):
            return StoreUnavailable(
                f"PostgreSQL unreachable: {type(exc).__name__}: {exc}", store=self.name
            )
        if isinstance(exc, asyncpg.PostgresError):
            return StoreError(f"PostgreSQL refused: {exc}", store=self.name)
        return None

    async def _on_connection(self, op: Callable[[Any], Awaitable[_T]]) -> _T:
        """Run ``op`` on a pooled connection, all of it within the timeout.

        A connection that overran is terminated before it goes back: asyncpg
        would otherwise hold the release until a cancel request, bounded by its
        own timeout, reached the server, doubling the wait on a frozen link.
        """
        conn: Any = None

        async def run() -> _T:
            nonlocal conn
            conn = await self._pool.acquire()
            return await op(conn)

        try:
            return await self._guard(run)
        except StoreUnavailable as exc:
            if conn is not None and isinstance(exc.__cause__, TimeoutError):
                with contextlib.suppress(asyncpg.InterfaceError):  # already back in the pool
                    conn.terminate()
            raise
        finally:
            if conn is not None:
                await self._pool.release(conn)

    async def _fetchrow_on_lane(self, query: str, *args: Any) -> Any:
        """One row read on a held connection (waiting for one when all are busy).

        Every request's read: the query runs inline, under one deadline that also
        bounds the wait for a lane, rather than through ``_guard`` and a closure.
        """
        if self._read_lanes == 0:
            return await self._on_connection(lambda c: c.fetchrow(query, *args))
        conn = self._idle_lane()
        try:
            with self._deadlines.call():
                if conn is None:
                    conn = await self._take_lane()
                row = await conn.fetchrow(query, *args)
        except BaseException as exc:
            failure = self._failure(exc)
            timed_out = isinstance(exc, TimeoutError)
            if conn is not None:
                if timed_out or isinstance(exc, asyncio.CancelledError):
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()  # mid-query: not reusable, and asyncpg would wait
                await self._drop_lane(conn)
            if failure is None:
                raise
            if conn is None or timed_out or not isinstance(failure, StoreUnavailable):
                raise failure from exc
            # The server dropped this connection (restart, failover, terminate): the other
            # held ones went with it. Let them all go and retry the read once on the pool,
            # which replaces dead connections; a read is safe to repeat.
            while self._idle_lanes:
                await self._drop_lane(self._idle_lanes.pop())
            return await self._on_connection(lambda c: c.fetchrow(query, *args))
        self._give_back(conn)
        return row

    def _idle_lane(self) -> Any:
        """The last idle lane if it is still open, taken at once (the hot path: no await, so no
        deadline needed); else None, and ``_take_lane`` sorts things out."""
        lanes = self._idle_lanes
        return lanes.pop() if lanes and _alive(lanes[-1]) else None

    async def _take_lane(self) -> Any:
        """An idle lane, a new one while there are fewer than ``read_lanes``, or the next freed.

        A waiter woken with None (a lane was dropped) goes round again and may open one.
        """
        while True:
            while self._idle_lanes:
                conn = self._idle_lanes.pop()
                if _alive(conn):
                    return conn
                await self._drop_lane(conn)  # the server closed it while idle
            if self._held_lanes < self._read_lanes:
                self._held_lanes += 1
                try:
                    return await self._pool.acquire()
                except BaseException:
                    self._held_lanes -= 1
                    self._wake_waiter()  # let a waiter try to open the lane we could not
                    raise
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._lane_waiters.append(waiter)
            try:
                conn = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    self._give_back(waiter.result())  # handed over just as we gave up
                raise
            if conn is not None:
                return conn

    def _give_back(self, conn: Any) -> None:
        """Hand a lane to the oldest waiter, or park it idle."""
        while self._lane_waiters:
            waiter = self._lane_waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle_lanes.append(conn)

    def _wake_waiter(self) -> None:
        """Tell one waiter to retry (a lane closed): it may open a new one."""
        while self._lane_waiters:
            waiter = self._lane_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _drop_lane(self, conn: Any) -> None:
        self._held_lanes -= 1
        with contextlib.suppress(Exception):
            await self._pool.release(conn)
        self._wake_waiter()

    async def _execute(self, sql: str, *args: Any) -> int:
        status: str = await self._on_connection(lambda conn: conn.execute(sql, *args))
        return int(status.rsplit(" ", 1)[-1])  # "DELETE 3" -> 3

    def _record(self, row: Any) -> SessionRecord:
        try:
            return self._decoded.decode(row, row_to_record)  # asyncpg hands jsonb over as text
        except ValueError as exc:
            raise StoreCorrupted(str(exc), store=self.name) from None

    async def insert(self, ref: TokenRef, record: SessionRecord) -> None:
        await self._execute(_INSERT, ref.digest, *record_values(record))

    async def get(self, ref: TokenRef) -> SessionRecord | None:
        row = await self._fetchrow_on_lane(_SELECT, ref.digest)
        return None if row is None else self._record(row)

    async def touch(self, ref: TokenRef, record: SessionRecord) -> bool:
        args = (record.last_seen, record.idle_expires_at, record.deadline, ref.digest)
        return await self._execute(_TOUCH, *args) == 1

    async def replace(self, old: TokenRef, new: TokenRef, record: SessionRecord) -> bool:
        return await self._execute(_REPLACE, new.digest, *record_values(record), old.digest) == 1

    async def delete(self, ref: TokenRef) -> bool:
        return await self._execute(_DELETE, ref.digest) == 1

    async def delete_handle(self, user_id: str, handle: str) -> bool:
        return await self._execute(_DELETE_HANDLE, user_id, handle) == 1

    async def delete_user(self, user_id: str, *, keep_handle: str | None = None) -> int:
        return await self._execute(_DELETE_USER, user_id, keep_handle)

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        rows = await self._on_connection(lambda conn: conn.fetch(_SELECT_USER, user_id))
        return [self._record(row) for row in rows]

    async def sweep(self, now: float) -> int:
        await self._execute(_SWEEP_COUNTERS, now)
        await self._execute(_SWEEP_FAMILIES, now)
        return await self._execute(_SWEEP, now)

    async def hit(self, key: str, window: float, now: float) -> int:
        start = now - now % window
        hits = await self._on_connection(lambda c: c.fetchval(_HIT, key, start, start + window))
        return int(hits)

    async def insert_user(self, user: UserRecord) -> bool:
        return await self._execute(_INSERT_USER, *user_values(user)) == 1

    async def get_user(self, user_id: str) -> UserRecord | None:
        # A read on every Bearer request (the user's "not before"): a held lane, like get.
        row = await self._fetchrow_on_lane(_GET_USER, user_id)
        return None if row is None else row_to_user(row)

    async def find_user(self, username: str) -> UserRecord | None:
        key = username_key(username)
        row = await self._fetchrow_on_lane(_FIND_USER, key)
        return None if row is None else row_to_user(row)

    async def set_password_hash(self, user_id: str, password_hash: str, changed_at: float) -> bool:
        return await self._execute(_SET_PASSWORD, password_hash, changed_at, user_id) == 1

    async def set_not_before(self, user_id: str, when: float) -> bool:
        return await self._execute(_SET_NOT_BEFORE, when, user_id) == 1

    async def insert_family(self, family: RefreshFamily) -> None:
        await self._execute(_INSERT_FAMILY, *family_values(family))

    async def rotate_family(
        self, family_id: str, expected: bytes, current: bytes, nonce: bytes, now: float
    ) -> tuple[bool, RefreshFamily | None]:
        args = (family_id, current, nonce, now, expected)
        row = await self._on_connection(lambda conn: conn.fetchrow(_ROTATE_FAMILY, *args))
        return (False, None) if row is None else (bool(row[0]), row_to_family(row[1:]))

    async def delete_family(self, family_id: str) -> bool:
        return await self._execute(_DELETE_FAMILY, family_id) == 1

    async def delete_user_families(self, user_id: str) -> int:
        return await self._execute(_DELETE_USER_FAMILIES, user_id)

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        rows = await self._on_connection(lambda conn: conn.fetch(_USER_FAMILIES, user_id))
        return [row_to_family(row) for row in rows]

    async def close(self) -> None:
        while self._idle_lanes:
            await self._drop_lane(self._idle_lanes.pop())
        try:
            async with asyncio.timeout(self.timeout):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()


def _alive(conn: Any) -> bool:
    """Whether a held connection can still run a query."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when the server closed it
        return False


async def _keep_session_state(conn: Any) -> None:
    """Reset nothing when a connection goes back to the pool.

    Our statements leave no session state behind (no SET, LISTEN, cursors or
    session-level advisory locks; the migration lock is transaction-scoped), so
    asyncpg's default reset query would only add a second round trip to every
    operation. asyncpg still rolls back any open transaction first.
    """


async def _check_version(conn: Any) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS revocable_meta (key text PRIMARY KEY, value text NOT NULL)"
    )
    value = await conn.fetchval("SELECT value FROM revocable_meta WHERE key = 'schema_version'")
    version = 0 if value is None else int(value)
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the database schema is version {version}, newer than this revocable "
            f"understands ({SCHEMA_VERSION}): upgrade revocable"
        )
    return version


async def _migrate(pool: Any) -> None:
    """Bring the schema to ``SCHEMA_VERSION`` in one transaction; a no-op when current."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        version = await _check_version(conn)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                await conn.execute(statement)
        await conn.execute(
            "INSERT INTO revocable_meta (key, value) VALUES ('schema_version', $1) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            str(SCHEMA_VERSION),
        )
