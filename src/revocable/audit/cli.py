"""``revocable audit URL``: the click command. httpx is imported only when it runs.

Exit codes: 0 nothing failed; 1 a check failed (or warned, with ``--fail-on
warn``); 2 bad usage (a bad URL, target file or option); 3 the target did not
answer at all.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Literal, NoReturn, cast

import click

__all__ = ["audit"]


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"revocable audit: error: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("url")
@click.option(
    "--preset",
    type=click.Choice(["revocable"]),
    help="A known app's contract (revocable: the reference server, `revocable serve`).",
)
@click.option(
    "--target",
    "target_file",
    type=click.Path(dir_okay=False),
    help="A TOML target description (see revocable.audit.target).",
)
@click.option("--username", help="The test user to log in as (or [credentials] in the target).")
@click.option(
    "--password",
    envvar="REVOCABLE_AUDIT_PASSWORD",
    show_envvar=True,
    help="The test user's password (prefer the environment variable).",
)
@click.option(
    "--register",
    "register_user",
    is_flag=True,
    help="Register the given user first (a fresh test instance); 'taken' is fine.",
)
@click.option(
    "--create-test-user",
    is_flag=True,
    help="Generate a throwaway user and register it, instead of given credentials.",
)
@click.option("--login", "login_path", help="Login path (JSON body), e.g. /auth/login.")
@click.option("--register-path", help="Register path, e.g. /auth/register.")
@click.option("--logout", "logout_path", help="Logout path (POST).")
@click.option("--logout-all", "logout_all_path", help="Log-out-all path (POST).")
@click.option(
    "--no-logout-all",
    is_flag=True,
    help="The app has no log-out-all: C4 fails for want of one (unsaid, C4 is n/a).",
)
@click.option(
    "--protected", "protected_path", help="A GET path that answers 200 only when signed in."
)
@click.option("--session-cookie", help="The session cookie's name (default: the one login sets).")
@click.option("--page", "page_path", help="The login page C2 signs in through in the browser.")
@click.option(
    "--chromium",
    default="/usr/bin/chromium",
    show_default=True,
    envvar="REVOCABLE_AUDIT_CHROMIUM",
    show_envvar=True,
    help="The chromium C2 drives with Playwright (.ci/install-browser installs it).",
)
@click.option("--no-browser", is_flag=True, help="Start no browser: C2 is n/a.")
@click.option("--token", "token_path", help="Token endpoint (POST, JSON answer), for C7 and C8.")
@click.option(
    "--refresh", "refresh_path", help="Refresh endpoint (POST refresh_token), for C3 and C8."
)
@click.option("--token-revoke", "revoke_path", help="Revokes a refresh family (cleanup).")
@click.option(
    "--grace-wait",
    type=click.FloatRange(0, 30),
    help="Seconds C8 waits past a rotation before replaying the old token [default: 6].",
)
@click.option(
    "--samples",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Session ids to sample for C9.",
)
@click.option(
    "--sample-seconds",
    default=40.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Start no sampling login after this long (keeps a run under a minute).",
)
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Sampling logins in flight at once.",
)
@click.option(
    "--max-requests",
    default=2000,
    show_default=True,
    type=click.IntRange(10),
    help="Never send more requests than this.",
)
@click.option(
    "--rate",
    default=50.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Requests per second, at most.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds to wait for each answer.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the JSON report here ('-' for stdout, which then holds only JSON).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report here (no scripts, nothing fetched).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show each item's findings and evidence.")
@click.option(
    "--fail-on",
    type=click.Choice(["fail", "warn"]),
    default="fail",
    show_default=True,
    help="Exit 1 on failures only, or on warnings too.",
)
def audit(
    url: str,
    preset: str | None,
    target_file: str | None,
    username: str | None,
    password: str | None,
    register_user: bool,
    create_test_user: bool,
    login_path: str | None,
    register_path: str | None,
    logout_path: str | None,
    logout_all_path: str | None,
    no_logout_all: bool,
    protected_path: str | None,
    session_cookie: str | None,
    page_path: str | None,
    chromium: str,
    no_browser: bool,
    token_path: str | None,
    refresh_path: str | None,
    revoke_path: str | None,
    grace_wait: float | None,
    samples: int,
    sample_seconds: float,
    concurrency: int,
    max_requests: int,
    rate: float,
    timeout: float,
    json_file: str | None,
    html_file: str | None,
    verbose: bool,
    fail_on: str,
) -> None:
    """Check the app at URL against the pre-ship auth checklist (C1-C9), by behaviour.

    It logs in and out as a test user, replays cookies, forges cross-site requests,
    samples session ids and signs in through the login page in headless Chromium,
    talking only to URL's origin. It logs in only as the user you give it
    (--username and $REVOCABLE_AUDIT_PASSWORD) and registers nothing unless you ask:
    --register registers that user first, --create-test-user a throwaway one. Use a
    test account: C4 logs it out of all its devices. Passwords and cookie values never
    appear in the output.
    """
    try:
        from rich.console import Console

        from revocable.audit.client import TargetUnreachable
        from revocable.audit.html_report import render_html
        from revocable.audit.progress import RichProgress
        from revocable.audit.report import render
        from revocable.audit.runner import NO_CREDENTIALS, AuditOptions, run_audit
        from revocable.audit.target import (
            BrowserLogin,
            Endpoint,
            Login,
            TargetError,
            load_target,
            target_from_mapping,
            with_overrides,
            with_tokens,
            without_logout_all,
        )
        from revocable.audit.target import (
            preset as named_preset,
        )
    except ImportError as exc:  # httpx is the audit extra
        _fail(f"{exc.name} is missing: pip install 'revocable[audit]'", 2)

    if preset and target_file:
        _fail("give --preset or --target, not both", 2)
    if logout_all_path and no_logout_all:
        _fail("give --logout-all PATH or --no-logout-all, not both", 2)
    try:
        if target_file:
            target = load_target(target_file, url)
        elif preset:
            target = named_preset(preset, url)
        else:
            target = target_from_mapping({}, url)
        target = with_overrides(
            target,
            login=Login(Endpoint(login_path)) if login_path else None,
            register=Endpoint(register_path) if register_path else None,
            logout=Endpoint(logout_path) if logout_path else None,
            logout_all=Endpoint(logout_all_path) if logout_all_path else None,
            protected=Endpoint(protected_path, "GET") if protected_path else None,
            session_cookie=session_cookie,
            browser=BrowserLogin(page_path) if page_path else None,
        )
        if no_logout_all:
            target = without_logout_all(target)
        target = with_tokens(
            target,
            token=token_path,
            refresh=refresh_path,
            revoke=revoke_path,
            grace_wait=grace_wait,
        )
        username = username or target.username
        password = password or target.password
        if create_test_user and (username is not None or register_user):
            _fail("--create-test-user makes its own user: give no --username and no --register", 2)
        if (username is None) != (password is None):
            what = "--username" if username is None else "--password (or $REVOCABLE_AUDIT_PASSWORD)"
            _fail(f"give the test user's {what} as well", 2)
        if target.login is not None and username is None and not create_test_user:
            _fail(NO_CREDENTIALS, 2)
        if (register_user or create_test_user) and target.register is None:
            flag = "--register" if register_user else "--create-test-user"
            _fail(
                f"{flag} needs a register endpoint: [register] in the target, or --register-path", 2
            )
        options = AuditOptions(
            samples=samples,
            sample_seconds=sample_seconds,
            concurrency=concurrency,
            max_requests=max_requests,
            rate=rate,
            timeout=timeout,
            username=username,
            password=password,
            register=register_user,
            create_test_user=create_test_user,
            chromium=None if no_browser else chromium,
        )
    except (TargetError, ValueError) as exc:
        _fail(str(exc), 2)

    to_stdout = json_file == "-"
    console = Console(stderr=to_stdout)
    progress_console = Console(stderr=True)
    try:
        with RichProgress(progress_console) as progress:
            report = asyncio.run(run_audit(target, options, progress=progress))
    except TargetUnreachable as exc:
        _fail(str(exc), 3)
    render(report, console, verbose=verbose)
    if html_file:
        with open(html_file, "w", encoding="utf-8") as file:
            file.write(render_html(report))
    if json_file:
        text = json.dumps(report.to_json(), indent=2)
        if to_stdout:
            click.echo(text)
        else:
            with open(json_file, "w", encoding="utf-8") as file:
                file.write(text + "\n")
    sys.exit(report.exit_code(cast(Literal["fail", "warn"], fail_on)))
