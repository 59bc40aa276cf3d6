"""The ready auth router: register, login, logout, devices, password, me (FastAPI).

    app.include_router(accounts_router(auth, store, PasswordHasher()))

Requests take JSON or HTML-form bodies. JSON callers get JSON; form posts
(the reference server's pages) get a 303 back to ``/`` (``/?error=code`` on
failure), so plain forms work without JavaScript. Every state-changing route is
declared POST or DELETE only: a GET on one is a 405.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from revocable.core.ratelimit import RateLimit, client_network, counter_key, retry_after
from revocable.core.sessions import SessionRecord
from revocable.core.users import check_password, new_user, username_key
from revocable.errors import InvalidInput
from revocable.events import SecurityEvents
from revocable.fastapi import (
    AuthHTTPError,
    CredentialDependencies,
    Principal,
    SessionDependencies,
)
from revocable.passwords import PasswordHasher
from revocable.requests import read_fields, refuse_cross_site
from revocable.starlette import login, logout, request_session
from revocable.stores.base import CounterStore, UserStore
from revocable.web import SessionAuth

if TYPE_CHECKING:  # the token layer (PyJWT) is optional
    from revocable.refresh import RefreshTokens
    from revocable.tokenauth import TokenAuth

__all__ = ["DEFAULT_LOGIN_LIMIT", "accounts_router"]

_FORM = "application/x-www-form-urlencoded"


DEFAULT_LOGIN_LIMIT = RateLimit(10, 60.0)
"""Login attempts per username per minute; each client IP gets five times as many."""


def accounts_router(
    auth: SessionAuth,
    users: UserStore,
    hasher: PasswordHasher,
    *,
    counters: CounterStore | None = None,
    login_limit: RateLimit | None = DEFAULT_LOGIN_LIMIT,
    tokens: TokenAuth | None = None,
    refresh: RefreshTokens | None = None,
) -> APIRouter:
    """The HTTP contract's account routes, over ``auth`` and ``users``.

    With ``counters`` (usually the same store) and a ``login_limit``, login
    attempts are limited per username and per client IP: 429 with Retry-After.
    With ``tokens`` and ``refresh``, the token endpoints are mounted too (the
    app's ``SessionMiddleware`` needs the same ``tokens``), ``/api/me``,
    logout and "log out all devices" accept an access token (Bearer or cookie)
    as well as the session, and "log out all devices" and password changes
    revoke the user's refresh families with the sessions.
    """
    deps = SessionDependencies(auth)
    principals = CredentialDependencies(auth, users=users if tokens is not None else None)
    sessions = auth.sessions
    router = APIRouter()

    async def authenticate(request: Request, fields: dict[str, str]) -> tuple[str, str]:
        """Check a username and password (rate-limited, same answer for unknown users)."""
        username, password = fields.get("username", ""), fields.get("password", "")
        client_ip = request_session(request).client_ip or ""
        if counters is not None and login_limit is not None:
            subject = ("login-user", username_key(username))
            await _limit(counters, login_limit, sessions.events, client_ip, subject)
        user = await users.find_user(username) if username else None
        # Unknown users are checked against a dummy hash: same answer, same time.
        if not await hasher.verify(user.password_hash if user else None, password) or not user:
            sessions.events.emit(
                "login.failed",
                user_id=user.id if user else None,
                ip=client_ip or None,
                reason="invalid_credentials",
            )
            raise AuthHTTPError(401, "invalid_credentials", "wrong username or password")
        if hasher.needs_rehash(user.password_hash):
            await users.set_password_hash(user.id, await hasher.hash(password), time.time())
        return user.id, user.username

    async def end_tokens(user_id: str, *, keep_family: str | None = None) -> None:
        """The token half of "log out all devices": every refresh family of the user (but
        ``keep_family``), and a "not before" that refuses their outstanding access tokens
        where it is checked (a kept family's client refreshes to get a new one)."""
        await users.set_not_before(user_id, time.time())
        if refresh is None:
            return
        if keep_family is None:
            await refresh.revoke_user(user_id)
            return
        for family in await refresh.list_families(user_id):
            if family.family_id != keep_family:
                await refresh.revoke(family.family_id)

    if tokens is not None and refresh is not None:
        from revocable.tokens_api import tokens_router  # PyJWT only when tokens are on

        async def authenticate_tokens(request: Request, fields: dict[str, str]) -> tuple[str, str]:
            refuse_cross_site(auth.policy, request)
            return await authenticate(request, fields)

        router.include_router(tokens_router(tokens, refresh, authenticate_tokens, principals))

    async def check_password_attempt(request: Request, session: SessionRecord) -> None:
        """Signed-in password checks (reauth, password change) count like logins do."""
        if counters is not None and login_limit is not None:
            ip = request_session(request).client_ip or ""
            subject = ("reauth-user", session.user_id)
            await _limit(counters, login_limit, sessions.events, ip, subject)

    def _failed(request: Request, session: SessionRecord) -> None:
        ip = request_session(request).client_ip
        sessions.events.emit(
            "login.failed",
            user_id=session.user_id,
            session=session.handle,
            ip=ip,
            reason="invalid_credentials",
        )

    @router.post("/auth/register", status_code=201)
    async def register(request: Request) -> Any:
        fields, is_form = await read_fields(request)
        refuse_cross_site(auth.policy, request)
        try:
            password_hash = await hasher.hash(fields.get("password", ""))
            user = new_user(fields.get("username", ""), password_hash, time.time())
        except InvalidInput as exc:
            raise AuthHTTPError(422, exc.code, str(exc)) from None
        if not await users.insert_user(user):
            raise AuthHTTPError(409, "username_taken", "that username is taken")
        if is_form:
            return RedirectResponse("/?registered=1", status_code=303)
        return {"id": user.id, "username": user.username}

    @router.post("/auth/login")
    async def do_login(request: Request) -> Any:
        fields, is_form = await read_fields(request)
        refuse_cross_site(auth.policy, request)
        user_id, username = await authenticate(request, fields)
        response = _reply(is_form, {})
        await login(request, response, user_id, data={"username": username})
        body = {"user": _user_json(user_id, username), "csrf_token": _csrf(request)}
        return _finish(response, is_form, body)

    @router.post("/auth/logout")
    async def do_logout(request: Request) -> Any:
        """Revoke the session if there is one; always clear the cookie (a dead one too).
        A browser signed in by the access cookie has its refresh family revoked instead."""
        is_form = _is_form(request)
        response = _reply(is_form, {})
        await logout(request, response)
        found = request_session(request).access
        if tokens is not None and refresh is not None and found is not None:
            if found.via == "cookie" and found.claims and found.claims.family_id:
                await refresh.revoke(found.claims.family_id)
            if found.via == "cookie":
                for cookie in tokens.clearing_cookies():
                    response.headers.append("set-cookie", cookie)
        return _finish(response, is_form, {"ok": True})

    @router.post("/auth/logout-all")
    async def logout_all(
        request: Request,
        keep_current: bool = False,
        principal: Principal = Depends(principals.required),
    ) -> Any:
        """Every session and token family of the user ends; ``keep_current`` keeps the
        caller's own session (or token family)."""
        is_form = _is_form(request)
        session, claims = principal.session, principal.access
        keep = session.handle if keep_current and session else None
        revoked = await sessions.revoke_all(principal.user_id, keep_handle=keep)
        keep_family = claims.family_id if keep_current and claims else None
        await end_tokens(principal.user_id, keep_family=keep_family)
        response = _reply(is_form, {})
        if not keep_current:
            response.headers.append("set-cookie", auth.clearing_cookie())
            if tokens is not None and claims is not None:
                for cookie in tokens.clearing_cookies():
                    response.headers.append("set-cookie", cookie)
        return _finish(response, is_form, {"revoked": revoked})

    @router.get("/auth/sessions")
    async def list_sessions(session: SessionRecord = Depends(deps.required)) -> Any:
        records = await sessions.list_sessions(session.user_id)
        return [_session_json(r, current=r.handle == session.handle) for r in records]

    @router.delete("/auth/sessions/{handle}", status_code=204, response_class=Response)
    async def revoke_session(
        handle: str, session: SessionRecord = Depends(deps.required)
    ) -> Response:
        if not await sessions.revoke_handle(session.user_id, handle):
            raise AuthHTTPError(404, "session_not_found", "no such session of yours")
        return Response(status_code=204)

    @router.post("/auth/sessions/{handle}/revoke")
    async def revoke_session_form(
        handle: str, request: Request, session: SessionRecord = Depends(deps.required)
    ) -> Any:
        """The same as DELETE, for HTML forms (which cannot send DELETE)."""
        found = await sessions.revoke_handle(session.user_id, handle)
        if _is_form(request):
            return RedirectResponse("/" if found else "/?error=session_not_found", 303)
        if not found:
            raise AuthHTTPError(404, "session_not_found", "no such session of yours")
        return {"ok": True}

    @router.post("/auth/password")
    async def change_password(
        request: Request, session: SessionRecord = Depends(deps.required)
    ) -> Any:
        fields, is_form = await read_fields(request)
        await check_password_attempt(request, session)
        user = await users.get_user(session.user_id)
        if user is None or not await hasher.verify(
            user.password_hash, fields.get("current_password", "")
        ):
            _failed(request, session)
            raise AuthHTTPError(401, "invalid_credentials", "the current password is wrong")
        try:
            new_hash = await hasher.hash(check_password(fields.get("new_password", "")))
        except InvalidInput as exc:
            raise AuthHTTPError(422, exc.code, str(exc)) from None
        await users.set_password_hash(user.id, new_hash, time.time())
        revoked = await sessions.revoke_all(user.id, keep_handle=session.handle)
        await end_tokens(user.id)
        response = _reply(is_form, {})
        state = request_session(request)
        rotated = await sessions.rotate(state.token, reauthenticated=True)
        if rotated is not None:  # a privilege change gets a new token (fixation defence)
            response.headers.append("set-cookie", auth.session_cookie(rotated))
            state.record, state.token = rotated.record, rotated.token
        return _finish(response, is_form, {"revoked": revoked, "csrf_token": _csrf(request)})

    @router.post("/auth/reauth")
    async def reauthenticate(
        request: Request, session: SessionRecord = Depends(deps.required)
    ) -> Any:
        """Prove the password again ("sudo mode"): the session gets a new token and a fresh
        ``authenticated_at``, which ``SessionDependencies.recent`` checks."""
        fields, is_form = await read_fields(request)
        await check_password_attempt(request, session)
        user = await users.get_user(session.user_id)
        if user is None or not await hasher.verify(user.password_hash, fields.get("password")):
            _failed(request, session)
            raise AuthHTTPError(401, "invalid_credentials", "wrong password")
        state = request_session(request)
        rotated = await sessions.rotate(state.token, reauthenticated=True)
        if rotated is None:
            raise AuthHTTPError(401, "not_authenticated", "the session ended; sign in again")
        response = _reply(is_form, {})
        response.headers.append("set-cookie", auth.session_cookie(rotated))
        state.record, state.token = rotated.record, rotated.token
        return _finish(response, is_form, {"ok": True, "csrf_token": _csrf(request)})

    @router.get("/api/me")
    async def me(principal: Principal = Depends(principals.required)) -> Any:
        if principal.session is not None:
            return _user_json(principal.user_id, str(principal.session.data.get("username", "")))
        user = principal.user or await users.get_user(principal.user_id)
        if user is None:
            raise AuthHTTPError(401, "not_authenticated", "sign in first")
        return _user_json(user.id, user.username)

    return router


async def _limit(
    counters: CounterStore,
    limit: RateLimit,
    events: SecurityEvents,
    client_ip: str,
    subject: tuple[str, str],
) -> None:
    """Count a password attempt per client network and per subject; 429 once either is over.

    ``subject`` is ``("login-user", username key)`` for logins and
    ``("reauth-user", user id)`` for re-authentication and password changes.
    """
    now = time.time()
    checks = (("login-ip", client_network(client_ip), limit.scaled(5)), (*subject, limit))
    for purpose, value, rule in checks:
        if await counters.hit(counter_key(purpose, value), rule.window, now) > rule.attempts:
            events.emit("login.rate_limited", ip=client_ip or None, reason=purpose)
            wait = retry_after(rule.window, now)
            raise AuthHTTPError(
                429,
                "rate_limited",
                f"too many password attempts; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == _FORM


def _reply(is_form: bool, body: Mapping[str, Any]) -> Response:
    return RedirectResponse("/", status_code=303) if is_form else JSONResponse(dict(body))


def _finish(response: Response, is_form: bool, body: Mapping[str, Any]) -> Response:
    """The response with its final JSON body (form posts keep their redirect)."""
    if is_form:
        return response
    final = JSONResponse(dict(body))
    for name, value in response.headers.items():
        if name == "set-cookie":
            final.headers.append(name, value)
    return final


def _csrf(request: Request) -> str | None:
    return request_session(request).csrf_token


def _user_json(user_id: str, username: str) -> dict[str, str]:
    return {"id": user_id, "username": username}


def _session_json(record: SessionRecord, *, current: bool) -> dict[str, Any]:
    return {
        "handle": record.handle,
        "created_at": _iso(record.created_at),
        "last_seen": _iso(record.last_seen),
        "ip": record.client_ip,
        "user_agent": record.user_agent,
        "current": current,
    }


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
