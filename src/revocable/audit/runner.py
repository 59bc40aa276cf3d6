"""One audit run: set up the test user, run the checks in a safe order, always clean up.

Credentials: the auditor logs in only as the user it is given (``username`` and
``password`` here, else the target's ``[credentials]``) and registers nothing,
unless ``register`` (register the given user first, for a fresh test instance)
or ``create_test_user`` (generate a throwaway user and register it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from revocable import __version__
from revocable.audit.browser import CHROMIUM
from revocable.audit.checks import CHECKS, RUN_ORDER
from revocable.audit.client import CURRENT_CHECK, AuditClient, AuditError, TargetUnreachable
from revocable.audit.context import (
    AuditContext,
    Credentials,
    LoginFailed,
    Progress,
    RateLimited,
    UserExists,
)
from revocable.audit.result import CHECKLIST, AuditReport, CheckResult, Finding, title_of
from revocable.audit.target import Target
from revocable.audit.tokenflow import leftovers, revoke_families

__all__ = ["NO_CREDENTIALS", "AuditOptions", "given_credentials", "run_audit"]


@dataclass(frozen=True)
class AuditOptions:
    """How hard to push: samples, request budget and rate; whose account to use; which browser."""

    samples: int = 200
    max_requests: int = 2000
    rate: float = 50.0
    timeout: float = 10.0
    min_bits: int = 128
    concurrency: int = 4
    """Logins in flight at once while sampling session ids."""
    sample_seconds: float = 40.0
    """No new sampling login starts after this long (the whole run stays under a minute)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    register: bool = False
    """Register the given user before logging in (a fresh test instance)."""
    create_test_user: bool = False
    """Generate a throwaway user and register it (no credentials are given then)."""
    chromium: str | None = CHROMIUM
    """The chromium C2 drives; None: no browser (C2 is n/a)."""
    browser_timeout: float = 30.0
    """Seconds for each browser step (open the page, submit the form, settle)."""

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError("samples must be at least 1")
        if self.max_requests < 10:
            raise ValueError("max_requests must be at least 10")
        if self.rate <= 0:
            raise ValueError("rate is requests per second, more than 0")
        if self.timeout <= 0:
            raise ValueError("timeout is seconds, more than 0")
        if not 1 <= self.concurrency <= 32:
            raise ValueError("concurrency is between 1 and 32")
        if self.sample_seconds <= 0:
            raise ValueError("sample_seconds is seconds, more than 0")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both a username and a password, or neither")
        if self.create_test_user and (self.username is not None or self.register):
            raise ValueError(
                "create_test_user generates and registers its own user: give no username "
                "and no register"
            )
        if self.browser_timeout <= 0:
            raise ValueError("browser_timeout is seconds, more than 0")


_FIXES = {
    "rate_limited": "Lift the target's login rate limit for the audit, or audit again later.",
    "request_budget_exhausted": "Raise --max-requests.",
    "target_unreachable": "Check the target is up and answers within --timeout.",
}


NO_CREDENTIALS = (
    "no credentials: give --username and --password (or $REVOCABLE_AUDIT_PASSWORD, or "
    "[credentials] in the target file), or --create-test-user to register a throwaway user"
)


def given_credentials(target: Target, options: AuditOptions) -> Credentials | None:
    """The user to log in as: the options' (flags) over the target's ``[credentials]``."""
    if options.username is not None and options.password is not None:
        return Credentials(options.username, options.password)
    username = options.username or target.username
    password = options.password or target.password
    if username is None or password is None:
        return None
    return Credentials(username, password)


async def _credentials(ctx: AuditContext, options: AuditOptions) -> Credentials | None:
    """The test user, registered first if asked; None (and why in ``ctx.blocked``) if none."""
    target = ctx.target
    if options.create_test_user:
        if target.login is None or target.register is None:
            ctx.blocked["login"] = "--create-test-user needs [login] and [register] in the target"
            return None
        try:
            created = await ctx.register()
        except (LoginFailed, RateLimited) as exc:
            ctx.blocked["login"] = f"could not register a throwaway test user: {exc}"
            return None
        ctx.notes.append(
            f"created the throwaway test user {created.username} (--create-test-user; it "
            "stays: the auditor deletes no accounts)"
        )
        return created
    creds = given_credentials(target, options)
    if creds is None:
        ctx.blocked["login"] = NO_CREDENTIALS
        return None
    if options.register:
        if target.login is None or target.register is None:
            ctx.blocked["login"] = "--register needs [login] and [register] in the target"
            return None
        try:
            await ctx.register(creds)
        except UserExists:
            ctx.notes.append(f"the test user {creds.username} was registered already (--register)")
        except (LoginFailed, RateLimited) as exc:
            ctx.blocked["login"] = f"could not register the test user: {exc}"
            return None
        else:
            ctx.notes.append(f"registered the test user {creds.username} (--register)")
    return creds


