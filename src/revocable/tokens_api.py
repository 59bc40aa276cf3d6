"""The hybrid-token endpoints (FastAPI): access + refresh tokens, by body or by cookie.

    POST /auth/token          {"username", "password", "token_transport": "cookie" | "body"}
    POST /auth/refresh        the refresh cookie, or {"refresh_token"}: a new pair
    POST /auth/token/revoke   {"refresh_token"}, or the caller's access token: its family dies
    GET  /auth/families       the caller's token logins ("apps"), by public handle
    DELETE /auth/families/{handle}, POST /auth/families/{handle}/revoke
    GET  /.well-known/jwks.json

``body`` answers in the OAuth 2 shape for native clients. ``cookie`` (the
default, for browsers) sets the access cookie and the refresh cookie (scoped to
the refresh path) and answers the CSRF token that state-changing requests
authenticated by the access cookie must carry, like a session login does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from revocable.core.refresh import RefreshFamily, family_handle
from revocable.fastapi import AuthHTTPError, CredentialDependencies, Principal
from revocable.refresh import InvalidRefreshToken, IssuedRefresh, RefreshTokens
from revocable.requests import read_fields, refuse_cross_site
from revocable.starlette import request_session
from revocable.tokenauth import TokenAuth
from revocable.web import error_body

__all__ = ["tokens_router"]

Authenticate = Callable[[Request, dict[str, str]], Awaitable[tuple[str, str]]]
_TRANSPORTS = ("cookie", "body")


def tokens_router(
    tokens: TokenAuth,
    refresh: RefreshTokens,
    authenticate: Authenticate,
    principals: CredentialDependencies,
) -> APIRouter:
    """The token endpoints. ``authenticate(request, fields)`` checks a username and password
    (with the login rate limit) and answers ``(user_id, username)`` or raises 401/429."""
    access = tokens.access
    router = APIRouter()

    def answer(issued: IssuedRefresh, transport: str, extra: dict[str, Any]) -> Response:
        family = issued.family
        token = access.mint(family.user_id, family_id=family.family_id)
        lifetime = int(access.policy.lifetime)
        if transport == "body":
            return JSONResponse(
                {
                    "access_token": token,
                    "refresh_token": issued.token,
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                },
                headers={"cache-control": "no-store"},
            )
        csrf = tokens.csrf_token_for_family(family.family_id)
        body = {**extra, "csrf_token": csrf, "token_type": "cookie", "expires_in": lifetime}
        response = JSONResponse(body, headers={"cache-control": "no-store"})
        response.headers.append("set-cookie", tokens.access_cookie(token))
        max_age = family.expires_at - time.time()
        response.headers.append("set-cookie", tokens.refresh_cookie(issued.token, max_age=max_age))
        return response

    @router.post("/auth/token")
    async def issue_tokens(request: Request) -> Response:
        fields, _ = await read_fields(request)
        transport = fields.get("token_transport", "cookie")
        if transport not in _TRANSPORTS:
            raise AuthHTTPError(422, "invalid_input", "token_transport is 'cookie' or 'body'")
        user_id, username = await authenticate(request, fields)
        issued = await refresh.issue(user_id)
        return answer(issued, transport, {"user": {"id": user_id, "username": username}})

    @router.post("/auth/refresh")
    async def refresh_tokens(request: Request) -> Response:
        # A cookie refresh may come with no body at all.
        empty = request.headers.get("content-length", "0") == "0"
        fields = {} if empty else (await read_fields(request))[0]
        presented = fields.get("refresh_token")
        transport = "body"
        if presented is None:
            presented = tokens.refresh_token_from(request.headers.get("cookie"))
            if presented is None:
                raise AuthHTTPError(401, "invalid_refresh_token", "send the refresh token")
            transport = "cookie"
            # The cookie travels by itself: refuse cross-site senders (the cookie is
            # SameSite=Strict too; this also covers browsers that ignore it).
            refuse_cross_site(tokens.policy, request)
        try:
            issued = await refresh.rotate(presented)
        except InvalidRefreshToken as exc:
            detail = f"refresh token refused ({exc.reason})"
            if transport == "body":
                raise AuthHTTPError(401, exc.code, detail) from None
            response = JSONResponse(error_body(exc.code, detail), status_code=401)
            for cookie in tokens.clearing_cookies():  # a dead family: drop both cookies
                response.headers.append("set-cookie", cookie)
            return response
        return answer(issued, transport, {})

    @router.post("/auth/token/revoke")
    async def revoke_tokens(
        request: Request, principal: Principal | None = Depends(principals.optional)
    ) -> Response:
        """Revoke the family of a refresh token in the body, else the caller's own family
        (a bad Bearer token is a 401 before this runs)."""
        fields, _ = await read_fields(request)
        presented = fields.get("refresh_token")
        if presented:
            revoked = await refresh.revoke_token(presented)
        elif principal is not None and principal.access and principal.access.family_id:
            revoked = await refresh.revoke(principal.access.family_id)
        else:
            raise AuthHTTPError(
                422, "invalid_input", "send refresh_token, or an access token of the family"
            )
        response = JSONResponse({"revoked": revoked})
        found = request_session(request).access
        if found is not None and found.via == "cookie":
            for cookie in tokens.clearing_cookies():
                response.headers.append("set-cookie", cookie)
        return response

    @router.get("/auth/families")
    async def list_families(principal: Principal = Depends(principals.required)) -> Any:
        current = principal.access.family_id if principal.access else None
        families = await refresh.list_families(principal.user_id)
        return [_family_json(f, current=f.family_id == current) for f in families]

    async def revoke_by_handle(principal: Principal, handle: str) -> bool:
        for family in await refresh.list_families(principal.user_id):
            if family_handle(family.family_id) == handle:
                return await refresh.revoke(family.family_id)
        return False

    @router.delete("/auth/families/{handle}", status_code=204, response_class=Response)
    async def revoke_family(
        handle: str, principal: Principal = Depends(principals.required)
    ) -> Response:
        if not await revoke_by_handle(principal, handle):
            raise AuthHTTPError(404, "family_not_found", "no such token login of yours")
        return Response(status_code=204)

    @router.post("/auth/families/{handle}/revoke")
    async def revoke_family_form(
        handle: str, request: Request, principal: Principal = Depends(principals.required)
    ) -> Any:
        """The same as DELETE, for HTML forms (which cannot send DELETE)."""
        found = await revoke_by_handle(principal, handle)
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            return RedirectResponse("/" if found else "/?error=family_not_found", 303)
        if not found:
            raise AuthHTTPError(404, "family_not_found", "no such token login of yours")
        return {"ok": True}

    @router.get("/.well-known/jwks.json")
    async def jwks() -> Any:
        return access.keys.jwks()

    return router


def _family_json(family: RefreshFamily, *, current: bool) -> dict[str, Any]:
    return {
        "handle": family_handle(family.family_id),
        "created_at": _iso(family.created_at),
        "last_used": _iso(family.rotated_at or family.created_at),
        "expires_at": _iso(family.expires_at),
        "current": current,
    }


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
