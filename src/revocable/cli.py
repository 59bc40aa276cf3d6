"""The ``revocable`` command: store administration (the server and auditor come later).

Exit codes: 0 success, 1 the store failed, 2 bad usage (including a bad store URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from revocable import __version__
from revocable.audit.cli import audit
from revocable.core.sessions import SessionRecord
from revocable.errors import ConfigurationError, InvalidInput, StoreError, redact_url
from revocable.sessions import SessionManager
from revocable.stores.base import SessionStore
from revocable.stores.url import open_store

__all__ = ["main"]

_T = TypeVar("_T")
DEFAULT_STORE = "sqlite:///revocable.db"

store_option = click.option(
    "--store",
    "store_url",
    envvar="REVOCABLE_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    help="Store URL: sqlite:///file.db, redis://host:6379/0, postgresql://user@host/db "
    "(or $REVOCABLE_STORE).",
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"revocable: error: {message}", err=True)
    sys.exit(code)


def _run(store_url: str, action: Callable[[SessionStore], Awaitable[_T]]) -> _T:
    """Open the store, run ``action`` on it, close it; errors become one line and an exit code."""

    async def run() -> _T:
        store = await open_store(store_url)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ConfigurationError, InvalidInput) as exc:
        _fail(str(exc), 2)
    except StoreError as exc:
        _fail(str(exc), 1)


def _time(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _as_json(record: SessionRecord) -> dict[str, Any]:
    return {
        "handle": record.handle,
        "user_id": record.user_id,
        "created_at": record.created_at,
        "last_seen": record.last_seen,
        "expires_at": record.deadline,
        "client_ip": record.client_ip,
        "user_agent": record.user_agent,
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="revocable")
def main() -> None:
    """revocable: server-side sessions that can all be revoked at once."""


@main.group()
def sessions() -> None:
    """List and revoke a user's sessions in a store."""


@sessions.command("list")
@click.argument("user_id")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_sessions(user_id: str, store_url: str, as_json: bool) -> None:
    """List USER_ID's live sessions (by public handle; tokens are never stored)."""
    records = _run(store_url, lambda store: SessionManager(store).list_sessions(user_id))
    if as_json:
        click.echo(json.dumps([_as_json(r) for r in records], indent=2))
        return
    # Text(), not strings: user agents and ids come from clients and must not be markup.
    table = Table(title=Text(f"{len(records)} live session(s) of {user_id}"))
    for column in ("handle", "created", "last seen", "expires", "IP", "user agent"):
        table.add_column(column)
    for r in records:
        table.add_row(
            Text(r.handle),
            _time(r.created_at),
            _time(r.last_seen),
            _time(r.deadline),
            Text(r.client_ip or ""),
            Text((r.user_agent or "")[:60]),
        )
    Console().print(table)


@sessions.command("revoke")
@click.argument("user_id")
@click.option("--handle", help="Revoke only the session with this handle.")
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every session of the user.")
@click.option("--keep", "keep_handle", help="With --all: keep the session with this handle.")
@store_option
def revoke_sessions(
    user_id: str, handle: str | None, revoke_all: bool, keep_handle: str | None, store_url: str
) -> None:
    """Revoke one session (--handle) or every session (--all) of USER_ID."""
    if bool(handle) == revoke_all or (keep_handle and not revoke_all):
        _fail("give exactly one of --handle H or --all (--keep goes with --all)", 2)
    if handle:
        found = _run(store_url, lambda store: SessionManager(store).revoke_handle(user_id, handle))
        if not found:
            _fail(f"no live session {handle!r} of {user_id!r}", 1)
        click.echo(f"revoked session {handle} of {user_id}")
        return
    count = _run(
        store_url, lambda store: SessionManager(store).revoke_all(user_id, keep_handle=keep_handle)
    )
    click.echo(f"revoked {count} session(s) of {user_id}")


