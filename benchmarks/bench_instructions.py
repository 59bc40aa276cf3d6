"""Count the CPU instructions one authenticated ``GET /api/me`` costs, per variant and store.

Run from the repository root (needs ``valgrind``; ``apt-get install valgrind``)::

    .venv/bin/python benchmarks/bench_instructions.py [--stores memory,redis,postgresql]
        [--requests 400]

Timings on a shared machine swing by tens of percent from one run to the next;
instruction counts do not. Each store's variants (the apps of ``web_apps.py``,
called in process by the same loop as ``bench_web.py``) run in one Python
process under callgrind. Around each timed loop the child calls
``os.getppid()`` (callgrind zeroes its counters on entering it) and
``os.getpgrp()`` (callgrind writes the counts on entering it), so a dump holds
exactly one loop. Each variant runs two loops, of ``WARM`` and ``WARM +
requests`` requests; the difference divided by ``requests`` is the cost of one
request with everything fixed (start-up, warm-up, the bracketing calls) taken out.

The counts are user-space instructions of the app's process: the work a store's
server does, and the time spent waiting for it, are not in them. That is the
part of the per-request cost revocable controls, and under HTTP load (one
uvicorn worker, CPU-bound) the part that sets requests per second.

Redis and PostgreSQL are found as in ``bench_web.py``; every key, row and table
the run creates carries a per-run id and is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench_sessions import POSTGRES_URL, REDIS_URL, parse_store_args, store_parser
from bench_web import AsgiCall, cleanup, make_scope, prepare_floor_table
from rich.console import Console
from rich.table import Table
from web_apps import VARIANTS, build_app, floor_table, make_auth, open_bench_store, open_floor

WARM = 100
"""Requests in every variant's first (subtracted) loop, after as many untimed ones."""
LABELS = {
    "noauth": "(a) no auth (floor 1)",
    "bare": "(b) bare middleware: one raw read (floor 2)",
    "session": "(c) SessionMiddleware + Starlette endpoint",
    "fastapi": "(d) SessionMiddleware + FastAPI Depends(required)",
    "fastapi-noauth": "  FastAPI, no middleware (context)",
    "fastapi-request": "  FastAPI + SessionMiddleware, endpoint reads request (context)",
    "fastapi-dep": "  FastAPI, no middleware, do-nothing security dependency (context)",
}
DEPENDENCY_LIMIT = 1.10
"""revocable's FastAPI dependency may cost at most this much more than a do-nothing one
(the counts on Redis and PostgreSQL move by a few percent from run to run; memory's do not)."""
_SUMMARY = re.compile(rb"^summary: (\d+)$", re.MULTILINE)


# --------------------------------------------------------------------------- the child


async def run_loops(kind: str, location: str, run_id: str, requests: int) -> list[list[object]]:
    """Every variant's two bracketed loops; the (variant, requests) of each dump, in order."""
    namespace = f"rvbench-instr-{run_id}"
    table = floor_table(run_id)
    user = f"rvbench-instr-{run_id}"
    store = await open_bench_store(kind, location, namespace)
    segments: list[list[object]] = []
    try:
        await prepare_floor_table(store, table)
        floor = await open_floor(store, table)
        try:
            auth = make_auth(store)
            issued = await auth.sessions.create(user)
            scope = make_scope(f"{auth.cookie_name}={issued.token}")
            for variant in VARIANTS:
                call = AsgiCall(build_app(variant, auth, floor), scope)
                for n in (WARM, WARM, WARM + requests):
                    os.getppid()  # callgrind: zero the counters
                    for _ in range(n):
                        await call()
                    os.getpgrp()  # callgrind: dump the counters
                    segments.append([variant, n])
                if call.sink.ok != 2 * WARM + WARM + requests:
                    raise RuntimeError(f"{variant}: not every request answered 200")
        finally:
            await floor.close()
    finally:
        await cleanup(store, table, [user], user)
        await store.close()
    return segments


def child(args: argparse.Namespace) -> None:
    segments = asyncio.run(run_loops(args.child, args.location, args.run_id, args.requests))
    print(json.dumps(segments))


# --------------------------------------------------------------------------- the parent


@dataclass(frozen=True)
class Counted:
    store: str
    per_request: dict[str, float]
    """Instructions per request, by variant."""


