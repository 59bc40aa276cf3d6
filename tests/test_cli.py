"""The ``revocable`` command line, run as a user would run it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from revocable import SessionManager, __version__
from revocable.cli import main
from revocable.stores.sqlite import SQLiteStore


@pytest.fixture(name="db_url")
def _db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _make_sessions(db_url: str, user: str, count: int) -> list[str]:
    async def make() -> list[str]:
        store = await SQLiteStore.open(db_url.removeprefix("sqlite:///"))
        manager = SessionManager(store)
        handles = [
            (await manager.create(user, user_agent="curl/8")).record.handle for _ in range(count)
        ]
        await store.close()
        return handles

    return asyncio.run(make())


def test_version_and_help_run_as_a_console_command() -> None:
    """`revocable --version` and `--help` work from the installed entry point."""
    out = subprocess.run(
        [sys.executable, "-m", "revocable.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert __version__ in out.stdout
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "sessions" in help_text
    assert "migrate" in help_text


@pytest.mark.parametrize(
    "url",
    [
        "nope",
        "foo://bar",
        "sqlite:///",
        "sqlite://relative.db",
        "redis://",
        "redis://h/x",
        "redis://h:99999",
    ],
)
def test_bad_store_url_is_one_line_and_exit_2(url: str) -> None:
    """A bad store URL gives a single error line and exit code 2, never a traceback."""
    result = CliRunner().invoke(main, ["sessions", "list", "alice", "--store", url])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("revocable: error: ")
    assert "Traceback" not in result.output


def test_unreachable_store_is_exit_1_without_the_password() -> None:
    """An unreachable store exits 1 with one line that never shows the URL's password."""
    url = "postgresql://admin:hunter2@127.0.0.1:1/db"
    result = CliRunner().invoke(main, ["sessions", "list", "alice", "--store", url])
    assert result.exit_code == 1
    assert "unreachable" in result.output
    assert "hunter2" not in result.output


def test_list_and_revoke_sessions_of_a_user(db_url: str) -> None:
    """Admins list a user's sessions by handle and revoke one, then all but one."""
    handles = _make_sessions(db_url, "alice", 3)
    runner = CliRunner()
    listed = runner.invoke(main, ["sessions", "list", "alice", "--store", db_url, "--json"])
    assert listed.exit_code == 0
    assert [s["handle"] for s in json.loads(listed.output)] == handles
    table = runner.invoke(main, ["sessions", "list", "alice", "--store", db_url])
    assert "3 live session(s)" in table.output
    one = runner.invoke(
        main, ["sessions", "revoke", "alice", "--handle", handles[0], "--store", db_url]
    )
    assert one.exit_code == 0
    again = runner.invoke(
        main, ["sessions", "revoke", "alice", "--handle", handles[0], "--store", db_url]
    )
    assert again.exit_code == 1
    rest = runner.invoke(
        main, ["sessions", "revoke", "alice", "--all", "--keep", handles[2], "--store", db_url]
    )
    assert "revoked 1 session(s)" in rest.output
    listed = runner.invoke(main, ["sessions", "list", "alice", "--store", db_url, "--json"])
    assert [s["handle"] for s in json.loads(listed.output)] == [handles[2]]


def test_revoke_needs_exactly_one_target(db_url: str) -> None:
    """`sessions revoke` without --handle or --all (or with both) is a usage error."""
    for args in ([], ["--all", "--handle", "x"], ["--keep", "x"]):
        result = CliRunner().invoke(main, ["sessions", "revoke", "alice", "--store", db_url, *args])
        assert result.exit_code == 2


def test_migrate_and_sweep_on_sql_stores(db_url: str) -> None:
    """`migrate` creates the schema idempotently; `sweep` runs; neither applies to Redis."""
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(main, ["migrate", "--store", db_url]).exit_code == 0
    assert (
        runner.invoke(main, ["sweep", "--store", db_url]).output == "deleted 0 expired session(s)\n"
    )
    assert runner.invoke(main, ["migrate", "--store", "redis://127.0.0.1:6379/0"]).exit_code == 2


def test_client_text_is_never_read_as_markup(db_url: str) -> None:
    """A user agent that looks like rich markup is printed as text, not parsed."""

    async def make() -> None:
        store = await SQLiteStore.open(db_url.removeprefix("sqlite:///"))
        await SessionManager(store).create("[bold]eve", user_agent="curl/8 [/x] [red]")
        await store.close()

    asyncio.run(make())
    result = CliRunner().invoke(main, ["sessions", "list", "[bold]eve", "--store", db_url])
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.output
    assert "[bold]eve" in result.output