@main.command()
@store_option
def migrate(store_url: str) -> None:
    """Create or upgrade the schema of an SQL store (opening a store also does this)."""
    if not store_url.startswith(("sqlite:", "postgresql:", "postgres:")):
        _fail("migrate applies to SQL stores (sqlite:///…, postgresql://…)", 2)

    async def noop(store: SessionStore) -> None:
        return None

    _run(store_url, noop)
    click.echo(f"schema up to date in {_describe(store_url)}")


@main.command()
@store_option
def sweep(store_url: str) -> None:
    """Delete expired sessions now (SQL stores; Redis expires keys by itself)."""
    count = _run(store_url, lambda store: SessionManager(store).sweep())
    click.echo(f"deleted {count} expired session(s)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@store_option
@click.option(
    "--secrets-file",
    default="revocable-secrets.key",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="CSRF keys, one hex key per line, oldest first; created (mode 0600) if missing.",
)
@click.option(
    "--insecure-cookies",
    is_flag=True,
    help="Send cookies without Secure/__Host- (plain-http development on non-localhost "
    "hosts only; browsers accept Secure cookies from http://localhost).",
)
@click.option(
    "--login-rate-limit",
    default="10/60",
    show_default=True,
    help="Login attempts per username as ATTEMPTS/SECONDS (each IP gets 5x), or 'off' "
    "(for load tests).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="A reverse proxy (address or CIDR) whose X-Forwarded-For is believed; repeatable. "
    "By default none is, and the client IP is the socket's peer.",
)
@click.option(
    "--signing-key-file",
    "signing_key_files",
    multiple=True,
    default=["revocable-signing.pem"],
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Ed25519 or P-256 key (PKCS#8 PEM) that signs access tokens; created (mode 0600) if "
    "a single one is missing. Repeat it to rotate: oldest first, the last signs, the others "
    "still verify. $REVOCABLE_SIGNING_KEYS (PEM keys, oldest first) overrides the files.",
)
@click.option(
    "--public-origin",
    help="The origin browsers use, like https://app.example, when a TLS proxy sits in "
    "front (CSRF checks compare Origin with it).",
)
@click.option(
    "--access-cookie-samesite",
    type=click.Choice(["strict", "lax"]),
    default="strict",
    show_default=True,
    help="SameSite of the access-token cookie. strict: a visitor arriving from another "
    "site's link looks signed out on that first page; lax: signed in on top-level links, "
    "cross-site POSTs still refused.",
)
def serve(
    host: str,
    port: int,
    store_url: str,
    secrets_file: str,
    insecure_cookies: bool,
    login_rate_limit: str,
    trusted_proxies: tuple[str, ...],
    signing_key_files: tuple[str, ...],
    public_origin: str | None,
    access_cookie_samesite: str,
) -> None:
    """Run the reference server: sign-up, sign-in, your sessions, log out everywhere."""
    from revocable.core.ratelimit import RateLimit
    from revocable.server.run import (
        event_loop_factory,
        load_or_create_keys,
        load_signing_ring,
        run_server,
    )

    try:
        login_limit = RateLimit.parse(login_rate_limit)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    try:
        keys = load_or_create_keys(secrets_file)
        signing_keys = load_signing_ring(
            signing_key_files, os.environ.get("REVOCABLE_SIGNING_KEYS")
        )
    except (OSError, ValueError, ConfigurationError) as exc:
        _fail(f"cannot use the key files: {exc}", 2)
    if insecure_cookies:
        click.echo(
            "revocable: WARNING: --insecure-cookies: cookies lose Secure and __Host-. "
            "Never use this in production.",
            err=True,
        )
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(
                run_server(
                    store_url,
                    keys,
                    host=host,
                    port=port,
                    insecure=insecure_cookies,
                    login_limit=login_limit,
                    trusted_proxies=trusted_proxies,
                    public_origin=public_origin,
                    signing_keys=signing_keys,
                    access_same_site="lax" if access_cookie_samesite == "lax" else "strict",
                )
            )
    except (ConfigurationError, InvalidInput) as exc:
        _fail(str(exc), 2)
    except StoreError as exc:
        _fail(str(exc), 1)


def _describe(store_url: str) -> str:
    """The URL without any password, for messages."""
    return redact_url(store_url)


main.add_command(audit)

if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
