"""The package's public surface and its layering."""

from __future__ import annotations

import subprocess
import sys
import types

import revocable


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names exactly the public names the package exports."""
    public = {
        name
        for name, value in vars(revocable).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert revocable.__all__ == sorted(revocable.__all__)
    assert set(revocable.__all__) - {"__version__"} == public


def test_every_error_has_a_distinct_code() -> None:
    """Each exception class carries its own stable machine code."""
    errors = [getattr(revocable, n) for n in revocable.__all__ if n.endswith(("Error", "URL"))]
    errors += [revocable.MalformedToken, revocable.StoreUnavailable, revocable.StoreCorrupted]
    codes = [e.code for e in errors]
    assert len(set(codes)) == len(set(errors))


def test_core_imports_no_driver_framework_or_event_loop() -> None:
    """Importing the core and the top-level API loads no store driver and no asyncio."""
    code = (
        "import sys, revocable.core.sessions, revocable.core.tokens, revocable.core.records\n"
        "bad = [m for m in ('asyncio', 'redis', 'asyncpg', 'aiosqlite', 'sqlite3', 'starlette')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import revocable\n"
        "bad = [m for m in ('redis', 'asyncpg', 'aiosqlite') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_session_web_layer_imports_no_token_library() -> None:
    """An app that only uses sessions never loads PyJWT or cryptography: the token layer is
    an optional extra, imported only by the modules that need it."""
    code = (
        "import sys, revocable.starlette, revocable.fastapi, revocable.accounts\n"
        "bad = [m for m in ('jwt', 'cryptography', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
