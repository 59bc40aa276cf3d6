"""C7: access tokens that are JWTs live minutes, not hours.

Two places a JWT shows up, both read without verifying (``jwts.peek``):

* the cookies of the first login: a JWT *session* cookie is an access token with
  a browser's lifetime, the seed's anti-pattern, and is judged as one (a cookie
  named like a refresh token is only described);
* the token endpoint, once per transport the target names: the access token
  field of the JSON answer, or the access cookie it sets (read here, never sent).

``exp - iat`` (``exp - now`` without ``iat``) above 15 minutes fails, above 10
warns; no ``exp`` fails (it never expires). An unsigned token warns; HS256 and
asymmetric signatures are noted. No JWT at all is "n/a". The token logins it
makes are left to C8 to rotate and revoke (see ``tokenflow``), or revoked at once
when the target has no refresh endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from revocable.audit.context import AuditContext
from revocable.audit.cookies import clean
from revocable.audit.jwts import (
    PeekedJwt,
    fingerprint,
    judge_access_token,
    looks_like_jwt,
    peek,
)
from revocable.audit.result import CheckResult, Evidence, Finding, Note
from revocable.audit.signed import recognise
from revocable.audit.tokenflow import TokenLogin, get_tokens, leave_for_later, revoke_families

__all__ = ["check_access_token_lifetime"]

_REFRESHISH = re.compile(r"refresh", re.IGNORECASE)
_FIX_NOT_FOUND = "Name where the access token is: [tokens] access_field or access_cookie."


@dataclass
class _Seen:
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    algs: set[str] = field(default_factory=set)
    judged: int = 0
    opaque: int = 0
    cookies: set[str] = field(default_factory=set)
    """Cookies of the first login judged as access tokens (by name)."""

    def judge(self, token: PeekedJwt, label: str, now: float) -> None:
        self.findings += judge_access_token(token, label=label, now=now)
        self.notes.append(Note(f"{label}: {token.describe(now)}"))
        self.algs.add(token.alg)
        self.judged += 1


def _login_cookies(ctx: AuditContext, seen: _Seen) -> None:
    """Judge the JWT cookies of the first login as access tokens (refresh ones: described)."""
    first = ctx.first
    if first is None:
        return
    now = first.login.date.timestamp()
    for cookie in first.login.cookies:
        if not cookie.value or cookie.is_deletion(first.login.date):
            continue
        token = peek(cookie.value) if looks_like_jwt(cookie.value) else None
        if token is None:
            continue
        name = clean(cookie.name, 60)
        if cookie.name != first.cookie_name and _REFRESHISH.search(cookie.name):
            seen.notes.append(
                Note(f"the login's cookie {name} is a refresh JWT: {token.describe(now)}")
            )
            continue
        session = cookie.name == first.cookie_name
        label = f"the session cookie {name}" if session else f"the login's cookie {name}"
        if session:
            seen.findings.append(
                Finding("info", "session_is_jwt", f"{label} is a JWT: judged as an access token")
            )
        seen.judge(token, label, now)
        seen.cookies.add(cookie.name)


async def _token_endpoint(ctx: AuditContext, logins: list[TokenLogin], seen: _Seen) -> None:
    """Get tokens once per transport and judge each access token."""
    tokens = ctx.target.tokens
    if tokens is None:
        return
    if ctx.credentials is None:
        why = ctx.cannot("login") or "no credentials"
        seen.notes.append(Note(f"the token endpoint was not tried: {why}"))
        return
    for transport in tokens.transports:
        login = await get_tokens(ctx, transport, step=f"get tokens ({transport} transport)")
        logins.append(login)
        label = f"{login.access_label} ({transport} transport)"
        if login.access is None:
            seen.findings.append(
                Finding(
                    "warn",
                    "access_token_not_found",
                    f"the {transport} transport's answer holds no access token "
                    f"(looked for {login.access_label})",
                    _FIX_NOT_FOUND,
                )
            )
            continue
        if login.access_cookie is not None and login.access_cookie in seen.cookies:
            seen.notes.append(
                Note(
                    f"{label}: the same cookie as the login's, judged once above: "
                    f"{fingerprint(login.access)}"
                )
            )
            continue
        token = peek(login.access)
        if token is None:
            seen.opaque += 1
            seen.notes.append(Note(f"{label} is opaque, not a JWT: {fingerprint(login.access)}"))
            continue
        seen.judge(token, label, login.answer.date.timestamp())


def _not_a_jwt(ctx: AuditContext) -> str:
    """``the session cookie is not a JWT``, naming the signed payload it is, if it is one."""
    first = ctx.first
    value = "" if first is None else (first.session_id or ctx.session_ids[0])
    signed = recognise(value)
    return f"the session cookie is {signed.describe() + ', ' if signed else ''}not a JWT"


async def check_access_token_lifetime(ctx: AuditContext) -> CheckResult:
    mark = ctx.client.mark()
    seen = _Seen()
    logins: list[TokenLogin] = []
    _login_cookies(ctx, seen)
    try:
        await _token_endpoint(ctx, logins, seen)
    finally:
        tokens = ctx.target.tokens
        if tokens is not None and tokens.refresh is not None:
            leave_for_later(ctx, logins)  # C8 rotates them, then revokes what is left
        else:
            await revoke_families(ctx, logins, who="cleanup (C7)")
    evidence: list[Evidence] = [*ctx.client.since(mark), *seen.notes]
    bad = [f for f in seen.findings if f.severity in ("fail", "warn")]
    if not seen.judged and not bad:
        if seen.opaque:
            reason = "the access tokens are opaque, not JWTs: their lifetime is the server's"
        elif ctx.target.tokens is None:
            reason = "the app issues no JWT: " + (
                _not_a_jwt(ctx) if ctx.first is not None else (ctx.cannot("login") or "no login")
            )
            reason += " and the target names no token endpoint ([tokens] token)"
        else:
            reason = next((n.text for n in seen.notes), "no access token could be read")
        return CheckResult.not_applicable("C7", reason, code="no_jwt", evidence=evidence)
    if bad:
        worst = [f for f in bad if f.severity == "fail"] or bad
        summary = "; ".join(f.message for f in worst)
    else:
        lived = [f.message for f in seen.findings if f.code == "access_token_short"]
        summary = "; ".join(lived) + f" (signed with {', '.join(sorted(seen.algs))})"
    return CheckResult.from_findings("C7", summary, seen.findings, evidence)
