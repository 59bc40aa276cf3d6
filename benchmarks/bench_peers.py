"""revocable next to other libraries' Redis session auth: one authenticated ``GET /api/me``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_peers.py [--quick]

In process, with ``bench_web.py``'s ASGI call loop and interleaved rounds (every
request timed on its own, variants in a shuffled order, medians over repeats), on
the Redis of ``REVOCABLE_TEST_REDIS_URL``:

- (a) no auth and (b) the bare one-GET middleware: ``bench_web.py``'s floors;
- (c) revocable's ``SessionMiddleware`` with a Starlette endpoint, and (d) with a
  FastAPI endpoint using ``Depends(SessionDependencies(auth).required)``;
- (e) starsessions and (f) fastapi-users (``CookieTransport`` + ``RedisStrategy``,
  users in PostgreSQL through SQLAlchemy and asyncpg, from
  ``REVOCABLE_TEST_POSTGRES_URL``), set up as ``peer_apps.py`` describes.

Reported: µs per request, its overhead over (a), and that overhead as a multiple of
the bare middleware's. What each does per request differs, and is the point:
revocable reads the session (one GET); starsessions reads it and writes it back
(GET and SET); fastapi-users reads the token's user id, then the user row.
Every key, schema and row the run creates is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

import asyncpg
from bench_sessions import FULL, POSTGRES_URL, QUICK, REDIS_URL, Row, _us
from bench_web import AsgiCall, cleanup, make_scope, measure_rows, per_round
from peer_apps import FASTAPI_USERS_PASSWORD, fastapi_users_app, starsessions_app
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp, Message
from web_apps import build_app, make_auth, open_bench_store, open_floor

from revocable.stores.redis import RedisStore

LOOP_CALLS = 400
"""Requests of each variant per timed round (before --quick scaling)."""


async def asgi_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One request in process, outside the timed loops: (status, response headers)."""
    scope = {
        **make_scope(""),
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [],
    }
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], list(start.get("headers", []))


def set_cookie(headers: list[tuple[bytes, bytes]]) -> str:
    """``name=value`` of the first Set-Cookie header."""
    for name, value in headers:
        if name.lower() == b"set-cookie":
            return value.decode("latin-1").split(";", 1)[0]
    raise RuntimeError("the login answered no cookie")


async def check(app: ASGIApp, scope: dict[str, Any], expected: str) -> None:
    call = AsgiCall(app, scope)
    await call()
    if call.sink.ok != 1 or json.loads(call.sink.body).get("id") != expected:
        raise RuntimeError(f"unexpected answer {call.sink.body!r}")


async def run(quick: bool) -> None:
    settings = QUICK if quick else FULL
    run_id = uuid.uuid4().hex[:10]
    namespace = f"rvbench-peers-{run_id}"
    user = f"rvbench-peers-{run_id}"
    email = f"{user}@example.com"
    schema = f"rvbench_peers_{run_id}"
    store = await open_bench_store("redis", REDIS_URL, namespace)
    assert isinstance(store, RedisStore)
    console = Console(width=120)
    admin = None
    try:
        admin = await asyncpg.connect(POSTGRES_URL)
        await admin.execute(f"CREATE SCHEMA {schema}")
        floor = await open_floor(store, "")
        auth = make_auth(store)
        issued = await auth.sessions.create(user)
        ours = make_scope(f"{auth.cookie_name}={issued.token}")
        apps = {v: build_app(v, auth, floor) for v in ("noauth", "bare", "session", "fastapi")}
        for variant in ("session", "fastapi"):
            await check(apps[variant], ours, user)

        client = store.client
        if not isinstance(client, Redis):
            raise RuntimeError("bench_peers.py needs a single Redis server, not a cluster")
        starsessions = starsessions_app(client, f"{namespace}:starsessions:")
        status, headers = await asgi_request(
            starsessions, "POST", "/bench/login", query=f"user={user}".encode()
        )
        star_scope = make_scope(set_cookie(headers))
        await check(starsessions, star_scope, user)

        database_url = POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        async with (
            Redis.from_url(REDIS_URL, decode_responses=True) as text_client,
            fastapi_users_app(
                text_client, f"{namespace}:fastapi-users:", database_url, schema, email
            ) as users,
        ):
            form = f"username={email}&password={FASTAPI_USERS_PASSWORD}".replace("@", "%40")
            status, headers = await asgi_request(
                users,
                "POST",
                "/auth/login",
                body=form.encode(),
                headers=[(b"content-type", b"application/x-www-form-urlencoded")],
            )
            if status != 204:
                raise RuntimeError(f"fastapi-users login answered {status}")
            users_scope = make_scope(set_cookie(headers))
            await check(users, users_scope, email)

            a = Row("(a) no auth (floor 1)")
            b = Row(f"(b) bare middleware: {floor.label} (floor 2)")
            c = Row("(c) revocable SessionMiddleware + Starlette endpoint")
            d = Row("(d) revocable SessionMiddleware + FastAPI Depends(required)")
            e = Row("(e) starsessions RedisStore + SessionAutoloadMiddleware")
            f = Row("(f) fastapi-users CookieTransport + RedisStrategy, users in PostgreSQL")
            rows = [
                (a, AsgiCall(apps["noauth"], ours)),
                (b, AsgiCall(apps["bare"], ours)),
                (c, AsgiCall(apps["session"], ours)),
                (d, AsgiCall(apps["fastapi"], ours)),
                (e, AsgiCall(starsessions, star_scope)),
                (f, AsgiCall(users, users_scope)),
            ]
            started = time.perf_counter()
            await measure_rows(rows, settings, settings.calls(LOOP_CALLS))
        await floor.close()
    finally:
        await cleanup(store, "", [user], user)
        await store.close()
        if admin is not None:
            await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            await admin.close()

    table = Table(
        title=f"GET /api/me on Redis, in process ({settings.repeats} repeats, "
        f"{time.perf_counter() - started:.0f} s)",
        title_justify="left",
    )
    for column in ("variant", "median µs/req", "+µs vs (a)", "x bare overhead"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    bare = per_round([a, b], lambda a, b: b - a)
    for row, _ in rows:
        if row is a:
            table.add_row(row.label, _us(row.median), "", "")
            continue
        extra = per_round([a, row], lambda a, r: r - a)
        ratio = per_round([a, b, row], lambda a, b, r: (r - a) / (b - a))
        table.add_row(row.label, _us(row.median), f"{extra:+.1f}", f"{ratio:.2f}x")
    console.print(table)
    console.print(f"bare one-GET middleware overhead (b) - (a): {bare:+.1f} µs", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args(argv)
    asyncio.run(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
