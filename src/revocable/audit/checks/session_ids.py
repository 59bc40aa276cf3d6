"""C9: session ids come from a CSPRNG and carry at least 128 bits.

The auditor logs in ``samples`` times (every earlier login of the run counts
too), logging each sample out at once, and hands the ids, in order, to
``entropy.analyse``. It stops early at the first 429 (a login rate limit) or
when the request budget runs low, and says so: fewer ids is a weaker verdict.
"""

from __future__ import annotations

from revocable.audit.client import AuditError
from revocable.audit.context import AuditContext, LoginFailed, RateLimited
from revocable.audit.entropy import analyse
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["check_session_ids"]

_FIX = "Make session ids 32 bytes from the OS CSPRNG, e.g. secrets.token_urlsafe(32)."
_FIX_FEWER = (
    "For a full sample, lift the login rate limit during the audit "
    "(revocable serve --login-rate-limit off) or raise --max-requests."
)
_SHOWN = 4  # sampling exchanges kept as evidence (the rest are alike)


async def check_session_ids(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login")
    if why:
        return CheckResult.not_applicable("C9", why)
    mark = ctx.client.mark()
    want = ctx.samples
    stopped: str | None = None
    reserve = 5 + sum(1 for s in ctx.sessions if s.alive)  # room left for the cleanup
    per_sample = 2 if ctx.target.logout is not None else 1
    while len(ctx.session_ids) < want:
        if ctx.client.remaining < reserve + per_sample:
            stopped = f"the request budget ({ctx.client.max_requests}) ran low"
            break
        try:
            session = await ctx.login("sample a session id")
            if ctx.target.logout is not None:
                await ctx.logout(session, step="log the sample out")
        except RateLimited as exc:
            stopped = f"the target rate-limits logins: {exc}"
            break
        except (LoginFailed, AuditError) as exc:
            stopped = f"a login failed: {exc}"
            break
        ctx.progress.advance(min(len(ctx.session_ids), want), want)
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
    if stopped:
        findings.append(
            Finding(
                "warn", "sampled_fewer", f"sampled {len(ids)} of {want} ids: {stopped}", _FIX_FEWER
            )
        )
    bad = [f for f in findings if f.severity == "fail"] or findings
    summary = (
        "; ".join(f.message for f in bad)
        if bad
        else f"{report.samples} ids: {report.encoding}, {report.capacity_bits:.0f} bits, "
        "no bias, no order, no duplicates"
    )
    return CheckResult.from_findings("C9", summary, findings, evidence)
