"""Benchmark access tokens, refresh rotation and Bearer auth against floors of the same run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_tokens.py [--stores memory,sqlite,redis,postgresql]
        [--quick]

Three parts, each timed like ``bench_sessions.py`` (loops of many calls after a
warm-up, every row of a part round-robin, the median over repeats; a ratio is
the median over repeats of row / floor in the same round):

1. Access tokens, no store, per algorithm (EdDSA, ES256, HS256): ``mint``;
   ``verify`` at first sight (a token never seen before, every call: the strict
   pre-check, the signature and the cache's insert); ``verify`` repeated (the
   same token again: a cache hit). Floors: a raw ``jwt.decode`` of the same
   token with its key, audience and issuer (PyJWT alone: no pre-check, no cache).
2. Refresh rotation, per store: ``RefreshTokens(store, key).issue(user)``, then
   every call rotates the token the previous call answered. Floor: one raw round
   trip of the store's own driver (``web_apps.open_floor``: a Redis ``GET`` on
   ``store.client``, an asyncpg primary-key ``SELECT`` on a connection held out of
   the store's pool, a plain ``sqlite3`` primary-key ``SELECT`` on the store's file).
3. Bearer auth on ``GET /api/me`` of the reference app (``create_app`` with an
   Ed25519 key ring), called in process as ASGI like ``bench_web.py`` (one request
   of each variant after the other, shuffled, each timed on its own), against a
   no-auth route added to the same app (same middleware, same FastAPI).

Redis and PostgreSQL come from ``REVOCABLE_TEST_REDIS_URL`` and
``REVOCABLE_TEST_POSTGRES_URL``. Every key, row and table the run creates carries a
per-run id and is deleted at the end; the SQLite file lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiosqlite
import httpx
import jwt
from bench_sessions import (
    POSTGRES_URL,
    REDIS_URL,
    Row,
    Settings,
    _safe_url,
    _us,
    parse_store_args,
    run_rounds,
    store_parser,
    timed,
    timed_sync,
)
from bench_web import (
    AsgiCall,
    Derived,
    call_once,
    found,
    make_scope,
    measure_rows,
    per_round,
    prepare_floor_table,
    print_targets,
    render_derived,
)
from fastapi import FastAPI, HTTPException, Request
from rich.console import Console
from rich.table import Table
from web_apps import PATH, Floor, open_bench_store, open_floor

from revocable import StoreError
from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.core.jwtcheck import precheck
from revocable.keys import Algorithm, KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshTokens
from revocable.server.app import create_app
from revocable.stores.base import RefreshStore, SessionStore, Store
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sql import USERS_TABLE
from revocable.stores.sqlite import SQLiteStore

ALGORITHMS: tuple[Algorithm, ...] = ("EdDSA", "ES256", "HS256")
POLICY = AccessTokenPolicy(issuer="https://auth.bench.example", audience="api")

FIRST_SIGHT_TARGET = 1.1  # verify at first sight / raw jwt.decode of the same algorithm
CACHED_TARGET = 1.2  # repeated EdDSA verify / raw jwt.decode of an HS256 token
ROTATE_TARGET = {"redis": 2.0}  # rotate / one raw round trip of the store's driver

# Calls per timed loop (before scaling): (fast operations, slow ones).
TOKEN_CALLS = (2000, 300)
ROTATE_CALLS = {"memory": 2000, "sqlite": 200, "redis": 400, "postgresql": 300}
# Requests of each variant per in-process round of part 3.
BEARER_CALLS = {"memory": 300, "sqlite": 300, "redis": 200, "postgresql": 200}

FULL = Settings(repeats=21, warmup=2, bulk_repeats=0, scale=1.0)
QUICK = Settings(repeats=5, warmup=1, bulk_repeats=0, scale=0.3)

PASSWORD = "bench password, not a secret"  # noqa: S105 (a throwaway user of this run)
ANONYMOUS_PATH = "/bench/anonymous"
RAW_BEARER_PATH = "/bench/raw-bearer"
APP_ISSUER = "revocable"  # create_app's issuer and audience without a public_origin

Sampler = Callable[[], Awaitable[float]]


@dataclass
class Part:
    """One table of timed rows, its derived figures and notes."""

    title: str
    rows: list[Row]
    derived: list[Derived]
    notes: list[str]


def per_second(us: float) -> str:
    return f"{1e6 / us:,.0f}" if us > 0 else ""


def sync_sampler(calls: int, op: Callable[[int], object]) -> Sampler:
    async def sample() -> float:
        return timed_sync(calls, op)

    return sample


# --------------------------------------------------------------------------- 1. access tokens


def algorithm_rows(
    alg: Algorithm, fast: int, slow: int, rounds: int
) -> tuple[dict[str, Row], list[tuple[Row, Sampler]]]:
    """The rows of one algorithm: mint, the raw floor, first sight, cache off, cached."""
    ring = KeyRing([SigningKey.generate(alg)])
    tokens = AccessTokens(ring, POLICY)  # the default cache
    uncached = AccessTokens(ring, POLICY, cache_size=0)
    token = tokens.mint("bench-user", family_id="bench-family")
    # A fresh token for every first-sight call of every round: none is ever seen twice.
    fresh = iter([tokens.mint("bench-user") for _ in range(slow * rounds)])
    fresh_off = iter([tokens.mint("bench-user") for _ in range(slow * rounds)])
    key: Any = ring.signing_key.verification_key()
    if tokens.verify(token).subject != "bench-user":
        raise RuntimeError(f"{alg}: the token does not verify")

    def raw(i: int) -> object:
        return jwt.decode(
            token, key, algorithms=[alg], audience=POLICY.audience, issuer=POLICY.issuer
        )

    def mint(i: int) -> object:
        return tokens.mint("bench-user")

    def first_sight(i: int) -> object:
        return tokens.verify(next(fresh))

    def cache_off(i: int) -> object:
        return uncached.verify(next(fresh_off))

    def cached(i: int) -> object:
        return tokens.verify(token)

    named = {
        "mint": Row(f"{alg} mint"),
        "raw": Row(f"{alg} raw jwt.decode (floor)"),
        "first": Row(f"{alg} verify, first sight"),
        "off": Row(f"  {alg} verify, first sight, cache off (context)"),
        "cached": Row(f"{alg} verify, repeated (cached)"),
    }
    rows = [
        (named["mint"], sync_sampler(slow, mint)),
        (named["raw"], sync_sampler(fast if alg == "HS256" else slow, raw)),
        (named["first"], sync_sampler(slow, first_sight)),
        (named["off"], sync_sampler(slow, cache_off)),
        (named["cached"], sync_sampler(fast, cached)),
    ]
    return named, rows


async def measure_access_tokens(settings: Settings) -> Part:
    fast, slow = (settings.calls(n) for n in TOKEN_CALLS)
    rounds = settings.warmup + settings.repeats
    rows: list[tuple[Row, Sampler]] = []
    by_alg: dict[str, dict[str, Row]] = {}
    for alg in ALGORITHMS:
        by_alg[alg], alg_rows = algorithm_rows(alg, fast, slow, rounds)
        rows += alg_rows
    ed_token = AccessTokens(KeyRing([SigningKey.generate()]), POLICY).mint("bench-user")
    pre = Row("  strict pre-check alone (context)")
    rows.append((pre, sync_sampler(fast, lambda i: precheck(ed_token, typ="at+jwt"))))
    await run_rounds(rows, settings)

    hs_raw = by_alg["HS256"]["raw"]
    derived: list[Derived] = []
    for name, named in by_alg.items():
        first = named["first"].ratio(named["raw"])
        derived.append(
            Derived(
                f"{name} verify at first sight / raw jwt.decode {name}",
                f"{first:.2f}x",
                f"<= {FIRST_SIGHT_TARGET}x",
                first <= FIRST_SIGHT_TARGET,
            )
        )
    for name, named in by_alg.items():
        cached = named["cached"].ratio(hs_raw)
        counted = name == "EdDSA"
        derived.append(
            Derived(
                f"{name} verify repeated (cached) / raw jwt.decode HS256",
                f"{cached:.2f}x",
                f"<= {CACHED_TARGET}x" if counted else "",
                cached <= CACHED_TARGET if counted else None,
            )
        )
    ed = by_alg["EdDSA"]
    derived += [
        Derived(
            "  EdDSA first sight - raw jwt.decode: what revocable adds",
            f"{per_round([ed['raw'], ed['first']], lambda r, f: f - r):+.1f} µs",
        ),
        Derived(
            "  EdDSA first sight, cache on - cache off: the digest, lookup and insert",
            f"{per_round([ed['off'], ed['first']], lambda o, f: f - o):+.1f} µs",
        ),
    ]
    notes = [
        f"{fast} calls per loop for fast rows, {slow} for slow ones; 'first sight' verifies "
        f"{slow * rounds:,} distinct tokens per algorithm, each once (the cache holds 10,000). "
        "Raw jwt.decode: PyJWT with the key, the one algorithm, audience and issuer, default "
        "options (it checks exp, iat and nbf itself).",
    ]
    rows_out = [row for row, _ in rows]
    return Part("access tokens (no store)", rows_out, derived, notes)


# --------------------------------------------------------------------------- 2. refresh rotation


@contextlib.contextmanager
def redis_commands(store: RedisStore) -> Iterator[list[str]]:
    """Every command the store's client sends meanwhile (one command, one round trip)."""
    client = store.client
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


