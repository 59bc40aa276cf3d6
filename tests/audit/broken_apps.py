"""Small Starlette auth apps for the auditor to fail: correct by default, broken on purpose.

``make_app(Faults(...))`` builds one app; each fault breaks exactly one checklist
item, so a test can say which items must fail and which must still pass:

* ``cookie_flags``: the session cookie has no HttpOnly, Secure or SameSite (C1)
* ``logout_clears_only``: logout clears the cookie, the session lives on (C3)
* ``logout_all_noop``: log-out-all answers 200 and does nothing (C4)
* ``get_logout``: logout also answers GET (and so HEAD) (C5)
* ``no_csrf``: no CSRF token, Origin or Fetch-Metadata check (C6)
* ``no_origin_check``, ``no_fetch_metadata``, ``no_csrf_token``: one of those three
  defences missing, the others in place (C6)
* ``counter_ids``: session ids are a zero-padded hex counter (C9)
"""

from __future__ import annotations

import hmac
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

COOKIE = "sid"

TARGET: dict[str, Any] = {
    "login": {"path": "/login"},
    "register": {"path": "/register"},
    "logout": "/logout",
    "logout_all": "/logout-all",
    "protected": "/me",
    "csrf": {"source": "json", "name": "csrf_token", "header": "X-CSRF-Token"},
}
"""The target description of every app here."""


@dataclass(frozen=True)
class Faults:
    cookie_flags: bool = False
    logout_clears_only: bool = False
    logout_all_noop: bool = False
    get_logout: bool = False
    no_csrf: bool = False
    no_origin_check: bool = False
    no_fetch_metadata: bool = False
    no_csrf_token: bool = False
    counter_ids: bool = False


@dataclass
class _State:
    faults: Faults
    users: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> user
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000))

    session_ids: Callable[[], str] | None = None

    def new_id(self) -> str:
        if self.session_ids is not None:
            return self.session_ids()
        if self.faults.counter_ids:
            return f"{next(self.counter):032x}"
        return secrets.token_urlsafe(32)

    def csrf(self, session_id: str) -> str:
        return hmac.new(self.key, session_id.encode(), "sha256").hexdigest()


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": code.replace("_", " ")}, status)


