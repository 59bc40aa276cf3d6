"""The embedded default store: one SQLite file in WAL mode.

Reads (``get``, ``list_user``) run directly on a read-only connection on the
event loop thread: a primary-key SELECT costs a few microseconds, about a
tenth of a hop to a worker thread, and WAL readers never wait for writers.
Writes go through aiosqlite's worker thread so a slow fsync never stalls the
loop. Every write is one statement, so each change is atomic.

Crash safety: with ``durable=True`` (the default) every commit is fsynced
(``synchronous=FULL``) and a revocation survives power loss. ``durable=False``
(``synchronous=NORMAL``) survives a crash of the process but can lose the last
commits, revocations included, on power loss or an OS crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from revocable.core.records import DecodedRecords
from revocable.core.refresh import RefreshFamily
from revocable.core.sessions import SessionRecord
from revocable.core.tokens import TokenRef
from revocable.core.users import UserRecord, username_key
from revocable.errors import ConfigurationError, StoreCorrupted, StoreError, StoreUnavailable
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

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
_COLS = ", ".join(COLUMNS)
_SELECT = f"SELECT {_COLS} FROM {TABLE} WHERE digest = ?"  # noqa: S608 (constants only)
_SELECT_USER = f"SELECT {_COLS} FROM {TABLE} WHERE user_id = ?"  # noqa: S608
_INSERT = f"INSERT INTO {TABLE} (digest, {_COLS}) VALUES (?{', ?' * len(COLUMNS)})"  # noqa: S608
_TOUCH = (
    f"UPDATE {TABLE} SET last_seen = ?, idle_expires_at = ?, deadline = ? "  # noqa: S608
    "WHERE digest = ? AND deadline > ?"
)
_REPLACE = (
    f"UPDATE {TABLE} SET digest = ?, "  # noqa: S608
    + ", ".join(f"{c} = ?" for c in COLUMNS)
    + " WHERE digest = ?"
)
_DELETE = f"DELETE FROM {TABLE} WHERE digest = ?"  # noqa: S608
_DELETE_HANDLE = f"DELETE FROM {TABLE} WHERE user_id = ? AND handle = ?"  # noqa: S608
_DELETE_USER = f"DELETE FROM {TABLE} WHERE user_id = ? AND handle IS NOT ?"  # noqa: S608
_SWEEP = f"DELETE FROM {TABLE} WHERE deadline <= ?"  # noqa: S608
_SWEEP_COUNTERS = f"DELETE FROM {COUNTERS_TABLE} WHERE window_end <= ?"  # noqa: S608
# One statement: a new window restarts the count, the same window adds one.
_HIT = (
    f"INSERT INTO {COUNTERS_TABLE} (key, window_start, window_end, hits) "  # noqa: S608
    "VALUES (?, ?, ?, 1) ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN window_start = excluded.window_start THEN hits + 1 ELSE 1 END, "
    "window_start = excluded.window_start, window_end = excluded.window_end "
    "RETURNING hits"
)
_FAMILY_COLS = ", ".join(FAMILY_COLUMNS)
_INSERT_FAMILY = f"INSERT INTO {FAMILIES_TABLE} ({_FAMILY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_GET_FAMILY = f"SELECT {_FAMILY_COLS} FROM {FAMILIES_TABLE} WHERE family_id = ?"  # noqa: S608
_USER_FAMILIES = f"SELECT {_FAMILY_COLS} FROM {FAMILIES_TABLE} WHERE user_id = ?"  # noqa: S608
# Compare-and-swap on the current digest, refusing an expired family: one statement, so of
# racing rotations one wins; it answers the rotated row (SET expressions see the old row).
_ROTATE_FAMILY = (
    f"UPDATE {FAMILIES_TABLE} SET previous_digest = current_digest, "  # noqa: S608
    "current_digest = ?2, nonce = ?3, rotated_at = ?4, generation = generation + 1 "
    f"WHERE family_id = ?1 AND current_digest = ?5 AND expires_at > ?4 RETURNING {_FAMILY_COLS}"
)
_DELETE_FAMILY = f"DELETE FROM {FAMILIES_TABLE} WHERE family_id = ?"  # noqa: S608
_DELETE_USER_FAMILIES = f"DELETE FROM {FAMILIES_TABLE} WHERE user_id = ?"  # noqa: S608
_SWEEP_FAMILIES = f"DELETE FROM {FAMILIES_TABLE} WHERE expires_at <= ?"  # noqa: S608
_USER_COLS = ", ".join(USER_COLUMNS)
_INSERT_USER = (
    f"INSERT INTO {USERS_TABLE} ({_USER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
    "ON CONFLICT (username_key) DO NOTHING"
)
_GET_USER = f"SELECT {_USER_COLS} FROM {USERS_TABLE} WHERE id = ?"  # noqa: S608
_SET_NOT_BEFORE = f"UPDATE {USERS_TABLE} SET not_before = ? WHERE id = ?"  # noqa: S608
_FIND_USER = f"SELECT {_USER_COLS} FROM {USERS_TABLE} WHERE username_key = ?"  # noqa: S608
_SET_PASSWORD = f"UPDATE {USERS_TABLE} SET password_hash = ?, password_changed_at = ? WHERE id = ?"  # noqa: S608

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        f"""CREATE TABLE {TABLE} (
            digest BLOB PRIMARY KEY,
            handle TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            authenticated_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            idle_expires_at REAL,
            deadline REAL NOT NULL,
            client_ip TEXT,
            user_agent TEXT,
            data TEXT NOT NULL
        ) WITHOUT ROWID""",
        f"CREATE UNIQUE INDEX {TABLE}_user ON {TABLE} (user_id, handle)",
        f"CREATE INDEX {TABLE}_deadline ON {TABLE} (deadline)",
    ),
    2: (
        f"""CREATE TABLE {USERS_TABLE} (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            username_key TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            password_changed_at REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
    3: (
        f"""CREATE TABLE {COUNTERS_TABLE} (
            key TEXT PRIMARY KEY,
            window_start REAL NOT NULL,
            window_end REAL NOT NULL,
            hits INTEGER NOT NULL
        ) WITHOUT ROWID""",
        f"CREATE INDEX {COUNTERS_TABLE}_end ON {COUNTERS_TABLE} (window_end)",
    ),
    4: (
        f"""CREATE TABLE {FAMILIES_TABLE} (
            family_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            current_digest BLOB NOT NULL,
            previous_digest BLOB,
            rotated_at REAL,
            nonce BLOB NOT NULL,
            generation INTEGER NOT NULL
        ) WITHOUT ROWID""",
        f"CREATE INDEX {FAMILIES_TABLE}_user ON {FAMILIES_TABLE} (user_id)",
        f"CREATE INDEX {FAMILIES_TABLE}_expires ON {FAMILIES_TABLE} (expires_at)",
    ),
    5: (f"ALTER TABLE {USERS_TABLE} ADD COLUMN not_before REAL NOT NULL DEFAULT 0",),
}


