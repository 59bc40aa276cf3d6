"""C3 and C4: logging out kills the session on the server; "log out all devices" kills them all.

Both replay the cookie a browser held before logging out: a server that only
told the browser to forget its cookie still answers it as signed in. For token
apps C3 also replays the refresh token after logout and after a revoke
(``token_logout``). C4 fails outright when the target says the app has no
log-out-all (``logout_all = false``).
"""

from __future__ import annotations

from revocable.audit.checks.token_logout import refresh_after_logout
from revocable.audit.context import AuditContext
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["check_logout", "check_logout_all"]

_FIX_LOGOUT = (
    "On logout, delete the session on the server (revoke it in the store), not only the cookie."
)
_FIX_LOGOUT_ALL = (
    "Make log-out-all delete every session of the user server-side (one store operation)."
)
_FIX_REFUSED = "Check the target description: the auditor's own logout request was refused."
_FIX_NO_LOGOUT_ALL = (
    'Add "log out all devices": one endpoint that ends every session (and refresh token '
    "family) of the user server-side, from any of them."
)


async def check_logout(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login", "protected", "logout")
    protected = ctx.target.protected
    if why or protected is None:
        return CheckResult.not_applicable("C3", why or "no protected URL")
    mark = ctx.client.mark()
    session = ctx.first if ctx.first is not None and ctx.first.alive else None
    if session is None:
        session = await ctx.login()
        if not await ctx.is_alive(session, step="check the new session signs in"):
            return CheckResult.from_findings(
                "C3",
                "a fresh login did not sign in",
                [Finding("warn", "login_failed", "a fresh login did not sign in", _FIX_REFUSED)],
                ctx.client.since(mark),
            )
    held = session.jar.header_for(protected.path)
    answer = await ctx.logout(session)
    if not answer.ok:
        return CheckResult.from_findings(
            "C3",
            f"the logout request was refused ({answer.status}); logout could not be tested",
            [Finding("warn", "logout_refused", f"logout answered {answer.status}", _FIX_REFUSED)],
            ctx.client.since(mark),
        )
    cleared = any(
        c.name == session.cookie_name and c.is_deletion(answer.date) for c in answer.cookies
    )
    replay = await ctx.check_signed_in(held, step="replay the old cookie after logout")
    findings = [
        Finding(
            "info",
            "logout_clears_cookie" if cleared else "logout_keeps_cookie",
            "logout told the browser to delete the cookie"
            if cleared
            else "logout did not tell the browser to delete the cookie",
        )
    ]
    ctx.logout_revokes = not ctx.signed_in(replay)
    if not ctx.logout_revokes:
        session.alive = True
        findings.append(
            Finding(
                "fail",
                "session_survives_logout",
                f"after logout the old cookie still signs in ({replay.status} on "
                f"{protected.path}): only the browser's copy was dropped",
                _FIX_LOGOUT,
            )
        )
    refused = f"after logout the old cookie is refused ({replay.status} on {protected.path})"
    tokens = await refresh_after_logout(ctx)
    findings += tokens.findings
    evidence: list[Evidence] = [*ctx.client.since(mark), *tokens.notes]
    bad = [f for f in findings if f.severity == "fail"] or [
        f for f in findings if f.severity == "warn"
    ]
    summary = "; ".join(f.message for f in bad) if bad else refused
    if not bad and tokens.tested:
        summary += f"; so is the refresh token ({' and '.join(tokens.tested)} transport)"
    return CheckResult.from_findings("C3", summary, findings, evidence)


async def check_logout_all(ctx: AuditContext) -> CheckResult:
    target = ctx.target
    if target.no_logout_all:
        message = "the app has no way to log out all devices (the target says logout_all = false)"
        return CheckResult.from_findings(
            "C4",
            message,
            [Finding("fail", "no_logout_all", message, _FIX_NO_LOGOUT_ALL)],
            [Note("nothing to replay: without it a user cannot end a session on a lost device")],
        )
    why = ctx.cannot("login", "protected", "logout_all")
    if why or target.protected is None or target.logout_all is None:
        return CheckResult.not_applicable("C4", why or "no log-out-all endpoint")
    path = target.protected.path
    mark = ctx.client.mark()
    a = await ctx.login("log in (device A)")
    b = await ctx.login("log in (device B)")
    for name, session in (("A", a), ("B", b)):
        if not await ctx.is_alive(session, step=f"check device {name} is signed in"):
            return CheckResult.from_findings(
                "C4",
                f"device {name}'s login did not sign in; log-out-all could not be tested",
                [Finding("warn", "login_failed", f"device {name} did not sign in", _FIX_REFUSED)],
                ctx.client.since(mark),
            )
    held_a, held_b = a.jar.header_for(path), b.jar.header_for(path)
    answer = await ctx.send(target.logout_all, a, step="log out all devices, from device A")
    if not answer.ok:
        return CheckResult.from_findings(
            "C4",
            f"the log-out-all request was refused ({answer.status}); it could not be tested",
            [
                Finding(
                    "warn",
                    "logout_all_refused",
                    f"log-out-all answered {answer.status}",
                    _FIX_REFUSED,
                )
            ],
            ctx.client.since(mark),
        )
    replay_a = await ctx.check_signed_in(held_a, step="replay device A's cookie")
    replay_b = await ctx.check_signed_in(held_b, step="replay device B's cookie")
    a.alive, b.alive = ctx.signed_in(replay_a), ctx.signed_in(replay_b)
    findings: list[Finding] = []
    if b.alive:
        findings.append(
            Finding(
                "fail",
                "logout_all_ineffective",
                f"after log-out-all, the other device's cookie still signs in ({replay_b.status})",
                _FIX_LOGOUT_ALL,
            )
        )
    if a.alive:
        kept = "the device that asked kept its session"
        findings.append(
            Finding("info", "logout_all_keeps_current", kept + " (as the target says)")
            if target.logout_all_keeps_current
            else Finding(
                "warn",
                "logout_all_keeps_current",
                kept + "; if that is meant, set logout_all.keeps_current in the target",
                _FIX_LOGOUT_ALL,
            )
        )
    evidence: list[Evidence] = [*ctx.client.since(mark)]
    evidence.append(Note(f"replays: A {replay_a.status}, B {replay_b.status}"))
    bad = [f for f in findings if f.severity != "info"]
    summary = (
        "; ".join(f.message for f in bad)
        if bad
        else f"both devices' cookies are refused after log-out-all ({replay_a.status}, "
        f"{replay_b.status})"
    )
    return CheckResult.from_findings("C4", summary, findings, evidence)