class RawWrite:
    """One raw write of the store's backend, for context next to rotation (itself a write)."""

    def __init__(self, label: str, write: Callable[[int], Awaitable[object]]) -> None:
        self.label = label
        self.write = write
        self.closers: list[Callable[[], Awaitable[object]]] = []

    async def close(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


async def open_raw_write(store: SessionStore, table: str) -> RawWrite | None:
    if isinstance(store, RedisStore):
        client = store.client
        key = f"{store.namespace}:floor-write"
        return RawWrite("one Redis SET (store.client)", lambda i: client.set(key, b"x" * 32))
    if isinstance(store, PostgresStore):
        pool: Any = store._pool
        conn: Any = await pool.acquire()
        update = f"UPDATE {table} SET v = $1 WHERE id = 1"
        raw = RawWrite(
            "one asyncpg UPDATE by PK, held connection", lambda i: conn.execute(update, str(i))
        )
        raw.closers.append(lambda: pool.release(conn))
        return raw
    if isinstance(store, SQLiteStore):
        writer = await aiosqlite.connect(store.path, isolation_level=None)
        await writer.execute("PRAGMA synchronous=FULL")  # as the store's durable=True writes
        update = f"UPDATE {table} SET v = ? WHERE id = 1"
        raw = RawWrite(
            "one aiosqlite UPDATE by PK, autocommit, synchronous=FULL",
            lambda i: writer.execute(update, (str(i),)),
        )
        raw.closers.append(writer.close)
        return raw
    return None


async def measure_rotation(
    store: SessionStore, floor: Floor, table: str, user_prefix: str, settings: Settings
) -> Part:
    refresh = RefreshTokens(cast(RefreshStore, store), secrets.token_bytes(32))
    calls = settings.calls(ROTATE_CALLS[store.name])
    chain_user, issue_user = f"{user_prefix}rotate", f"{user_prefix}issue"
    current = (await refresh.issue(chain_user)).token

    async def rotate_once(i: int) -> object:
        nonlocal current
        issued = await refresh.rotate(current)
        current = issued.token
        return issued

    raw_write = await open_raw_write(store, table)
    floor_row = Row(f"floor: {floor.label}", floor=True)
    rotate_row = Row("rotate (RefreshTokens.rotate, chained)")
    issue_row = Row("  issue (a new family) (context)")
    rows: list[tuple[Row, Sampler]] = [
        (floor_row, lambda: timed(calls, lambda i: floor.read())),
        (rotate_row, lambda: timed(calls, rotate_once)),
        (issue_row, lambda: timed(calls, lambda i: refresh.issue(issue_user))),
    ]
    write_row = None
    if raw_write is not None:
        write_row = Row(f"  raw write: {raw_write.label} (context)")
        rows.append((write_row, lambda: timed(calls, raw_write.write, lambda _: True)))
    try:
        await run_rounds(rows, settings)
    finally:
        if raw_write is not None:
            await raw_write.close()

    target = ROTATE_TARGET.get(store.name)
    rotate_ratio = rotate_row.ratio(floor_row)
    derived = [
        Derived("rotations per second (median)", per_second(rotate_row.median)),
        Derived(
            "rotate / one raw round trip (floor)",
            f"{rotate_ratio:.2f}x",
            "" if target is None else f"<= {target}x",
            None if target is None else rotate_ratio <= target,
        ),
        Derived(
            "  rotate - floor: what revocable adds",
            f"{per_round([floor_row, rotate_row], lambda f, r: r - f):+.1f} µs",
        ),
    ]
    if write_row is not None:
        derived.append(
            Derived(
                "  rotate / the raw write (context)",
                f"{rotate_row.ratio(write_row):.2f}x",
            )
        )
    if isinstance(store, RedisStore):
        with redis_commands(store) as sent:
            await rotate_once(0)
        derived.append(
            Derived(f"  Redis round trips per rotate ({', '.join(sent)})", str(len(sent)))
        )
    chain = calls * (settings.warmup + settings.repeats)
    notes = [
        f"{calls} calls per loop; one family rotated {chain:,} times in a row (each call "
        "presents the token the previous call answered)."
    ]
    return Part("refresh rotation", [row for row, _ in rows], derived, notes)


# --------------------------------------------------------------------------- 3. Bearer on /api/me


def scope_for(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """bench_web's scope for ``path``, without a cookie, with ``headers`` added."""
    scope = make_scope("")
    scope["path"], scope["raw_path"] = path, path.encode()
    scope["headers"] = [h for h in scope["headers"] if h[0] != b"cookie"] + headers
    return scope


class FreshBearer(AsgiCall):
    """A request with a token never sent before: the first sight of each token."""

    __slots__ = ("tokens",)

    def __init__(self, app: Any, scope: dict[str, Any], tokens: Iterator[bytes]) -> None:
        super().__init__(app, scope)
        self.tokens = tokens

    def __call__(self) -> Awaitable[None]:
        scope = self.scope.copy()
        scope["headers"] = [*scope["headers"], (b"authorization", next(self.tokens))]
        return self.app(scope, _receive, self.send)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


@dataclass
class Account:
    user_id: str
    access_token: str
    cookie: str


async def sign_up(app: FastAPI, username: str) -> Account:
    """Register through the app, sign in (a session cookie), get an access token (body)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as client:
        credentials = {"username": username, "password": PASSWORD}
        answers = [
            await client.post("/auth/register", json=credentials),
            # Before the login: a POST carrying a session cookie would need a CSRF token.
            await client.post("/auth/token", json={**credentials, "token_transport": "body"}),
            await client.post("/auth/login", json=credentials),
        ]
        for answer in answers:
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"{answer.url.path}: {answer.status_code} {answer.text}")
        user_id = str(answers[0].json()["id"])
        cookies = [c.split(";", 1)[0] for c in answers[2].headers.get_list("set-cookie")]
        cookie = next((c for c in cookies if "session" in c.split("=", 1)[0]), "")
        if not cookie:
            raise RuntimeError(f"login set no session cookie: {cookies}")
        return Account(user_id, str(answers[1].json()["access_token"]), cookie)


def add_bench_routes(app: FastAPI, users: Any, hs256_secret: bytes) -> None:
    """Two routes on the reference app: no auth at all, and a hand-rolled Bearer check.

    Added last, so they are matched after every route of the app (/api/me is matched
    earlier): the differences below slightly understate what /api/me's auth costs.
    """

    async def anonymous() -> dict[str, str]:
        return {"id": "anonymous"}

    async def raw_bearer(request: Request) -> dict[str, str]:
        """What a hand-rolled Bearer check costs: PyJWT HS256, then the same user read."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        claims = jwt.decode(
            token, hs256_secret, algorithms=["HS256"], audience=APP_ISSUER, issuer=APP_ISSUER
        )
        user = await users.get_user(claims["sub"])
        if user is None or claims["iat"] < int(user.not_before):
            raise HTTPException(401, "revoked")
        return {"id": user.id, "username": user.username}

    app.add_api_route(ANONYMOUS_PATH, anonymous, methods=["GET"])
    app.add_api_route(RAW_BEARER_PATH, raw_bearer, methods=["GET"])


async def measure_bearer(
    store: SessionStore,
    ring: KeyRing,
    hs256_secret: bytes,
    app: FastAPI,
    account: Account,
    settings: Settings,
) -> Part:
    count = settings.calls(BEARER_CALLS[store.name])
    rounds = settings.warmup + settings.repeats
    policy = AccessTokenPolicy(issuer=APP_ISSUER, audience=APP_ISSUER)
    minter = AccessTokens(ring, policy)
    fresh = iter(
        [b"Bearer " + minter.mint(account.user_id).encode() for _ in range(count * rounds)]
    )
    hs256 = AccessTokens(KeyRing([SigningKey.from_secret(hs256_secret)]), policy)
    users: Any = store

    def bearer(token: str) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", f"Bearer {token}".encode())]

    a = Row("(a) no-auth route on the same app (floor)")
    b = Row("(b) /api/me, Bearer EdDSA, the same token each request (cached)")
    c = Row("(c) /api/me, Bearer EdDSA, a new token each request (first sight)")
    e = Row("(e) hand-rolled route: raw jwt.decode HS256 + the same user read")
    d = Row("  /api/me, session cookie (context)")
    read = Row("  store.get_user alone: the not-before read (context)")
    calls: list[tuple[Row, Any]] = [
        (a, AsgiCall(app, scope_for(ANONYMOUS_PATH, []))),
        (b, AsgiCall(app, scope_for(PATH, bearer(account.access_token)))),
        (c, FreshBearer(app, scope_for(PATH, []), fresh)),
        (e, AsgiCall(app, scope_for(RAW_BEARER_PATH, bearer(hs256.mint(account.user_id))))),
        (d, AsgiCall(app, scope_for(PATH, [(b"cookie", account.cookie.encode("latin-1"))]))),
        (read, found(lambda: users.get_user(account.user_id))),
    ]
    for row, call in calls:
        if isinstance(call, AsgiCall) and not isinstance(call, FreshBearer):
            ok, body = await call_once(app, call.scope)
            if not ok:
                raise RuntimeError(f"{row.label}: answered {body!r}")
    await measure_rows(calls, settings, count)

    def extra(x: Row) -> str:
        return f"{per_round([a, x], lambda a, x: x - a):+.1f} µs"

    derived = [
        Derived("Bearer, cached: (b) - (a)", extra(b)),
        Derived("Bearer, first sight: (c) - (a)", extra(c)),
        Derived("hand-rolled HS256 Bearer: (e) - (a)", extra(e)),
        Derived(
            "  Bearer cached over hand-rolled HS256: ((b) - (a)) / ((e) - (a)) (context)",
            f"{per_round([a, b, e], lambda a, b, e: (b - a) / (e - a)):.2f}x",
        ),
        Derived("  session cookie: (d) - (a) (context)", extra(d)),
        Derived("Bearer requests per second, cached (1 / (b))", per_second(b.median)),
    ]
    notes = [
        f"{count} requests of each variant per round, interleaved and shuffled; (c) sends "
        f"{count * rounds:,} distinct tokens, each once (each is verified, then cached).",
        "/api/me with a Bearer token verifies it (revocable.access), reads the user for its "
        "'not before', and goes through the app's FastAPI auth dependency, which (e) does not.",
    ]
    return Part("Bearer auth on GET /api/me, in process", [r for r, _ in calls], derived, notes)


# --------------------------------------------------------------------------- stores


@dataclass
class StoreResult:
    store: str
    where: str
    parts: list[Part]


async def cleanup(store: SessionStore, table: str, user_prefix: str, user_ids: list[str]) -> None:
    """Delete every family, user, session, key and table this run made on ``store``."""
    refresh = RefreshTokens(cast(RefreshStore, store), secrets.token_bytes(32))
    for user in (f"{user_prefix}rotate", f"{user_prefix}issue", *user_ids):
        with contextlib.suppress(StoreError):
            await refresh.revoke_user(user)
    for user in user_ids:
        with contextlib.suppress(StoreError):
            await store.delete_user(user)
    if isinstance(store, RedisStore):
        client = store.client
        keys = [key async for key in client.scan_iter(match=f"{store.namespace}:*")]
        if keys:
            await client.delete(*keys)
    elif isinstance(store, PostgresStore):
        pool: Any = store._pool
        await pool.execute(f"DROP TABLE IF EXISTS {table}")
        for user in user_ids:
            await pool.execute(f"DELETE FROM {USERS_TABLE} WHERE id = $1", user)


async def bench_store(kind: str, settings: Settings, run_id: str, tmp: Path) -> StoreResult:
    location = {
        "memory": "",
        "sqlite": str(tmp / "bench-tokens.db"),
        "redis": REDIS_URL,
        "postgresql": POSTGRES_URL,
    }[kind]
    namespace = f"rvbench-tokens-{run_id}"
    store = await open_bench_store(kind, location, namespace)
    where = {
        "memory": "in-process dicts",
        "sqlite": f"{location} (durable=True, WAL)",
        "redis": f"{_safe_url(REDIS_URL)}, namespace {namespace}",
        "postgresql": _safe_url(POSTGRES_URL),
    }[kind]
    table = f"revocable_bench_tokens_floor_{run_id}"
    user_prefix = f"bench-tokens-{run_id}-{kind}-"
    user_ids: list[str] = []
    floor: Floor | None = None
    try:
        await prepare_floor_table(store, table)
        floor = await open_floor(store, table)
        rotation = await measure_rotation(store, floor, table, user_prefix, settings)
        ring = KeyRing([SigningKey.generate()])
        hs256_secret = secrets.token_bytes(32)
        app = create_app(
            cast(Store, store),
            [secrets.token_bytes(32)],
            hasher=PasswordHasher.for_testing(),
            login_limit=None,
            signing_keys=ring,
            refresh_key=secrets.token_bytes(32),
        )
        add_bench_routes(app, store, hs256_secret)
        account = await sign_up(app, f"{user_prefix}bearer")
        user_ids.append(account.user_id)
        bearer = await measure_bearer(store, ring, hs256_secret, app, account, settings)
    finally:
        if floor is not None:
            await floor.close()
        try:
            await cleanup(store, table, user_prefix, user_ids)
        finally:
            await store.close()
    return StoreResult(kind, where, [rotation, bearer])


# --------------------------------------------------------------------------- output


def render_part(console: Console, title: str, part: Part, floor: Row | None) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("operation")
    table.add_column("median µs/op", justify="right")
    table.add_column("min µs/op", justify="right")
    table.add_column("per second", justify="right")
    if floor is not None:
        table.add_column("x floor", justify="right")
    for row in part.rows:
        cells = [row.label, _us(row.median), _us(min(row.samples)), per_second(row.median)]
        if floor is not None:
            cells.append("" if row is floor else f"{row.ratio(floor):.2f}x")
        table.add_row(*cells)
    console.print(table)
    render_derived(console, f"{title}: ratios", part.derived)
    for note in part.notes:
        console.print(f"  {note}", highlight=False)
    console.print()


def verdicts_of(prefix: str, part: Part) -> list[Derived]:
    return [
        Derived(f"{prefix}{item.label}", item.value, item.target, item.ok, item.counted)
        for item in part.derived
        if item.ok is not None
    ]


async def main_async(stores: list[str], settings: Settings, console: Console) -> int:
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:10]
    mode = "quick" if settings is QUICK else "full"
    console.print(
        f"revocable token benchmark ({mode}: {settings.warmup} warm-up round(s), "
        f"{settings.repeats} timed repeats; Python {sys.version.split()[0]}, PyJWT "
        f"{jwt.__version__}, {os.cpu_count()} CPUs, run {run_id})",
        highlight=False,
    )
    console.print()
    tokens = await measure_access_tokens(settings)
    render_part(console, tokens.title, tokens, None)
    verdicts = verdicts_of("", tokens)

    tmp = Path(tempfile.mkdtemp(prefix="revocable-bench-tokens-"))
    try:
        for name in stores:
            try:
                result = await bench_store(name, settings, run_id, tmp)
            except StoreError as exc:
                console.print(f"[yellow]{name}: skipped, store unavailable: {exc}[/]")
                console.print()
                continue
            for part in result.parts:
                floor = next((row for row in part.rows if row.floor), None)
                render_part(console, f"{result.store} {part.title} ({result.where})", part, floor)
                verdicts += verdicts_of(f"{result.store} ", part)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print_targets(console, verdicts, started)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = store_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="short loops, few repeats")
    return parse_store_args(parser, argv)


def main() -> int:
    args = parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the run's data is still removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console = Console(width=None if sys.stdout.isatty() else 120)
    settings = QUICK if args.quick else FULL
    try:
        return asyncio.run(main_async(args.store_list, settings, console))
    except KeyboardInterrupt:
        console.print("interrupted: the run's data was removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
