"""Token apps for C7 and C8: ``broken_apps``' correct session app plus token endpoints (PyJWT).

``make_token_app(TokenFaults(...))`` adds to the session app (whose items all pass)::

    POST /token           {"username", "password", "transport": "body" | "cookie"}
    POST /token/refresh   {"refresh_token"}, or the refresh cookie (Path=/token/refresh)
    POST /token/revoke    {"refresh_token"}: the family dies

Correct by default: HS256 access tokens for 5 minutes, refresh tokens
``family.secret`` that rotate on every use, and a rotated token presented again
kills its family. Each fault breaks one thing:

* ``access_lifetime``: the access tokens' lifetime (10 hours fails C7, 12 minutes warns)
* ``no_rotation``: a refresh hands the same refresh token back (C8, rotation)
* ``no_reuse_detection``: rotated refresh tokens stay valid (C8, reuse)
* ``reuse_keeps_family``: a rotated token is refused but its family lives on (C8, family)
* ``jwt_session_lifetime``: the session cookie is a JWT living this long (C7; C9 is n/a)
* ``access_cookie_signs_in``: ``GET /me`` also takes the access cookie, but logout knows
  only sessions: a browser signed in by the token cookies logs out and its refresh token
  lives on (C3)
* ``revoke_noop``: ``POST /token/revoke`` answers 200 and revokes nothing (C3)
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.audit.broken_apps import TARGET, make_app

TOKEN_TARGET: dict[str, Any] = {
    **TARGET,
    "tokens": {
        "token": "/token",
        "refresh": "/token/refresh",
        "revoke": "/token/revoke",
        "transport": ["body", "cookie"],
        "transport_field": "transport",
        "grace_wait": 0.2,  # these apps have no grace window
    },
}
"""The target description of every app here."""

ACCESS_COOKIE = "access"
REFRESH_COOKIE = "refresh"
REFRESH_PATH = "/token/refresh"


@dataclass(frozen=True)
class TokenFaults:
    access_lifetime: int = 300
    no_rotation: bool = False
    no_reuse_detection: bool = False
    reuse_keeps_family: bool = False
    jwt_session_lifetime: int | None = None
    access_cookie_signs_in: bool = False
    revoke_noop: bool = False


@dataclass
class Family:
    user: str
    current: str
    rotated: set[str] = field(default_factory=set)
    alive: bool = True


@dataclass
class TokenState:
    faults: TokenFaults
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    families: dict[str, Family] = field(default_factory=dict)

    def access_token(self, user: str, lifetime: int) -> str:
        now = int(time.time())
        claims = {"sub": user, "iat": now, "exp": now + lifetime, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self.key, algorithm="HS256", headers={"typ": "at+jwt"})


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": code.replace("_", " ")}, status)


def make_token_app(faults: TokenFaults | None = None) -> Starlette:
    faults = faults or TokenFaults()
    tokens = TokenState(faults)
    session_lifetime = faults.jwt_session_lifetime

    def jwt_session_id() -> str:
        return tokens.access_token("session", session_lifetime or 0)

    app = make_app(session_ids=jwt_session_id if session_lifetime is not None else None)
    users: dict[str, str] = app.state.auth.users

    def answer(family_id: str, family: Family, transport: str) -> Response:
        access = tokens.access_token(family.user, faults.access_lifetime)
        refresh = f"{family_id}.{family.current}"
        if transport == "body":
            return JSONResponse(
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "token_type": "Bearer",
                    "expires_in": faults.access_lifetime,
                }
            )
        response = JSONResponse({"token_type": "cookie", "expires_in": faults.access_lifetime})
        flags = "HttpOnly; Secure; SameSite=Strict"
        response.headers.append(
            "set-cookie",
            f"{ACCESS_COOKIE}={access}; Path=/; Max-Age={faults.access_lifetime}; {flags}",
        )
        response.headers.append(
            "set-cookie", f"{REFRESH_COOKIE}={refresh}; Path={REFRESH_PATH}; Max-Age=86400; {flags}"
        )
        return response

    async def fields(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def cross_site(request: Request) -> bool:
        own = f"{request.url.scheme}://{request.headers.get('host')}"
        origin = request.headers.get("origin")
        fetch_site = request.headers.get("sec-fetch-site")
        return fetch_site == "cross-site" or (origin is not None and origin != own)

    async def issue(request: Request) -> Response:
        data = await fields(request)
        name, transport = data.get("username"), data.get("transport", "body")
        if transport not in ("body", "cookie") or cross_site(request):
            return _error(403 if transport in ("body", "cookie") else 422, "refused")
        if not isinstance(name, str) or users.get(name) != data.get("password"):
            return _error(401, "invalid_credentials")
        family_id = secrets.token_urlsafe(12)
        family = Family(name, secrets.token_urlsafe(32))
        tokens.families[family_id] = family
        return answer(family_id, family, transport)

    async def refresh(request: Request) -> Response:
        data = await fields(request)
        presented = data.get("refresh_token")
        transport = "body"
        if presented is None:
            presented, transport = request.cookies.get(REFRESH_COOKIE), "cookie"
            if cross_site(request):
                return _error(403, "cross_site")
        family_id, _, secret = str(presented).partition(".")
        family = tokens.families.get(family_id)
        if family is None or not family.alive:
            return _error(401, "invalid_refresh_token")
        if secret == family.current or (faults.no_reuse_detection and secret in family.rotated):
            if not faults.no_rotation:
                family.rotated.add(family.current)
                family.current = secrets.token_urlsafe(32)
            return answer(family_id, family, transport)
        if secret in family.rotated and not faults.reuse_keeps_family:
            family.alive = False
        return _error(401, "invalid_refresh_token")

    async def revoke(request: Request) -> Response:
        family_id = str((await fields(request)).get("refresh_token")).partition(".")[0]
        family = tokens.families.get(family_id)
        found = family is not None and family.alive
        if family is not None and not faults.revoke_noop:
            family.alive = False
        return JSONResponse({"revoked": found})

    async def me(request: Request) -> Response:
        """/me that also signs in by the access cookie (``access_cookie_signs_in``)."""
        try:
            claims = jwt.decode(request.cookies.get(ACCESS_COOKIE, ""), tokens.key, ["HS256"])
        except jwt.InvalidTokenError:
            return _error(401, "not_authenticated")
        return JSONResponse({"username": claims["sub"]})

    app.router.routes.extend(
        [
            Route("/token", issue, methods=["POST"]),
            Route(REFRESH_PATH, refresh, methods=["POST"]),
            Route("/token/revoke", revoke, methods=["POST"]),
        ]
    )
    if faults.access_cookie_signs_in:
        sessions_me = next(r for r in app.router.routes if getattr(r, "path", "") == "/me")

        async def either(request: Request) -> Response:
            if request.cookies.get(ACCESS_COOKIE):
                return await me(request)
            return await sessions_me.endpoint(request)  # type: ignore[attr-defined, no-any-return]

        app.router.routes.insert(0, Route("/me", either, methods=["GET"]))
    app.state.tokens = tokens  # tests look at the families left alive
    return app