async def _setup(ctx: AuditContext, options: AuditOptions) -> None:
    """Credentials, a sanity check of the protected URL, and the first login (for C1)."""
    target = ctx.target
    if target.login is None:
        ctx.blocked["login"] = ctx.target.missing("login") or "no login"
        # The browser (C2) signs in through the page and needs no login endpoint.
        ctx.credentials = given_credentials(target, options)
        return
    ctx.credentials = await _credentials(ctx, options)
    if ctx.credentials is None:
        return
    if target.protected is not None:
        anonymous = await ctx.check_signed_in(None, step="the protected URL without a cookie")
        if ctx.signed_in(anonymous):
            ctx.blocked["protected"] = (
                f"{target.protected.path} answers {anonymous.status} without any cookie, so it "
                "cannot tell signed in from signed out (set protected / signed_in_status)"
            )
    mark = ctx.client.mark()
    try:
        ctx.first = await ctx.login("first login")
    except (LoginFailed, RateLimited) as exc:
        ctx.blocked["login"] = f"the test user cannot log in: {exc}"
        return
    finally:
        ctx.first_evidence = ctx.client.since(mark)
    if target.protected is None or "protected" in ctx.blocked:
        return
    if not await ctx.is_alive(ctx.first, step="check the first login signs in"):
        ctx.blocked["protected"] = (
            f"after a successful login {target.protected.path} does not answer "
            f"{'/'.join(map(str, target.signed_in_status))}; set protected / signed_in_status"
        )


async def _run_check(ctx: AuditContext, check_id: str) -> CheckResult:
    """One check; its requests are tagged as its own (``CURRENT_CHECK``) in this task."""
    CURRENT_CHECK.set(check_id)
    ctx.progress.check_started(check_id, title_of(check_id))
    mark = ctx.client.mark()
    try:
        return await CHECKS[check_id](ctx)
    except AuditError as exc:
        kind = "incomplete" if not isinstance(exc, TargetUnreachable) else "no answer"
        return CheckResult.from_findings(
            check_id,
            f"{kind}: {exc}",
            [Finding("warn", exc.code, str(exc), _FIXES.get(exc.code, ""))],
            ctx.client.since(mark)[-6:],
        )
    finally:
        ctx.progress.check_finished(check_id)


async def _run_stage(ctx: AuditContext, stage: tuple[str, ...]) -> dict[str, CheckResult]:
    """The checks of one stage at once, each in its own task (its own ``CURRENT_CHECK``).

    A check that fails outright (not an ``AuditError``: a bug) cancels the others and its
    exception propagates as itself, as if the checks had run one by one.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {check_id: group.create_task(_run_check(ctx, check_id)) for check_id in stage}
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the check's own error, not the group's
    return {check_id: task.result() for check_id, task in tasks.items()}


async def run_audit(
    target: Target,
    options: AuditOptions | None = None,
    *,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AuditReport:
    """Audit ``target``; ``TargetUnreachable`` if it does not answer at all during set-up."""
    options = options or AuditOptions()
    started = datetime.now(UTC)
    clock = time.monotonic()
    client = AuditClient(
        target.base_url,
        max_requests=options.max_requests,
        rate=options.rate,
        timeout=options.timeout,
        transport=transport,
    )
    ctx = AuditContext(
        target,
        client,
        samples=options.samples,
        min_bits=options.min_bits,
        concurrency=options.concurrency,
        sample_seconds=options.sample_seconds,
        progress=progress,
        chromium=options.chromium,
        browser_timeout=options.browser_timeout,
    )
    results: dict[str, CheckResult] = {}
    try:
        await _setup(ctx, options)
        for stage in RUN_ORDER:
            results.update(await _run_stage(ctx, stage))
    finally:
        try:
            await ctx.cleanup()
            await revoke_families(ctx, leftovers(ctx), who="cleanup")  # what C8 did not get to
        except AuditError as exc:
            ctx.notes.append(f"cleanup stopped: {exc}")
        await client.aclose()
    return AuditReport(
        target=target.base_url,
        version=__version__,
        results=tuple(results[check_id] for check_id, _ in CHECKLIST),
        started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=time.monotonic() - clock,
        requests=client.used,
        user=ctx.credentials.username if ctx.credentials else None,
        notes=tuple(ctx.notes),
    )
