"""Benchmark ``SessionManager`` on every store against a raw round trip of its own driver.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sessions.py [--stores memory,sqlite,redis,postgresql]
        [--quick]

Redis and PostgreSQL are found through ``REVOCABLE_TEST_REDIS_URL`` and
``REVOCABLE_TEST_POSTGRES_URL`` (the test suite's defaults otherwise). Every key,
row and table the run creates carries a per-run id and is deleted at the end; the
SQLite file lives in a temporary directory.

Each operation is timed as a loop of many calls (``time.perf_counter``), after a
warm-up; the loops of all operations of a store run round-robin, several times,
so slow phases of a noisy machine hit every operation alike. The figure shown is
the median of those repeats, in microseconds per operation; the ratio to the
store's floor (one raw round trip of the driver) is the median, over the repeats,
of the operation's time divided by the floor's time in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import aiosqlite
from rich.console import Console
from rich.table import Table

from revocable import SessionManager, SessionPolicy, StoreError
from revocable.core.tokens import mint_token, parse_token, route_for
from revocable.stores.base import SessionStore
from revocable.stores.memory import MemoryStore
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sql import COLUMNS, TABLE
from revocable.stores.sqlite import SQLiteStore

REDIS_URL = os.environ.get("REVOCABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "REVOCABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ALL_STORES = ("memory", "sqlite", "redis", "postgresql")

# validate must stay within this factor of the store's floor.
VALIDATE_TARGET = {"sqlite": 3.0, "redis": 1.2, "postgresql": 1.2}
REDIS_REVOKE_ALL_ROUND_TRIPS = 3
BULK_SESSIONS = 1000
LISTED_SESSIONS = 10

# A plain validate never writes: last_seen is written back at most once a day.
READ_ONLY = SessionPolicy(touch_interval=24 * 3600.0)
# Every validate writes last_seen back.
ALWAYS_TOUCH = SessionPolicy(touch_interval=0.0)

STORE_READS = frozenset({"get", "list_user"})

Op = Callable[[int], Awaitable[object]]
Sampler = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class Settings:
    repeats: int
    """Timed repeats of every operation (the median of them is reported)."""
    warmup: int
    """Untimed rounds of every operation first."""
    bulk_repeats: int
    """Timed revoke_all calls of 1,000 sessions."""
    scale: float
    """Factor on the number of calls per timed loop."""

    def calls(self, base: int) -> int:
        return max(20, round(base * self.scale))


FULL = Settings(repeats=21, warmup=2, bulk_repeats=5, scale=1.0)
QUICK = Settings(repeats=5, warmup=1, bulk_repeats=2, scale=0.3)

# Calls per timed loop (before scaling): (fast reads, writes and slower reads).
LOOP_CALLS = {
    "memory": (4000, 2000),
    "sqlite": (2000, 200),
    "redis": (400, 300),
    "postgresql": (400, 300),
}


@dataclass
class Row:
    """One timed operation and its samples (µs per op, one per repeat)."""

    label: str
    samples: list[float] = field(default_factory=list)
    floor: bool = False
    target: float | None = None
    """Largest acceptable ratio to the floor, if the operation has a target."""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def ratio(self, floor: Row) -> float:
        """Median over repeats of this row's time over the floor's time in the same round."""
        if len(self.samples) != len(floor.samples):  # not timed in the same rounds
            return self.median / floor.median
        return statistics.median(a / b for a, b in zip(self.samples, floor.samples, strict=True))


@dataclass
class Check:
    """A structural count, with its target when it has one."""

    label: str
    value: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    store: str
    where: str
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def floor(self) -> Row | None:
        return next((row for row in self.rows if row.floor), None)


class CountingStore:
    """Delegates to a store and counts the calls of each of its methods."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op not in STORE_READS)

    def __getattr__(self, op: str) -> Any:
        method = getattr(self.inner, op)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[op] += 1
            return await method(*args, **kwargs)

        return counted


# --------------------------------------------------------------------------- timing


def _truthy(value: object) -> bool:
    return bool(value)


async def timed(calls: int, op: Op, ok: Callable[[object], bool] = _truthy) -> float:
    """µs per call of ``calls`` awaited calls of ``op``; every answer must pass ``ok``."""
    bad = 0
    start = time.perf_counter()
    for i in range(calls):
        if not ok(await op(i)):
            bad += 1
    elapsed = time.perf_counter() - start
    if bad:
        raise RuntimeError(f"{bad} of {calls} calls answered unexpectedly")
    return elapsed / calls * 1e6


