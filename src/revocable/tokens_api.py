"""The hybrid-token endpoints for native clients (FastAPI), and Bearer authentication.

    POST /auth/token          {"username", "password"} -> OAuth 2 token response
    POST /auth/refresh        {"refresh_token"} -> a new pair (the old refresh token dies)
    POST /auth/token/revoke   {"refresh_token"} -> the family is revoked
    GET  /.well-known/jwks.json

Tokens travel in JSON bodies here (``token_transport: "body"``); the cookie
transport for browsers is not built yet and is refused with 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from revocable.access import AccessClaims, AccessTokens
from revocable.errors import InvalidAccessToken
from revocable.fastapi import AuthHTTPError
from revocable.refresh import InvalidRefreshToken, IssuedRefresh, RefreshTokens
from revocable.requests import read_fields

__all__ = ["bearer_claims", "tokens_router"]


def bearer_claims(request: Request, access: AccessTokens) -> AccessClaims | None:
    """The verified claims of an ``Authorization: Bearer`` token; None without one; 401 if bad."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthHTTPError(401, "invalid_token", "use Authorization: Bearer <access token>")
    try:
        return access.verify(token.strip())
    except InvalidAccessToken as exc:
        raise AuthHTTPError(
            401,
            exc.code,
            f"access token refused ({exc.reason})",
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", reason="{exc.reason}"'},
        ) from None


def tokens_router(
    access: AccessTokens,
    refresh: RefreshTokens,
    authenticate: Any,
) -> APIRouter:
    """The token endpoints. ``authenticate(request, fields)`` checks a username and password
    (with the login rate limit) and answers ``(user_id, username)`` or raises 401/429."""
    router = APIRouter()

    def token_response(issued: IssuedRefresh, username: str) -> dict[str, Any]:
        token = access.mint(
            issued.family.user_id, family_id=issued.family.family_id, extra={"name": username}
        )
        return {
            "access_token": token,
            "refresh_token": issued.token,
            "token_type": "Bearer",
            "expires_in": int(access.policy.lifetime),
        }

    @router.post("/auth/token")
    async def issue_tokens(request: Request) -> Any:
        fields, _ = await read_fields(request)
        if fields.get("token_transport", "body") != "body":
            raise AuthHTTPError(
                422, "unsupported_transport", "only token_transport 'body' is available yet"
            )
        user_id, username = await authenticate(request, fields)
        return token_response(await refresh.issue(user_id), username)

    @router.post("/auth/refresh")
    async def refresh_tokens(request: Request) -> Any:
        fields, _ = await read_fields(request)
        try:
            issued = await refresh.rotate(fields.get("refresh_token"))
        except InvalidRefreshToken as exc:
            raise AuthHTTPError(401, exc.code, f"refresh token refused ({exc.reason})") from None
        return token_response(issued, "")

    @router.post("/auth/token/revoke")
    async def revoke_tokens(request: Request) -> Any:
        fields, _ = await read_fields(request)
        token = fields.get("refresh_token")
        if token:
            return {"revoked": await refresh.revoke(token)}
        claims = bearer_claims(request, access)
        if claims is None or claims.family_id is None:
            raise AuthHTTPError(
                422, "invalid_input", "send refresh_token, or a Bearer access token"
            )
        return {"revoked": await refresh.revoke(claims.family_id)}

    @router.get("/.well-known/jwks.json")
    async def jwks() -> Any:
        return access.keys.jwks()

    return router
