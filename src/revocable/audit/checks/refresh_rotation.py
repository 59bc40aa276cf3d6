"""C8: refresh tokens rotate on use, and replaying a rotated one kills the whole family.

For each transport the target names, from a token login whose refresh token is
unused (C7's, else a new one; each its own family):

1. **rotate**: refresh once; the answer must hand out a NEW refresh token (none,
   or the same one back, fails: "does not rotate");
2. wait ``[tokens] grace_wait`` seconds past that refresh (one wait for every
   transport), beyond the grace window in which two tabs may both present the
   same token;
3. **reuse**: replay the old token; it must be refused (accepted fails: "no reuse
   detection"; the same successor handed back again warns: the app's grace
   window is longer than the wait);
4. **family**: present the current token; after the reuse it must be refused too
   (accepted fails: "reuse does not kill the family").

The first failed step ends that transport's run. Evidence names tokens by length
and digest prefix only. A family the auditor cannot show dead is revoked at the
end. No refresh endpoint: "n/a".
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from revocable.audit.client import Response
from revocable.audit.context import AuditContext
from revocable.audit.cookies import clean
from revocable.audit.jwts import fingerprint
from revocable.audit.result import CheckResult, Evidence, Finding, Note
from revocable.audit.target import Tokens
from revocable.audit.tokenflow import (
    TokenLogin,
    accepted,
    get_tokens,
    leftovers,
    refresh,
    refresh_token_in,
    revoke_families,
    take_spare,
)

__all__ = ["check_refresh_rotation"]

_FIX_ROTATE = "Issue a new refresh token on every refresh and retire the one presented."
_FIX_REUSE = (
    "Remember rotated refresh tokens (a family with its current secret); refuse a rotated one "
    "outside a grace window of seconds."
)
_FIX_FAMILY = (
    "When a rotated refresh token comes back, delete the whole family: the thief and the "
    "victim both sign in again."
)
_FIX_REFUSED = "Check [tokens] refresh, refresh_field or refresh_cookie: a fresh token was refused."
_FIX_WAIT = "Raise [tokens] grace_wait above the app's refresh grace window (keep it to seconds)."


@dataclass(eq=False)
class _Run:
    """One transport's walk through the steps."""

    login: TokenLogin
    old: str = field(default="", repr=False)
    rotated_at: float = 0.0
    done: bool = False

    @property
    def name(self) -> str:
        return self.login.transport


def _status(answer: Response) -> str:
    """``401 invalid_refresh_token``: the status and the JSON error code, if any."""
    body = answer.json()
    error = body.get("error") if isinstance(body, dict) else None
    return f"{answer.status}" + (f" {clean(error, 60)}" if isinstance(error, str) else "")