def timed_sync(calls: int, op: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(calls):
        op(i)
    return (time.perf_counter() - start) / calls * 1e6


async def run_rounds(rows: list[tuple[Row, Sampler]], settings: Settings) -> None:
    """Warm up, then time every sampler once per repeat, round-robin."""
    for _ in range(settings.warmup):
        for _row, sampler in rows:
            await sampler()
    for _ in range(settings.repeats):
        for row, sampler in rows:
            row.samples.append(await sampler())


async def fill(manager: SessionManager, user: str, count: int) -> list[str]:
    """Create ``count`` sessions of ``user`` (a few at a time) and answer their tokens."""
    tokens: list[str] = []
    while len(tokens) < count:
        batch = min(25, count - len(tokens))
        issued = await asyncio.gather(*(manager.create(user) for _ in range(batch)))
        tokens += [one.token for one in issued]
    return tokens


# --------------------------------------------------------------------------- the benchmark


class StoreBench:
    """The operations every store shares; subclasses add their floor and counts."""

    def __init__(self, store: SessionStore, settings: Settings, run_id: str, where: str) -> None:
        self.store = store
        self.settings = settings
        self.run_id = run_id
        self.manager = SessionManager(store, READ_ONLY)
        self.toucher = SessionManager(store, ALWAYS_TOUCH)
        self.users: set[str] = set()
        self.report = Report(store.name, where)
        fast, slow = LOOP_CALLS[store.name]
        self.fast = settings.calls(fast)
        self.slow = settings.calls(slow)

    def user(self, purpose: str) -> str:
        user = f"bench-{self.run_id}-{self.store.name}-{purpose}"
        self.users.add(user)
        return user

    # Subclasses override these three.
    async def floors(self) -> list[tuple[Row, Sampler]]:
        return []

    async def counts(self) -> None:
        return None

    async def cleanup(self) -> None:
        return None

    async def run(self) -> Report:
        try:
            await self._measure()
            await self._count_writes()
            await self.counts()
        finally:
            for user in sorted(self.users):
                await self.manager.revoke_all(user)
            await self.cleanup()
        return self.report

    async def _measure(self) -> None:
        manager, toucher, fast, slow = self.manager, self.toucher, self.fast, self.slow
        tokens = await fill(manager, self.user("validate"), 100)
        lister = self.user("list")
        await fill(manager, lister, LISTED_SESSIONS)
        refs = [parse_token(token) for token in tokens]
        store = self.store

        async def validate() -> float:
            return await timed(fast, lambda i: manager.validate(tokens[i % len(tokens)]))

        async def store_get() -> float:
            return await timed(fast, lambda i: store.get(refs[i % len(refs)]))

        async def touch() -> float:
            return await timed(slow, lambda i: toucher.validate(tokens[i % len(tokens)]))

        rounds = iter(range(1_000_000))

        async def create() -> float:
            user = self.user(f"create-{next(rounds)}")
            return await timed(slow, lambda i: manager.create(user))

        async def revoke() -> float:
            doomed = await fill(manager, self.user("revoke"), slow)
            return await timed(slow, lambda i: manager.revoke(doomed[i]))

        async def rotate() -> float:
            current = (await fill(manager, self.user("rotate"), 1))[0]

            async def once(i: int) -> object:
                nonlocal current
                issued = await manager.rotate(current)
                if issued is not None:
                    current = issued.token
                return issued

            return await timed(slow, once)

        async def list_sessions() -> float:
            return await timed(
                slow,
                lambda i: manager.list_sessions(lister),
                lambda found: len(cast(list[Any], found)) == LISTED_SESSIONS,
            )

        target = VALIDATE_TARGET.get(store.name)
        rows: list[tuple[Row, Sampler]] = await self.floors()
        rows += [
            (Row("validate (no write)", target=target), validate),
            (Row("  store.get alone (context)"), store_get),
            (Row("validate + touch (forced write)"), touch),
            (Row("create"), create),
            (Row("revoke (one session)"), revoke),
            (Row("rotate"), rotate),
            (Row(f"list_sessions ({LISTED_SESSIONS} sessions)"), list_sessions),
        ]
        await run_rounds(rows, self.settings)
        self.report.rows += [row for row, _ in rows]

        bulk = Row(f"revoke_all ({BULK_SESSIONS:,} sessions), per call")
        for _ in range(self.settings.bulk_repeats):
            user = self.user(f"bulk-{next(rounds)}")
            await fill(manager, user, BULK_SESSIONS)
            start = time.perf_counter()
            revoked = await manager.revoke_all(user)
            bulk.samples.append((time.perf_counter() - start) * 1e6)
            if revoked != BULK_SESSIONS:
                raise RuntimeError(f"revoke_all revoked {revoked}, not {BULK_SESSIONS}")
        self.report.rows.append(bulk)

    async def _count_writes(self) -> None:
        counting = CountingStore(self.store)
        manager = SessionManager(cast(SessionStore, counting), READ_ONLY)
        token = (await fill(self.manager, self.user("count"), 1))[0]
        if await manager.validate(token) is None:
            raise RuntimeError("validate found no session")
        writes = counting.writes()
        calls = ", ".join(f"{op} x{n}" for op, n in sorted(counting.calls.items()))
        self.report.checks.append(
            Check(f"store writes per plain validate ({calls})", str(writes), "0", writes == 0)
        )

    async def bulk_user(self, manager: SessionManager) -> str:
        user = self.user(f"count-bulk-{uuid.uuid4().hex[:6]}")
        await fill(manager, user, BULK_SESSIONS)
        return user


class MemoryBench(StoreBench):
    pass


class SQLiteBench(StoreBench):
    store: SQLiteStore

    def __init__(self, store: SQLiteStore, settings: Settings, run_id: str, where: str) -> None:
        super().__init__(store, settings, run_id, where)
        self.store = store
        self.direct: sqlite3.Connection | None = None
        self.threaded: aiosqlite.Connection | None = None

    async def floors(self) -> list[tuple[Row, Sampler]]:
        table = f"revocable_bench_floor_{self.run_id}"
        direct = sqlite3.connect(self.store.path, isolation_level=None, check_same_thread=False)
        self.direct = direct
        direct.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        direct.execute(f"INSERT INTO {table} VALUES (1, 'floor')")
        threaded = await aiosqlite.connect(self.store.path, isolation_level=None)
        self.threaded = threaded
        select = f"SELECT v FROM {table} WHERE id = ?"
        fast = self.fast
        # The very statement the store runs for validate, on a session row.
        digest = parse_token((await fill(self.manager, self.user("floor-row"), 1))[0]).digest
        select_session = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE digest = ?"

        async def plain() -> float:
            return timed_sync(fast, lambda i: direct.execute(select, (1,)).fetchall())

        async def session_row() -> float:
            return timed_sync(fast, lambda i: direct.execute(select_session, (digest,)).fetchall())

        async def hop() -> float:
            return await timed(fast, lambda i: threaded.execute_fetchall(select, (1,)))

        self.report.notes.append(
            "floor: a primary-key SELECT on the store's own file with a plain sqlite3 "
            "connection on the event-loop thread; ratios are against it. The same SELECT "
            "through aiosqlite (a hop to its worker thread) is shown for comparison, and so "
            "is the store's own SELECT of a whole session row (11 columns), direct."
        )
        return [
            (Row("floor: sqlite3 SELECT by PK, direct", floor=True), plain),
            (Row("floor: same SELECT via aiosqlite (thread hop)"), hop),
            (Row("  the store's session-row SELECT, direct"), session_row),
        ]

    async def counts(self) -> None:
        writer: list[str] = []
        reader: list[str] = []
        token = (await fill(self.manager, self.user("count-sql"), 1))[0]
        bulk = await self.bulk_user(self.manager)
        await self.store._writer.set_trace_callback(writer.append)
        self.store._reader.set_trace_callback(reader.append)
        try:
            if await self.manager.validate(token) is None:
                raise RuntimeError("validate found no session")
            validate_writes = len(writer)
            validate_reads = len(reader)
            writer.clear()
            revoked = await self.manager.revoke_all(bulk)
        finally:
            # sqlite3 takes None to remove the callback; aiosqlite's stub omits it.
            await self.store._writer.set_trace_callback(cast(Callable[..., Any], None))
            self.store._reader.set_trace_callback(None)
        if revoked != BULK_SESSIONS:
            raise RuntimeError(f"revoke_all revoked {revoked}, not {BULK_SESSIONS}")
        self.report.checks += [
            Check(
                "SQLite statements on the writer per plain validate",
                str(validate_writes),
                "0",
                validate_writes == 0,
            ),
            Check("SQLite statements on the reader per plain validate", str(validate_reads)),
            Check(
                f"SQLite statements per revoke_all ({BULK_SESSIONS:,})",
                str(len(writer)),
                "1",
                len(writer) == 1,
            ),
        ]

    async def cleanup(self) -> None:
        if self.threaded is not None:
            await self.threaded.close()
        if self.direct is not None:
            self.direct.execute(f"DROP TABLE IF EXISTS revocable_bench_floor_{self.run_id}")
            self.direct.close()


class RedisBench(StoreBench):
    store: RedisStore

    def __init__(self, store: RedisStore, settings: Settings, run_id: str, where: str) -> None:
        super().__init__(store, settings, run_id, where)
        self.store = store

    async def floors(self) -> list[tuple[Row, Sampler]]:
        client = self.store.client
        key = f"{self.store.namespace}:floor"
        await client.set(key, b"x" * 32)
        fast = self.fast

        async def raw_get() -> float:
            return await timed(fast, lambda i: client.get(key))

        self.report.notes.append(
            "floor: client.get() of an existing 32-byte key on the store's own client "
            "(store.client: same pool, same connection settings)."
        )
        return [(Row("floor: client.get (raw GET)", floor=True), raw_get)]

    @contextmanager
    def commands(self) -> Iterator[list[str]]:
        """Every command the store's client sends meanwhile (one command, one round trip)."""
        client = self.store.client
        sent: list[str] = []
        original: Any = client.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            sent.append(str(args[0]))
            return await original(*args, **kwargs)

        client.execute_command = counted  # type: ignore[method-assign]
        try:
            yield sent
        finally:
            client.execute_command = original  # type: ignore[method-assign]

    async def counts(self) -> None:
        token = (await fill(self.manager, self.user("count-cmd"), 1))[0]
        bulk = await self.bulk_user(self.manager)
        with self.commands() as sent:
            if await self.manager.validate(token) is None:
                raise RuntimeError("validate found no session")
        validate = list(sent)
        with self.commands() as sent:
            revoked = await self.manager.revoke_all(bulk)
        if revoked != BULK_SESSIONS:
            raise RuntimeError(f"revoke_all revoked {revoked}, not {BULK_SESSIONS}")
        writes = [c for c in validate if c.upper() != "GET"]
        self.report.checks += [
            Check(f"Redis commands per plain validate ({', '.join(validate)})", str(len(validate))),
            Check("Redis write commands per plain validate", str(len(writes)), "0", not writes),
            Check(
                f"Redis round trips per revoke_all ({BULK_SESSIONS:,}) ({', '.join(sent)})",
                str(len(sent)),
                f"<= {REDIS_REVOKE_ALL_ROUND_TRIPS}",
                len(sent) <= REDIS_REVOKE_ALL_ROUND_TRIPS,
            ),
        ]

    async def cleanup(self) -> None:
        client = self.store.client
        keys = [key async for key in client.scan_iter(match=f"{self.store.namespace}:*")]
        if keys:
            await client.delete(*keys)


class PostgresBench(StoreBench):
    store: PostgresStore

    def __init__(
        self, store: PostgresStore, settings: Settings, run_id: str, where: str, dsn: str
    ) -> None:
        super().__init__(store, settings, run_id, where)
        self.store = store
        self.dsn = dsn
        self.table = f"revocable_bench_floor_{run_id}"
        self.held: Any = None

    async def floors(self) -> list[tuple[Row, Sampler]]:
        pool: Any = self.store._pool
        await pool.execute(f"CREATE TABLE {self.table} (id int PRIMARY KEY, v text NOT NULL)")
        await pool.execute(f"INSERT INTO {self.table} VALUES (1, 'floor')")
        held = self.held = await pool.acquire()
        select = f"SELECT v FROM {self.table} WHERE id = $1"
        fast = self.fast

        async def via_pool() -> float:
            return await timed(fast, lambda i: pool.fetchrow(select, 1))

        async def via_held() -> float:
            return await timed(fast, lambda i: held.fetchrow(select, 1))

        self.report.notes.append(
            "floor: conn.fetchrow() of a primary-key SELECT on a one-row table, on one "
            "connection held out of the store's own pool: one raw round trip; ratios are "
            "against it. The store reads on such held connections (its read lanes). The same "
            "SELECT through pool.fetchrow() (acquire and release per call) is shown for "
            "comparison."
        )
        return [
            (Row("floor: conn.fetchrow, one held connection", floor=True), via_held),
            (Row("floor: pool.fetchrow SELECT by PK"), via_pool),
        ]

    async def counts(self) -> None:
        statements: list[str] = []

        async def log_queries(conn: Any) -> None:
            conn.add_query_logger(lambda record: statements.append(record.query))

        logged = await PostgresStore.open(self.dsn, pool_size=2, init=log_queries)
        try:
            manager = SessionManager(logged, READ_ONLY)
            token = (await fill(manager, self.user("count-sql"), 1))[0]
            bulk = await self.bulk_user(manager)
            statements.clear()
            if await manager.validate(token) is None:
                raise RuntimeError("validate found no session")
            await asyncio.sleep(0.01)  # asyncpg calls query loggers soon after, not during
            validate = list(statements)
            statements.clear()
            revoked = await manager.revoke_all(bulk)
            await asyncio.sleep(0.01)
        finally:
            await logged.close()
        if revoked != BULK_SESSIONS:
            raise RuntimeError(f"revoke_all revoked {revoked}, not {BULK_SESSIONS}")
        writes = [q for q in validate if not q.lstrip().upper().startswith("SELECT")]
        self.report.checks += [
            Check("PostgreSQL statements per plain validate", str(len(validate))),
            Check(
                "PostgreSQL writing statements per plain validate",
                str(len(writes)),
                "0",
                not writes,
            ),
            Check(
                f"PostgreSQL statements per revoke_all ({BULK_SESSIONS:,})",
                str(len(statements)),
                "1",
                len(statements) == 1,
            ),
        ]

    async def cleanup(self) -> None:
        pool: Any = self.store._pool
        if self.held is not None:
            await pool.release(self.held)
        await pool.execute(f"DROP TABLE IF EXISTS {self.table}")
        prefix = f"bench-{self.run_id}-"
        await pool.execute("DELETE FROM revocable_sessions WHERE starts_with(user_id, $1)", prefix)


# --------------------------------------------------------------------------- stores


async def bench_store(name: str, settings: Settings, run_id: str, tmp: str) -> Report:
    bench: StoreBench
    if name == "memory":
        bench = MemoryBench(MemoryStore(), settings, run_id, "in process")
    elif name == "sqlite":
        path = os.path.join(tmp, "bench.db")
        sqlite_store = await SQLiteStore.open(path)
        bench = SQLiteBench(sqlite_store, settings, run_id, f"{path} (durable=True, WAL)")
    elif name == "redis":
        redis_store = await RedisStore.open(REDIS_URL, namespace=f"rvbench-{run_id}")
        where = f"{_safe_url(REDIS_URL)}, namespace {redis_store.namespace}"
        bench = RedisBench(redis_store, settings, run_id, where)
    elif name == "postgresql":
        pg_store = await PostgresStore.open(POSTGRES_URL)
        bench = PostgresBench(pg_store, settings, run_id, _safe_url(POSTGRES_URL), POSTGRES_URL)
    else:
        raise ValueError(name)
    try:
        return await bench.run()
    finally:
        await bench.store.close()


def _safe_url(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        rest = f"{creds.split(':', 1)[0]}@{host}"
    return f"{scheme}{sep}{rest}"


def token_context(settings: Settings) -> list[Row]:
    token, _ = mint_token(route_for("someone"))
    calls = settings.calls(50_000)
    parse = Row("parse_token (parse + SHA-256 digest)")
    mint = Row("mint_token (CSPRNG + digest)")
    route = route_for("someone")
    for _ in range(settings.warmup):
        timed_sync(calls, lambda i: parse_token(token))
    for _ in range(settings.repeats):
        parse.samples.append(timed_sync(calls, lambda i: parse_token(token)))
        mint.samples.append(timed_sync(calls, lambda i: mint_token(route)))
    return [parse, mint]


# --------------------------------------------------------------------------- output


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return ""
    return "[green]PASS[/]" if ok else "[bold red]MISS[/]"


def render(console: Console, report: Report) -> list[tuple[str, bool]]:
    """Print one store's tables; answer its (target, passed) pairs."""
    verdicts: list[tuple[str, bool]] = []
    floor = report.floor()
    timing = Table(title=f"{report.store}: {report.where}", title_justify="left")
    timing.add_column("operation")
    timing.add_column("median µs/op", justify="right")
    timing.add_column("min µs/op", justify="right")
    timing.add_column("+µs vs floor", justify="right")
    timing.add_column("x floor", justify="right")
    timing.add_column("target", justify="right")
    timing.add_column("result")
    for row in report.rows:
        ratio = None if floor is None else row.ratio(floor)
        extra = None if floor is None or row is floor else row.median - floor.median
        ok = None
        if row.target is not None and ratio is not None:
            ok = ratio <= row.target
            verdicts.append((f"{report.store} {row.label}: {ratio:.2f}x <= {row.target}x", ok))
        timing.add_row(
            row.label,
            _us(row.median),
            _us(min(row.samples)),
            "" if extra is None else f"{extra:+,.1f}",
            "" if ratio is None else f"{ratio:.2f}",
            "" if row.target is None else f"<= {row.target}x",
            _verdict(ok),
        )
    console.print(timing)
    for note in report.notes:
        console.print(f"  {note}", highlight=False)
    counts = Table(show_header=True)
    counts.add_column("structural count")
    counts.add_column("value", justify="right")
    counts.add_column("target", justify="right")
    counts.add_column("result")
    for check in report.checks:
        counts.add_row(check.label, check.value, check.target, _verdict(check.ok))
        if check.ok is not None:
            verdicts.append((f"{report.store} {check.label}: {check.value}", check.ok))
    console.print(counts)
    console.print()
    return verdicts


async def main_async(stores: list[str], settings: Settings, console: Console) -> int:
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:10]
    mode = "quick" if settings is QUICK else "full"
    console.print(
        f"revocable session benchmark ({mode}: {settings.warmup} warm-up round(s), "
        f"{settings.repeats} timed repeats per operation, {settings.bulk_repeats} for "
        f"revoke_all; Python {sys.version.split()[0]}, run {run_id})",
        highlight=False,
    )
    context = Table(title="token handling alone (context)", title_justify="left")
    context.add_column("operation")
    context.add_column("median µs/op", justify="right")
    context.add_column("min µs/op", justify="right")
    for row in token_context(settings):
        context.add_row(row.label, _us(row.median), _us(min(row.samples)))
    console.print(context)
    console.print()

    verdicts: list[tuple[str, bool]] = []
    tmp = tempfile.mkdtemp(prefix="revocable-bench-")
    try:
        for name in stores:
            try:
                report = await bench_store(name, settings, run_id, tmp)
            except StoreError as exc:
                console.print(f"[yellow]{name}: skipped, store unavailable: {exc}[/]")
                console.print()
                continue
            verdicts += render(console, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    summary = Table(title="targets", title_justify="left")
    summary.add_column("check")
    summary.add_column("result")
    for label, ok in verdicts:
        summary.add_row(label, _verdict(ok))
    console.print(summary)
    misses = sum(not ok for _, ok in verdicts)
    console.print(
        f"{len(verdicts) - misses} PASS, {misses} MISS; "
        f"wall time {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    return 0


def store_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's argument parser with the --stores option every benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument(
        "--stores",
        default=",".join(ALL_STORES),
        help=f"comma-separated subset of {','.join(ALL_STORES)} (default: all)",
    )
    return parser


def parse_store_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The parsed arguments, with ``store_list`` checked against the known stores."""
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = sorted(set(stores) - set(ALL_STORES))
    if unknown:
        parser.error(f"unknown store(s): {', '.join(unknown)}")
    args.store_list = stores
    return args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = store_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (~20 s)")
    return parse_store_args(parser, argv)


def main() -> int:
    args = parse_args()
    console = Console(width=None if sys.stdout.isatty() else 120)
    return asyncio.run(main_async(args.store_list, QUICK if args.quick else FULL, console))


if __name__ == "__main__":
    sys.exit(main())
