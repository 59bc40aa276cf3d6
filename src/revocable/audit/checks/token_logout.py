"""C3 for token apps: after logout, and after a token revoke, the refresh token mints nothing.

A logout that forgets the refresh token logs out nobody: flask-jwt-extended's
``unset_jwt_cookies`` only asks the browser to drop its cookies, and the refresh
cookie (30 days, scoped to the refresh path) never even reaches the logout. So
for each transport the target names, from a token login of its own, C3 also:

1. **control**: refreshes once. Refused, the replays below would prove nothing: a warning
   (``refresh_untested``), and that transport stops there.
2. **logout** (cookie transport, when the token cookies sign in at the protected URL,
   that is, a browser is signed in by them): logs out as that browser would (its cookies,
   its CSRF token), then replays the refresh token at the refresh endpoint. Still minting
   tokens fails: ``refresh_survives_logout``.
3. **revoke** (when the target names one and the family still refreshes): revokes it,
   then replays again. Still minting fails: ``refresh_survives_revoke``.

A body-transport (bearer) client has no logout to test; the revoke is its logout.
Evidence shows tokens by length only; families left alive are revoked with C8's, at
the end (``tokenflow.revoke_later``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revocable.audit.client import Response
from revocable.audit.context import AuditContext
from revocable.audit.cookies import clean
from revocable.audit.result import Finding, Note
from revocable.audit.target import Tokens
from revocable.audit.tokenflow import (
    TokenLogin,
    accepted,
    get_tokens,
    refresh,
    refresh_token_in,
    revoke,
    revoke_later,
)

__all__ = ["RefreshReplays", "refresh_after_logout"]

_FIX_LOGOUT = (
    "On logout, revoke the refresh token (its family) on the server too, not only the access "
    "token or the cookies: the refresh token is the long-lived key."
)
_FIX_REVOKE = "Make the revoke endpoint delete the refresh token's family on the server."
_FIX_UNTESTED = (
    "Check [tokens] refresh, refresh_field, refresh_cookie and refresh_csrf_cookie/header: a "
    "fresh refresh token was refused."
)


@dataclass
class RefreshReplays:
    """What C3's token part found: findings, notes, and the transports it could test."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    tested: list[str] = field(default_factory=list)


def _status(answer: Response) -> str:
    body = answer.json()
    error = body.get("error") if isinstance(body, dict) else None
    return f"{answer.status}" + (f" {clean(error, 60)}" if isinstance(error, str) else "")


async def _replay(
    ctx: AuditContext, tokens: Tokens, login: TokenLogin, *, after: str, out: RefreshReplays
) -> Response | None:
    """Present the family's latest refresh token again: the answer if it still mints tokens,
    None if it was refused."""
    t = login.transport
    answer = await refresh(
        ctx, login, login.refresh or "", step=f"{t}: replay the refresh token after {after}"
    )
    if not accepted(answer):
        login.alive = False  # shown dead: nothing to revoke
        out.notes.append(Note(f"{t}: the refresh token after {after}: {_status(answer)}"))
        return None
    login.alive = True
    login.refresh = refresh_token_in(answer, login, tokens) or login.refresh  # to revoke later
    return answer


async def _browser_logout(
    ctx: AuditContext, tokens: Tokens, login: TokenLogin, control: Response, out: RefreshReplays
) -> bool:
    """The browser signed in by the token cookies logs out, and its refresh token is replayed
    (a finding if it still mints tokens); False if there was no such logout to test."""
    t, logout, protected = login.transport, ctx.target.logout, ctx.target.protected
    if logout is None or protected is None or ctx.cannot("protected") or tokens.refresh is None:
        return False
    answers = [(login.answer, tokens.token.path), (control, tokens.refresh.path)]
    browser = await ctx.adopt(
        answers, login.access_cookie or "", step=f"{t}: the CSRF token of the token login"
    )
    if not await ctx.is_alive(browser, step=f"{t}: do the token cookies sign in?"):
        out.notes.append(
            Note(f"{t}: the token cookies do not sign in at {protected.path}: no logout to test")
        )
        return False
    answer = await ctx.logout(browser, step=f"{t}: log out the browser signed in by the tokens")
    if not answer.ok:
        out.notes.append(Note(f"{t}: logout with the token cookies answered {_status(answer)}"))
        return False
    replay = await _replay(ctx, tokens, login, after="logout", out=out)
    if replay is not None:
        out.findings.append(
            Finding(
                "fail",
                "refresh_survives_logout",
                f"{t}: after logout ({answer.status}) the refresh token still mints tokens "
                f"({replay.status} on {tokens.refresh.path}): logout did not revoke it",
                _FIX_LOGOUT,
            )
        )
    return True


async def _one(ctx: AuditContext, tokens: Tokens, login: TokenLogin, out: RefreshReplays) -> None:
    t = login.transport
    if login.refresh is None:
        out.notes.append(Note(f"{t}: the token answer holds no refresh token"))
        return
    control = await refresh(ctx, login, login.refresh, step=f"{t}: refresh once (control)")
    if not accepted(control):
        out.findings.append(
            Finding(
                "warn",
                "refresh_untested",
                f"{t}: a fresh refresh token was refused ({_status(control)}), so whether "
                "logout ends it is untested",
                _FIX_UNTESTED,
            )
        )
        return
    login.refresh = refresh_token_in(control, login, tokens) or login.refresh
    tested = t == "cookie" and await _browser_logout(ctx, tokens, login, control, out)
    if tokens.revoke is not None and login.alive:
        answer = await revoke(ctx, login, step=f"{t}: revoke the token family")
        tested = True
        replay = await _replay(ctx, tokens, login, after="the revoke", out=out)
        if replay is not None:
            out.findings.append(
                Finding(
                    "fail",
                    "refresh_survives_revoke",
                    f"{t}: after the revoke ({_status(answer)}) the refresh token still mints "
                    f"tokens ({replay.status})",
                    _FIX_REVOKE,
                )
            )
    if tested:
        out.tested.append(t)
    else:
        out.notes.append(
            Note(f"{t}: neither a logout by the token cookies nor a revoke endpoint to test")
        )


async def refresh_after_logout(ctx: AuditContext) -> RefreshReplays:
    """C3's token part, per transport (nothing without a refresh endpoint)."""
    tokens = ctx.target.tokens
    if tokens is None or tokens.refresh is None or ctx.credentials is None:
        return RefreshReplays()
    out = RefreshReplays()
    logins: list[TokenLogin] = []
    try:
        for transport in tokens.transports:
            login = await get_tokens(ctx, transport, step=f"{transport}: get tokens (C3)")
            logins.append(login)
            await _one(ctx, tokens, login, out)
    finally:
        revoke_later(ctx, logins)  # with C8's, at the end: one note for what is left
    return out
