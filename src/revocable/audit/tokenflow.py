"""Acting as a token client of the target (C7, C8): get tokens, refresh them, revoke the family.

The target's ``[tokens]`` table says how (see ``target.Tokens``). Per transport:

* ``body``: the credentials go to the token endpoint, the answer's JSON holds the
  tokens; refresh and revoke requests send the refresh token in ``refresh_field``.
* ``cookie``: the answer sets an access cookie and a refresh cookie; the auditor
  sends the refresh cookie only to the refresh path, as a browser does with a
  cookie scoped there, and never sends the access cookie anywhere. With
  ``refresh_csrf_cookie``, the CSRF cookie set along with a refresh token goes
  with it, its value echoed in a header (double submit).

Every request carries the target's own ``Origin``, as a same-origin ``fetch``
does, so Origin and Fetch-Metadata guards let it through. Cleanup revokes each
family that may still be alive by POSTing its latest refresh token to the
revoke endpoint (the one place besides the refresh path that a token goes).

A token login costs the target a password hash and counts toward its login rate
limit, so C7 leaves the logins it made, their refresh tokens unused, for C8
(``leave_for_later``, ``take_spare``); C8, which the runner always runs after C7,
rotates them and revokes whatever is left (``leftovers``). C3 hands the logins it
used over for that same final revoke (``revoke_later``), so one note says what is
left; the runner revokes anything C8 did not get to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from revocable.audit.client import AuditError, Response
from revocable.audit.context import AuditContext, RateLimited
from revocable.audit.cookies import SetCookie, clean
from revocable.audit.jwts import duration, looks_like_jwt, peek
from revocable.audit.target import Endpoint, Tokens, Transport

__all__ = [
    "TokenLogin",
    "TokenRequestFailed",
    "accepted",
    "get_tokens",
    "leave_for_later",
    "leftovers",
    "refresh",
    "refresh_token_in",
    "refresh_validity",
    "revoke",
    "revoke_families",
    "revoke_later",
    "take_spare",
]

_REFRESHISH = re.compile(r"refresh", re.IGNORECASE)
_ACCESSISH = re.compile(r"access|token|jwt|auth", re.IGNORECASE)


class TokenRequestFailed(AuditError):
    """The token endpoint did not issue tokens to the test user."""

    code = "token_request_failed"


@dataclass(eq=False)
class TokenLogin:
    """One token login (one refresh family) of the test user, through one transport."""

    transport: Transport
    answer: Response = field(repr=False)
    access: str | None = field(default=None, repr=False)
    access_label: str = "the access token"
    refresh: str | None = field(default=None, repr=False)
    """The latest refresh token the auditor holds for this family."""
    refresh_cookie: str | None = None
    """Cookie transport: the refresh cookie's name."""
    access_cookie: str | None = None
    """Cookie transport: the access cookie's name."""
    csrf_for: dict[str, str] = field(default_factory=dict, repr=False)
    """Cookie transport with ``refresh_csrf_cookie``: each refresh token's CSRF value."""
    alive: bool = True
    """The family may still be alive: cleanup revokes it."""


def accepted(response: Response) -> bool:
    """A 2xx answer: the request was honoured (a 3xx to a login page is not)."""
    return 200 <= response.status < 300


def _spec(ctx: AuditContext) -> Tokens:
    tokens = ctx.target.tokens
    if tokens is None:
        raise AuditError("no [tokens] in the target")
    return tokens