class _Check:
    def __init__(self, ctx: AuditContext, tokens: Tokens) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.findings: list[Finding] = []
        self.notes: list[Note] = []

    def _stop(
        self, run: _Run, severity: Literal["fail", "warn"], code: str, message: str, fix: str
    ) -> None:
        run.done = True
        self.findings.append(Finding(severity, code, f"{run.name}: {message}", fix))

    async def rotate(self, run: _Run) -> None:
        login, old = run.login, run.login.refresh or ""
        answer = await refresh(self.ctx, login, old, step=f"{run.name}: refresh once")
        run.rotated_at = time.monotonic()
        if not accepted(answer):
            self._stop(
                run,
                "warn",
                "refresh_refused",
                f"the first refresh of a fresh token was refused ({answer.status}); rotation "
                "could not be tested",
                _FIX_REFUSED,
            )
            return
        new = refresh_token_in(answer, login, self.tokens)
        shown = fingerprint(new) if new else "no refresh token"
        self.notes.append(Note(f"{run.name}: issued {fingerprint(old)}; the refresh gave {shown}"))
        if new is None or new == old:
            self._stop(
                run,
                "fail",
                "refresh_not_rotated",
                "the refresh "
                + ("handed out no new refresh token" if new is None else "gave the same one back")
                + ": refresh tokens do not rotate",
                _FIX_ROTATE,
            )
            return
        run.old, login.refresh = old, new

    async def reuse(self, run: _Run, waited: float) -> None:
        login = run.login
        answer = await refresh(
            self.ctx, login, run.old, step=f"{run.name}: replay the old token {waited:.1f} s later"
        )
        if not accepted(answer):
            self.notes.append(
                Note(f"{run.name}: the old token, {waited:.1f} s after rotation: {_status(answer)}")
            )
            return
        again = refresh_token_in(answer, login, self.tokens)
        if again is not None and again == login.refresh:
            self._stop(
                run,
                "warn",
                "refresh_grace_exceeds_wait",
                f"the old token replayed {waited:.1f} s after rotation gave the same successor "
                "back: the app's grace window is longer than the wait, reuse is untested",
                _FIX_WAIT,
            )
            return
        self._stop(
            run,
            "fail",
            "refresh_reuse_undetected",
            f"the old (rotated) refresh token was accepted again {waited:.1f} s after rotation "
            f"({answer.status}): no reuse detection",
            _FIX_REUSE,
        )

    async def family(self, run: _Run) -> None:
        login = run.login
        current = login.refresh or ""
        answer = await refresh(self.ctx, login, current, step=f"{run.name}: try the current token")
        if not accepted(answer):
            login.alive = False  # shown dead: nothing to revoke
            run.done = True
            self.notes.append(
                Note(f"{run.name}: the current token after the reuse: {_status(answer)}")
            )
            return
        newer = refresh_token_in(answer, login, self.tokens)
        if newer is not None:
            login.refresh = newer
        self._stop(
            run,
            "fail",
            "refresh_family_survives",
            f"the reused token was refused, but the current one still refreshes ({answer.status}):"
            " reuse does not kill the family",
            _FIX_FAMILY,
        )

    async def wait(self, since: float) -> float:
        """Sleep until ``grace_wait`` seconds after ``since``; the seconds since then."""
        total = self.tokens.grace_wait
        while (left := since + total - time.monotonic()) > 0:
            self.ctx.progress.advance("C8", int(total - left), max(1, round(total)))
            await asyncio.sleep(min(0.5, left))
        return time.monotonic() - since


async def check_refresh_rotation(ctx: AuditContext) -> CheckResult:
    tokens = ctx.target.tokens
    if tokens is None or tokens.refresh is None:
        return CheckResult.not_applicable(
            "C8", "the target names no refresh endpoint ([tokens] refresh)"
        )
    if ctx.credentials is None:
        return CheckResult.not_applicable("C8", ctx.cannot("login") or "no credentials")
    mark = ctx.client.mark()
    check = _Check(ctx, tokens)
    runs: list[_Run] = []
    try:
        for transport in tokens.transports:
            login = take_spare(ctx, transport)
            if login is None:
                login = await get_tokens(ctx, transport, step=f"{transport}: get tokens")
            else:
                check.notes.append(
                    Note(f"{transport}: the token login C7 made, its refresh token unused")
                )
            run = _Run(login)
            runs.append(run)
            if login.refresh is None:
                run.done = True
                check.notes.append(Note(f"{transport}: the token answer holds no refresh token"))
                continue
            await check.rotate(run)
        waiting = [run for run in runs if not run.done]
        if waiting:
            waited = await check.wait(max(run.rotated_at for run in waiting))
            check.notes.append(
                Note(
                    f"waited {waited:.1f} s past the rotation (grace_wait {tokens.grace_wait:g} s)"
                )
            )
            for run in waiting:
                await check.reuse(run, time.monotonic() - run.rotated_at)
            for run in waiting:
                if not run.done:
                    await check.family(run)
    finally:
        done = [run.login for run in runs]
        await revoke_families(ctx, [*done, *leftovers(ctx)], who="cleanup (C8)")
    evidence: list[Evidence] = [*ctx.client.since(mark), *check.notes]
    tested = [run for run in runs if run.login.refresh is not None]
    if not tested:
        return CheckResult.not_applicable(
            "C8",
            "the token endpoint issued no refresh token",
            code="no_refresh_token",
            evidence=evidence,
        )
    bad = [f for f in check.findings if f.severity != "info"]
    if bad:
        worst = [f for f in bad if f.severity == "fail"] or bad
        summary = "; ".join(f.message for f in worst)
    else:
        names = " and ".join(run.name for run in tested)
        summary = (
            f"{names}: each refresh rotated the token; the old one replayed after "
            f"{tokens.grace_wait:g} s was refused and the family died (the current one refused)"
        )
    return CheckResult.from_findings("C8", summary, check.findings, evidence)