def make_app(
    faults: Faults | None = None, *, session_ids: Callable[[], str] | None = None
) -> Starlette:
    """The app; ``session_ids`` replaces the id generator (e.g. with JWTs)."""
    state = _State(faults or Faults(), session_ids=session_ids)

    def set_cookie(response: Response, value: str, max_age: int) -> None:
        if state.faults.cookie_flags:
            response.headers.append("set-cookie", f"{COOKIE}={value}; Path=/; Max-Age={max_age}")
        else:
            response.headers.append(
                "set-cookie",
                f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax",
            )

    def current(request: Request) -> str | None:
        sid = request.cookies.get(COOKIE)
        return sid if sid is not None and sid in state.sessions else None

    def csrf_refusal(request: Request, sid: str) -> Response | None:
        if state.faults.no_csrf or request.method in ("GET", "HEAD"):
            return None
        faults = state.faults
        if request.headers.get("sec-fetch-site") == "cross-site" and not faults.no_fetch_metadata:
            return _error(403, "csrf_cross_site")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host')}"
        if origin is not None and origin != own and not faults.no_origin_check:
            return _error(403, "csrf_origin_mismatch")
        token = request.headers.get("x-csrf-token", "")
        if not faults.no_csrf_token and not hmac.compare_digest(token, state.csrf(sid)):
            return _error(403, "csrf_token_missing" if not token else "csrf_token_invalid")
        return None

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def register(request: Request) -> Response:
        data = await body(request)
        name, password = data.get("username"), data.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or len(password) < 8:
            return _error(422, "invalid_input")
        if name in state.users:
            return _error(409, "username_taken")
        state.users[name] = password
        return JSONResponse({"username": name}, 201)

    async def login(request: Request) -> Response:
        data = await body(request)
        name, password = data.get("username"), data.get("password")
        if not isinstance(name, str) or state.users.get(name) != password:
            return _error(401, "invalid_credentials")
        sid = state.new_id()
        state.sessions[sid] = name
        response = JSONResponse({"user": name, "csrf_token": state.csrf(sid)})
        set_cookie(response, sid, 3600)
        return response

    async def logout(request: Request) -> Response:
        sid = current(request)
        if sid is not None:
            refusal = csrf_refusal(request, sid)
            if refusal is not None:
                return refusal
            if not state.faults.logout_clears_only:
                del state.sessions[sid]
        response = JSONResponse({"ok": True})
        set_cookie(response, "", 0)
        return response

    async def logout_all(request: Request) -> Response:
        sid = current(request)
        if sid is None:
            return _error(401, "not_authenticated")
        refusal = csrf_refusal(request, sid)
        if refusal is not None:
            return refusal
        if not state.faults.logout_all_noop:
            user = state.sessions[sid]
            for other in [s for s, u in state.sessions.items() if u == user]:
                del state.sessions[other]
            response = JSONResponse({"ok": True})
            set_cookie(response, "", 0)
            return response
        return JSONResponse({"ok": True})

    async def me(request: Request) -> Response:
        sid = current(request)
        if sid is None:
            return _error(401, "not_authenticated")
        return JSONResponse({"username": state.sessions[sid]})

    logout_methods = ["GET", "POST"] if state.faults.get_logout else ["POST"]
    app = Starlette(
        routes=[
            Route("/register", register, methods=["POST"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=logout_methods),
            Route("/logout-all", logout_all, methods=["POST"]),
            Route("/me", me, methods=["GET"]),
        ]
    )
    app.state.auth = state  # tests look at the sessions left behind
    return app


FORM_TARGET: dict[str, Any] = {
    "login": {"path": "/login", "body": "form"},
    "register": {"path": "/register"},
    "logout": "/logout",
    "logout_all": "/logout-all",
    "protected": "/account",
    "csrf": {"source": "form", "name": "csrf", "field": "csrf", "page": "/account"},
}
"""The target description of ``make_form_app``."""


def make_form_app() -> Starlette:
    """A correct app of HTML forms: form login, a hidden CSRF field on the account page."""
    state = _State(Faults())
    page = (
        '<form method="post" action="/logout"><input type="hidden" name="csrf" value="{}"></form>'
    )

    def current(request: Request) -> str | None:
        sid = request.cookies.get(COOKIE)
        return sid if sid is not None and sid in state.sessions else None

    async def refused(request: Request, sid: str) -> bool:
        own = f"{request.url.scheme}://{request.headers.get('host')}"
        if request.headers.get("sec-fetch-site") == "cross-site":
            return True
        if request.headers.get("origin") not in (None, own):
            return True
        form = await request.form()
        return not hmac.compare_digest(str(form.get("csrf", "")), state.csrf(sid))

    async def register(request: Request) -> Response:
        form = await request.form()
        state.users[str(form["username"])] = str(form["password"])
        return Response(status_code=303, headers={"location": "/account"})

    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username"))
        if state.users.get(name) != form.get("password"):
            return Response("wrong", 401)
        sid = state.new_id()
        state.sessions[sid] = name
        response = Response(status_code=303, headers={"location": "/account"})
        response.set_cookie(COOKIE, sid, max_age=3600, httponly=True, secure=True, samesite="lax")
        return response

    async def account(request: Request) -> Response:
        sid = current(request)
        if sid is None:
            return Response(status_code=303, headers={"location": "/login"})
        return Response(page.format(state.csrf(sid)), media_type="text/html")

    async def logout(request: Request) -> Response:
        sid = current(request)
        if sid is not None:
            if await refused(request, sid):
                return Response("forbidden", 403)
            del state.sessions[sid]
        response = Response(status_code=303, headers={"location": "/login"})
        response.delete_cookie(COOKIE, secure=True, httponly=True, samesite="lax")
        return response

    async def logout_all(request: Request) -> Response:
        sid = current(request)
        if sid is None or await refused(request, sid):
            return Response("forbidden", 403)
        user = state.sessions[sid]
        for other in [s for s, u in state.sessions.items() if u == user]:
            del state.sessions[other]
        return Response(status_code=303, headers={"location": "/login"})

    app = Starlette(
        routes=[
            Route("/register", register, methods=["POST"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/logout-all", logout_all, methods=["POST"]),
            Route("/account", account, methods=["GET"]),
        ]
    )
    app.state.auth = state
    return app