def count_store(kind: str, location: str, requests: int, workdir: Path) -> Counted:
    """One callgrind run of the child for ``kind``: instructions per request per variant."""
    outdir = workdir / kind
    outdir.mkdir()
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={outdir}/out",
        "--zero-before=os_getppid",
        "--dump-before=os_getpgrp",
        sys.executable,
        __file__,
        "--child",
        kind,
        "--location",
        location,
        "--run-id",
        uuid.uuid4().hex[:10],
        "--requests",
        str(requests),
    ]
    # A fixed hash seed: the same dict and set layouts, so the same instructions, every run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{kind}: the callgrind run failed ({done.returncode}):\n{tail}")
    segments = json.loads(done.stdout.decode().strip().splitlines()[-1])
    dumps = sorted(outdir.glob("out.*"), key=lambda p: int(p.suffix[1:]))
    if len(dumps) != len(segments):
        raise RuntimeError(
            f"{kind}: {len(dumps)} callgrind dumps for {len(segments)} loops: does this "
            "Python's libpython keep its symbols (os_getppid, os_getpgrp)?"
        )
    counts: dict[str, dict[int, int]] = {}
    for (variant, n), dump in zip(segments, dumps, strict=True):
        found = _SUMMARY.search(dump.read_bytes())
        if found is None:
            raise RuntimeError(f"no summary line in {dump}")
        counts.setdefault(variant, {})[n] = int(found.group(1))
    per_request = {v: (c[WARM + requests] - c[WARM]) / requests for v, c in counts.items()}
    return Counted(kind, per_request)


def show(console: Console, counted: Counted) -> bool:
    """Print the store's counts and derived figures; whether the dependency check passed."""
    k = counted.per_request

    def instr(value: float) -> str:
        return f"{value / 1000:,.1f} k"

    table = Table(title=f"{counted.store}: instructions per request", title_justify="left")
    table.add_column("GET /api/me")
    table.add_column("instructions", justify="right")
    table.add_column("+ vs (a)", justify="right")
    for variant in VARIANTS:
        extra = "" if variant == "noauth" else f"+{instr(k[variant] - k['noauth'])}"
        table.add_row(LABELS[variant], instr(k[variant]), extra)
    console.print(table)

    bare = k["bare"] - k["noauth"]
    auth = k["session"] - k["noauth"]
    fastapi_itself = k["fastapi-noauth"] - k["noauth"]
    dependency = k["fastapi"] - k["fastapi-request"]
    noop = k["fastapi-dep"] - k["fastapi-noauth"]
    figures = Table(title=f"{counted.store}: derived", title_justify="left")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    figures.add_row("revocable's extra over one raw read (c) - (b)", instr(auth - bare))
    if bare > 0:
        figures.add_row(
            "auth overhead / bare overhead ((c)-(a)) / ((b)-(a))", f"{auth / bare:.2f}x"
        )
    figures.add_row(
        "FastAPI dependency path - plain middleware path (d) - (c)",
        instr(k["fastapi"] - k["session"]),
    )
    figures.add_row("  of which FastAPI itself: FastAPI no-auth - (a)", instr(fastapi_itself))
    figures.add_row(
        "  of which the dependency: (d) - FastAPI endpoint reading the request", instr(dependency)
    )
    figures.add_row(
        "    a do-nothing security dependency: its FastAPI app - FastAPI no-auth", instr(noop)
    )
    ratio = dependency / noop
    verdict = "PASS" if ratio <= DEPENDENCY_LIMIT else "MISS"
    figures.add_row(
        f"    revocable's dependency / the do-nothing one (<= {DEPENDENCY_LIMIT}x: {verdict})",
        f"{ratio:.3f}x",
    )
    figures.add_row(
        "FastAPI no-auth / Starlette no-auth (framework cost)",
        f"{k['fastapi-noauth'] / k['noauth']:.2f}x",
    )
    console.print(figures)
    return verdict == "PASS"


def main(argv: list[str] | None = None) -> int:
    parser = store_parser(__doc__)
    parser.add_argument("--requests", type=int, default=400, help="timed requests per variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--location", default="", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    args = parse_store_args(parser, argv)
    if args.child:
        child(args)
        return 0
    if shutil.which("valgrind") is None:
        print("bench_instructions.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    console = Console(width=120)
    console.print(
        f"revocable instruction counts (callgrind; {args.requests} requests per variant; "
        f"Python {sys.version.split()[0]})",
        highlight=False,
    )
    started = time.perf_counter()
    locations = {"memory": "", "redis": REDIS_URL, "postgresql": POSTGRES_URL}
    # Two callgrind runs at a time (the counts do not depend on what else runs).
    with (
        tempfile.TemporaryDirectory(prefix="rvbench-instr-") as tmp,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        runs = [
            pool.submit(
                count_store,
                kind,
                locations.get(kind, str(Path(tmp) / "bench.db")),
                args.requests,
                Path(tmp),
            )
            for kind in args.store_list
        ]
        passed = [show(console, run.result()) for run in runs]
    misses = passed.count(False)
    console.print(
        f"{len(passed) - misses} PASS, {misses} MISS (the dependency check, per store); "
        f"wall time {time.perf_counter() - started:.0f} s",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
