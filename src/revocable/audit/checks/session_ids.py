"""C9: session ids come from a CSPRNG and carry at least 128 bits.

The auditor logs in ``samples`` times (every earlier login of the run counts
too), a few at once, logging each sample out at once, and hands the ids, in the
order they arrived, to ``entropy.analyse``. It stops early at the first 429 (a
login rate limit), when the request budget runs low, or when the sampling time
is up, and says so: fewer ids is a weaker verdict (a warning).
"""

from __future__ import annotations

import asyncio
import time

from revocable.audit.client import AuditError
from revocable.audit.context import AuditContext, RateLimited
from revocable.audit.entropy import analyse
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["check_session_ids"]

_FIX = "Make session ids 32 bytes from the OS CSPRNG, e.g. secrets.token_urlsafe(32)."
_FIX_FEWER = (
    "For a full sample, lift the login rate limit during the audit "
    "(revocable serve --login-rate-limit off), or raise --max-requests or --sample-seconds."
)
_SHOWN = 4  # sampling exchanges kept as evidence (the rest are alike)


async def _sample(ctx: AuditContext, want: int) -> str | None:
    """Log in until ``want`` ids are known; why it stopped early, or None.

    ``ctx.concurrency`` logins run at once (a login that hashes a password is
    slow, and the hash often runs on another core); the client's rate still
    holds. No new login starts after ``ctx.sample_seconds``.
    """
    stopped: list[str] = []
    reserve = 5 + sum(1 for s in ctx.sessions if s.alive)  # room left for the cleanup
    per_sample = 2 if ctx.target.logout is not None else 1
    deadline = time.monotonic() + ctx.sample_seconds
    started = time.monotonic()
    launched = len(ctx.session_ids)

    async def worker() -> None:
        nonlocal launched
        while not stopped and launched < want:
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
            ctx.progress.advance(min(len(ctx.session_ids), want), want)

    async with asyncio.TaskGroup() as group:
        for _ in range(ctx.concurrency):
            group.create_task(worker())
    return stopped[0] if stopped else None


async def check_session_ids(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login")
    if why:
        return CheckResult.not_applicable("C9", why)
    mark = ctx.client.mark()
    want = ctx.samples
    stopped = await _sample(ctx, want)
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
    if report.encoding == "jwt":
        return CheckResult.not_applicable(
            "C9",
            "the session cookie is a JWT: its strength is the signing key, not a random id "
            "(its lifetime is C7's subject)",
            code="session_is_jwt",
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