async def _post(
    ctx: AuditContext,
    endpoint: Endpoint,
    fields: dict[str, str] | None,
    *,
    step: str,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = _spec(ctx).body
    return await ctx.client.request(
        endpoint.method,
        endpoint.path,
        step=step,
        cookie=cookie,
        headers={"Origin": ctx.client.origin, **(headers or {})},
        json=fields if fields is not None and body == "json" else None,
        form=fields if fields is not None and body == "form" else None,
    )


def _live(answer: Response) -> list[SetCookie]:
    return [c for c in answer.cookies if c.value and not c.is_deletion(answer.date)]


def _refresh_cookie(tokens: Tokens, cookies: list[SetCookie]) -> SetCookie | None:
    if tokens.refresh_cookie is not None:
        return next((c for c in cookies if c.name == tokens.refresh_cookie), None)
    if tokens.refresh is not None:
        path = tokens.refresh.path.split("?", 1)[0]
        scoped = [c for c in cookies if c.path and c.path != "/" and path.startswith(c.path)]
        if scoped:
            return scoped[0]
    return next((c for c in cookies if _REFRESHISH.search(c.name)), None)


def _access_cookie(
    tokens: Tokens, cookies: list[SetCookie], refresh: SetCookie | None
) -> SetCookie | None:
    if tokens.access_cookie is not None:
        return next((c for c in cookies if c.name == tokens.access_cookie), None)
    others = [c for c in cookies if c is not refresh]
    jwts = [c for c in others if looks_like_jwt(c.value)]
    named = [c for c in jwts or others if _ACCESSISH.search(c.name)]
    found = named or jwts
    return found[0] if found else None


async def get_tokens(ctx: AuditContext, transport: Transport, *, step: str) -> TokenLogin:
    """Log the test user in at the token endpoint; ``TokenRequestFailed`` unless it says 2xx."""
    tokens = _spec(ctx)
    creds = ctx.credentials
    if creds is None:
        raise TokenRequestFailed(ctx.cannot("login") or "no credentials for the test user")
    login = ctx.target.login
    fields = {
        login.username_field if login else "username": creds.username,
        login.password_field if login else "password": creds.password,
        **tokens.extra,
    }
    if tokens.transport_field:
        fields[tokens.transport_field] = transport
    answer = await _post(ctx, tokens.token, fields, step=step)
    if answer.status == 429:
        raise RateLimited("the token endpoint answered 429 (rate limited)")
    if not accepted(answer):
        raise TokenRequestFailed(
            f"{tokens.token} ({transport} transport) answered {answer.status}; check [tokens]"
        )
    if transport == "body":
        body: Any = answer.json()
        data = body if isinstance(body, dict) else {}
        access, refresh_token = data.get(tokens.access_field), data.get(tokens.refresh_field)
        return TokenLogin(
            transport,
            answer,
            access if isinstance(access, str) and access else None,
            f"the {clean(tokens.access_field, 40)} field",
            refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        )
    cookies = _live(answer)
    refresh_cookie = _refresh_cookie(tokens, cookies)
    access_cookie = _access_cookie(tokens, cookies, refresh_cookie)
    issued = TokenLogin(
        transport,
        answer,
        access_cookie.value if access_cookie else None,
        f"the {clean(access_cookie.name, 60)} cookie" if access_cookie else "the access cookie",
        refresh_cookie.value if refresh_cookie else None,
        refresh_cookie.name if refresh_cookie else None,
        access_cookie.name if access_cookie else None,
    )
    _remember_csrf(tokens, issued, answer)
    return issued


def _remember_csrf(tokens: Tokens, login: TokenLogin, answer: Response) -> None:
    """Note the CSRF cookie an answer sets along with a refresh cookie, for that token."""
    if tokens.refresh_csrf_cookie is None or login.refresh_cookie is None:
        return
    cookies = {c.name: c.value for c in _live(answer)}
    token, csrf = cookies.get(login.refresh_cookie), cookies.get(tokens.refresh_csrf_cookie)
    if token is not None and csrf is not None:
        login.csrf_for[token] = csrf


async def refresh(ctx: AuditContext, login: TokenLogin, token: str, *, step: str) -> Response:
    """Present ``token`` (this family's, current or not) at the refresh endpoint."""
    tokens = _spec(ctx)
    if tokens.refresh is None:
        raise AuditError("no refresh endpoint in the target")
    if login.transport == "cookie" and login.refresh_cookie is not None:
        cookie = f"{login.refresh_cookie}={token}"  # only the refresh cookie, only here
        headers: dict[str, str] = {}
        csrf = login.csrf_for.get(token)
        if csrf is not None and tokens.refresh_csrf_cookie is not None:
            cookie += f"; {tokens.refresh_csrf_cookie}={csrf}"
            csrf_spec = ctx.target.csrf
            default = csrf_spec.header if csrf_spec is not None else None
            headers[tokens.refresh_csrf_header or default or "X-CSRF-Token"] = csrf
        answer = await _post(ctx, tokens.refresh, None, step=step, cookie=cookie, headers=headers)
        if accepted(answer):
            _remember_csrf(tokens, login, answer)
        return answer
    return await _post(ctx, tokens.refresh, {tokens.refresh_field: token}, step=step)


def refresh_token_in(answer: Response, login: TokenLogin, tokens: Tokens) -> str | None:
    """The refresh token a refresh answer hands out, if it accepted and handed one out."""
    if not accepted(answer):
        return None
    if login.transport == "cookie":
        return next((c.value for c in _live(answer) if c.name == login.refresh_cookie), None)
    body: Any = answer.json()
    value = body.get(tokens.refresh_field) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


async def revoke(ctx: AuditContext, login: TokenLogin, *, step: str) -> Response:
    """POST the family's latest refresh token to the revoke endpoint; marks it dead if 2xx."""
    tokens = _spec(ctx)
    if tokens.revoke is None:
        raise AuditError("no revoke endpoint in the target")
    answer = await _post(ctx, tokens.revoke, {tokens.refresh_field: login.refresh or ""}, step=step)
    if accepted(answer):
        login.alive = False
    return answer


def refresh_validity(logins: Iterable[TokenLogin]) -> str:
    """`` for up to 30 days (the refresh token's exp)``, or the refresh cookie's Max-Age;
    empty when neither says."""
    longest: tuple[float, str] | None = None
    for login in logins:
        token = peek(login.refresh) if login.refresh else None
        lifetime = token.lifetime(login.answer.date.timestamp()) if token is not None else None
        source = "the refresh token's exp"
        if lifetime is None and login.refresh_cookie is not None:
            cookie = next((c for c in _live(login.answer) if c.name == login.refresh_cookie), None)
            lifetime = cookie.lifetime(login.answer.date) if cookie is not None else None
            source = "the refresh cookie's Max-Age"
        if lifetime is not None and (longest is None or lifetime > longest[0]):
            longest = (lifetime, source)
    return "" if longest is None else f" for up to {duration(longest[0])} ({longest[1]})"


async def revoke_families(ctx: AuditContext, logins: Iterable[TokenLogin], *, who: str) -> None:
    """Revoke each family that may still be alive; a run note says how that went."""
    alive = [login for login in logins if login.alive and login.refresh]
    if not alive:
        return
    tokens = _spec(ctx)
    if tokens.revoke is None:
        ctx.notes.append(
            f"{who}: {len(alive)} token login(s) of the test user may stay valid"
            f"{refresh_validity(alive)}: the target names no revoke endpoint ([tokens] revoke)"
        )
        return
    done = 0
    for login in alive:
        try:
            answer = await revoke(
                ctx, login, step=f"clean up: revoke the {login.transport} token family"
            )
        except AuditError:
            continue
        done += accepted(answer)
    ctx.notes.append(f"{who}: revoked {done} of {len(alive)} token famil(ies) the auditor created")


_SPARE: WeakKeyDictionary[AuditContext, list[TokenLogin]] = WeakKeyDictionary()
_LATER: WeakKeyDictionary[AuditContext, list[TokenLogin]] = WeakKeyDictionary()


def leave_for_later(ctx: AuditContext, logins: Iterable[TokenLogin]) -> None:
    """Keep token logins whose refresh token is unused for a later check of this run."""
    _SPARE.setdefault(ctx, []).extend(
        login for login in logins if login.alive and login.refresh is not None
    )


def take_spare(ctx: AuditContext, transport: Transport) -> TokenLogin | None:
    """A login left for later through ``transport`` (its refresh token never used), or None."""
    spare = _SPARE.get(ctx, [])
    found = next((login for login in spare if login.transport == transport), None)
    if found is not None:
        spare.remove(found)
    return found


def revoke_later(ctx: AuditContext, logins: Iterable[TokenLogin]) -> None:
    """Keep token logins that were used (not spares) for the final revoke (``leftovers``)."""
    _LATER.setdefault(ctx, []).extend(login for login in logins if login.alive)


def leftovers(ctx: AuditContext) -> list[TokenLogin]:
    """Every login left for later and not taken, and those kept for the final revoke
    (cleanup revokes them)."""
    return [*_SPARE.pop(ctx, []), *_LATER.pop(ctx, [])]