class SQLiteStore:
    """Sessions in an SQLite file. Build it with ``await SQLiteStore.open(path)``."""

    name = "sqlite"

    def __init__(
        self, path: str, writer: aiosqlite.Connection, reader: sqlite3.Connection, timeout: float
    ) -> None:
        self.path = path
        self.timeout = timeout
        self._deadlines = Deadlines(timeout)
        self._decoded = DecodedRecords()
        self._writer = writer
        self._reader = reader

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        durable: bool = True,
        migrate: bool = True,
    ) -> SQLiteStore:
        """Open (creating if needed) the database file and bring its schema up to date."""
        path = str(path)
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError("timeout must be a positive number of seconds")
        writer: aiosqlite.Connection | None = None
        reader: sqlite3.Connection | None = None
        try:
            # The reader first: a bad path fails here, before aiosqlite starts a thread.
            reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            async with asyncio.timeout(timeout * 5):  # the first open may create the file
                writer = await aiosqlite.connect(path, timeout=timeout, isolation_level=None)
                await writer.execute("PRAGMA journal_mode = WAL")
                await writer.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                if migrate:
                    await _migrate(writer)
                else:
                    await _check_version(writer)
            # WAL readers do not wait for writers; a short wait covers recovery only.
            reader.execute("PRAGMA busy_timeout = 20")
            reader.execute("PRAGMA query_only = 1")
        except BaseException as exc:
            if reader is not None:
                reader.close()
            if writer is not None:
                await writer.close()
            if isinstance(exc, sqlite3.Error | OSError | TimeoutError):
                raise StoreUnavailable(
                    f"cannot open SQLite database {path!r}: {exc or type(exc).__name__}",
                    store=cls.name,
                ) from exc
            raise
        return cls(path, writer, reader, timeout)

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement on the writer thread; answers the rows it changed."""
        cursor = await self._guard(lambda: self._writer.execute(sql, params))
        return cursor.rowcount

    async def _guard(self, op: Callable[[], Awaitable[_T]]) -> _T:
        try:
            with self._deadlines.call():
                return await op()
        except TimeoutError as exc:
            raise StoreUnavailable(
                f"SQLite did not answer within {self.timeout}s", store=self.name
            ) from exc
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"SQLite refused a write: {exc}", store=self.name) from exc
        except (sqlite3.Error, ValueError) as exc:  # ValueError: connection closed
            raise StoreUnavailable(f"SQLite failed: {exc}", store=self.name) from exc

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            # Busy (recovery, an exclusive lock): wait for it off the event loop instead.
            return list(await self._guard(lambda: self._writer.execute_fetchall(sql, params)))
        except (sqlite3.Error, ValueError) as exc:
            raise StoreUnavailable(f"SQLite failed: {exc}", store=self.name) from exc

    def _record(self, row: Any) -> SessionRecord:
        try:
            return self._decoded.decode(row, row_to_record)
        except ValueError as exc:
            raise StoreCorrupted(str(exc), store=self.name) from None

    async def insert(self, ref: TokenRef, record: SessionRecord) -> None:
        await self._write(_INSERT, (ref.digest, *record_values(record)))

    async def get(self, ref: TokenRef) -> SessionRecord | None:
        rows = await self._read(_SELECT, (ref.digest,))
        return self._record(rows[0]) if rows else None

    async def touch(self, ref: TokenRef, record: SessionRecord) -> bool:
        params = (record.last_seen, record.idle_expires_at, record.deadline, ref.digest)
        return await self._write(_TOUCH, (*params, record.last_seen)) == 1

    async def replace(self, old: TokenRef, new: TokenRef, record: SessionRecord) -> bool:
        return await self._write(_REPLACE, (new.digest, *record_values(record), old.digest)) == 1

    async def delete(self, ref: TokenRef) -> bool:
        return await self._write(_DELETE, (ref.digest,)) == 1

    async def delete_handle(self, user_id: str, handle: str) -> bool:
        return await self._write(_DELETE_HANDLE, (user_id, handle)) == 1

    async def delete_user(self, user_id: str, *, keep_handle: str | None = None) -> int:
        return await self._write(_DELETE_USER, (user_id, keep_handle))

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        return [self._record(row) for row in await self._read(_SELECT_USER, (user_id,))]

    async def sweep(self, now: float) -> int:
        await self._write(_SWEEP_COUNTERS, (now,))
        await self._write(_SWEEP_FAMILIES, (now,))
        return await self._write(_SWEEP, (now,))

    async def hit(self, key: str, window: float, now: float) -> int:
        start = now - now % window
        rows = await self._guard(
            lambda: self._writer.execute_fetchall(_HIT, (key, start, start + window))
        )
        return int(next(iter(rows))[0])

    async def insert_user(self, user: UserRecord) -> bool:
        return await self._write(_INSERT_USER, user_values(user)) == 1

    async def get_user(self, user_id: str) -> UserRecord | None:
        rows = await self._read(_GET_USER, (user_id,))
        return row_to_user(rows[0]) if rows else None

    async def find_user(self, username: str) -> UserRecord | None:
        rows = await self._read(_FIND_USER, (username_key(username),))
        return row_to_user(rows[0]) if rows else None

    async def set_password_hash(self, user_id: str, password_hash: str, changed_at: float) -> bool:
        return await self._write(_SET_PASSWORD, (password_hash, changed_at, user_id)) == 1

    async def set_not_before(self, user_id: str, when: float) -> bool:
        return await self._write(_SET_NOT_BEFORE, (when, user_id)) == 1

    async def insert_family(self, family: RefreshFamily) -> None:
        await self._write(_INSERT_FAMILY, family_values(family))

    async def rotate_family(
        self, family_id: str, expected: bytes, current: bytes, nonce: bytes, now: float
    ) -> tuple[bool, RefreshFamily | None]:
        params = (family_id, current, nonce, now, expected)
        rows = list(
            await self._guard(lambda: self._writer.execute_fetchall(_ROTATE_FAMILY, params))
        )
        if rows:
            return True, row_to_family(rows[0])
        # Not rotated (replay, reuse, expiry: the rare case): read the family on the loop
        # thread, a few microseconds, rather than a second hop to the writer thread.
        rows = await self._read(_GET_FAMILY, (family_id,))
        return False, row_to_family(rows[0]) if rows else None

    async def delete_family(self, family_id: str) -> bool:
        return await self._write(_DELETE_FAMILY, (family_id,)) == 1

    async def delete_user_families(self, user_id: str) -> int:
        return await self._write(_DELETE_USER_FAMILIES, (user_id,))

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        return [row_to_family(row) for row in await self._read(_USER_FAMILIES, (user_id,))]

    async def close(self) -> None:
        self._reader.close()
        await self._writer.close()


async def _check_version(conn: aiosqlite.Connection) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS revocable_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    rows = list(
        await conn.execute_fetchall("SELECT value FROM revocable_meta WHERE key = 'schema_version'")
    )
    version = int(rows[0][0]) if rows else 0
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the database schema is version {version}, newer than this revocable "
            f"understands ({SCHEMA_VERSION}): upgrade revocable"
        )
    return version


async def _migrate(conn: aiosqlite.Connection) -> None:
    """Bring the schema to ``SCHEMA_VERSION`` in one transaction; a no-op when current."""
    await conn.execute("BEGIN IMMEDIATE")  # one migrator at a time, across processes
    try:
        version = await _check_version(conn)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                await conn.execute(statement)
        await conn.execute(
            "INSERT OR REPLACE INTO revocable_meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        await conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error, whatever ROLLBACK says
            await conn.execute("ROLLBACK")
        raise
