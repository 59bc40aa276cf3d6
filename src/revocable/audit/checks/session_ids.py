"""C9: session ids come from a CSPRNG and carry at least 128 bits.

The auditor logs in ``samples`` times (every earlier login of the run counts
too), a few at once, logging each sample out at once, and hands the ids, in the
order they arrived, to ``entropy.analyse``. It stops early at the first 429 (a
login rate limit), when the request budget runs low, or when the sampling time
is up, and says so: fewer ids is a weaker verdict (a warning).

A session cookie that is a signed payload (a JWT, an itsdangerous value such as
Starlette's or Flask's session cookie; see ``signed``) is no random id: C9 is
"n/a" for it, and sampling stops as soon as a handful of ids show it
(``SIGNED_AFTER``): 200 logins would prove nothing more.

C9 runs alongside C8 (the runner's last stage), so it leaves C8 room in the
request budget.
"""

from __future__ import annotations

import asyncio
import time

from revocable.audit.client import AuditError
from revocable.audit.context import AuditContext, RateLimited
from revocable.audit.entropy import analyse
from revocable.audit.result import CheckResult, Evidence, Finding, Note
from revocable.audit.signed import recognise

__all__ = ["SIGNED_AFTER", "check_session_ids"]

SIGNED_AFTER = 5
"""Sampling stops once this many ids are known and every one is a signed payload."""

_FIX = "Make session ids 32 bytes from the OS CSPRNG, e.g. secrets.token_urlsafe(32)."
_FIX_FEWER = (
    "For a full sample, lift the login rate limit during the audit "
    "(revocable serve --login-rate-limit off), or raise --max-requests or --sample-seconds."
)
_SHOWN = 4  # sampling exchanges kept as evidence (the rest are alike)
_SIGNED_REASON = (
    "a signed payload, not a random session id: its secrecy rests on the server's signing "
    "key; revocation needs server-side state"
)


def _token_reserve(ctx: AuditContext) -> int:
    """Requests C8, running alongside, may still need: three steps and a revoke each, per
    transport, and the revokes of C7's leftovers."""
    tokens = ctx.target.tokens
    if tokens is None or tokens.refresh is None:
        return 0
    return 6 * len(tokens.transports)


def _all_signed(ids: list[str]) -> bool:
    return bool(ids) and all(recognise(i) is not None for i in ids)


async def _sample(ctx: AuditContext, want: int) -> tuple[str | None, bool]:
    """Log in until ``want`` ids are known; why it stopped early (or None), and whether it
    stopped because the ids are signed payloads.

    ``ctx.concurrency`` logins run at once (a login that hashes a password is
    slow, and the hash often runs on another core); the client's rate still
    holds. No new login starts after ``ctx.sample_seconds``.
    """
    stopped: list[str] = []
    signed: list[bool] = []  # decided once, when SIGNED_AFTER ids are known
    reserve = 5 + sum(1 for s in ctx.sessions if s.alive) + _token_reserve(ctx)
    per_sample = 2 if ctx.target.logout is not None else 1
    deadline = time.monotonic() + ctx.sample_seconds
    started = time.monotonic()
    launched = len(ctx.session_ids)

    def signed_payloads() -> bool:
        if not signed and len(ctx.session_ids) >= SIGNED_AFTER:
            signed.append(_all_signed(ctx.session_ids[:SIGNED_AFTER]))
        return bool(signed and signed[0])

    async def worker() -> None:
        nonlocal launched
        while not stopped and launched < want and not signed_payloads():
            if ctx.client.remaining < reserve + per_sample * ctx.concurrency:
                stopped.append(f"the request budget ({ctx.client.max_requests}) ran low")
                return
            if time.monotonic() > deadline:
                each = (time.monotonic() - started) / max(1, launched)
                stopped.append(
                    f"the sampling time ({ctx.sample_seconds:.0f} s) ran out "
                    f"(about {each:.2f} s per login)"
                )
                return
            launched += 1
            try:
                session = await ctx.login("sample a session id")
                if ctx.target.logout is not None:
                    await ctx.logout(session, step="log the sample out")
            except RateLimited as exc:
                stopped.append(f"the target rate-limits logins: {exc}")
                return
            except AuditError as exc:  # LoginFailed, no answer, budget
                stopped.append(f"a login failed: {exc}")
                return
            ctx.progress.advance("C9", min(len(ctx.session_ids), want), want)

    async with asyncio.TaskGroup() as group:
        for _ in range(ctx.concurrency):
            group.create_task(worker())
    return (stopped[0] if stopped else None), signed_payloads()


async def check_session_ids(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login")
    if why:
        return CheckResult.not_applicable("C9", why)
    mark = ctx.client.mark()
    want = ctx.samples
    stopped, signed = await _sample(ctx, want)
    ids = ctx.session_ids[:want]
    exchanges = ctx.client.since(mark)
    evidence: list[Evidence] = list(exchanges[:_SHOWN])
    if len(exchanges) > _SHOWN:
        evidence.append(Note(f"... and {len(exchanges) - _SHOWN} more sampling requests"))
    if not ids:
        return CheckResult.not_applicable(
            "C9", stopped or "no session id could be sampled", evidence=evidence
        )
    report = analyse(ids, min_bits=ctx.min_bits)
    evidence += [Note(line) for line in report.describe()]
    if report.payload is not None:
        if signed and len(ids) < want:
            evidence.append(
                Note(f"sampling stopped after {len(ids)} ids: each is a signed payload")
            )
        if report.encoding == "jwt":
            return CheckResult.not_applicable(
                "C9",
                f"the session cookie is a JWT, {_SIGNED_REASON} (its lifetime is C7's subject)",
                code="session_is_jwt",
                evidence=evidence,
            )
        return CheckResult.not_applicable(
            "C9",
            f"the session cookie is {report.payload}, {_SIGNED_REASON}",
            code="signed_payload",
            evidence=evidence,
        )
    findings = [
        Finding(p.severity, p.code, p.message, _FIX if p.severity == "fail" else "")
        for p in report.problems
    ]
    if stopped:  # first: it is why the other findings are weak
        findings.insert(
            0,
            Finding(
                "warn", "sampled_fewer", f"sampled {len(ids)} of {want} ids: {stopped}", _FIX_FEWER
            ),
        )
    bad = [f for f in findings if f.severity == "fail"] or findings
    summary = (
        "; ".join(f.message for f in bad)
        if bad
        else f"{report.samples} ids: {report.encoding}, {report.capacity_bits:.0f} bits, "
        "no bias, no order, no duplicates"
    )
    return CheckResult.from_findings("C9", summary, findings, evidence)
