"""FastAPI dependencies over ``SessionMiddleware``.

    auth = SessionAuth(SessionManager(store), WebPolicy(csrf_keys=[key]))
    deps = SessionDependencies(auth)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, auth=auth)
    install_error_handlers(app)

    @app.get("/api/me")
    async def me(session: SessionRecord = Depends(deps.required)) -> dict[str, str]:
        return {"id": session.user_id}

The dependencies are ``async``: a sync dependency would cost a thread-pool hop
on every request. They read what the middleware resolved (no second store
read) and declare the session cookie to OpenAPI as an API-key cookie.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from revocable.core.sessions import SessionRecord
from revocable.core.users import UserRecord
from revocable.errors import StoreError
from revocable.starlette import request_session
from revocable.stores.base import UserStore
from revocable.web import SessionAuth, error_body

if TYPE_CHECKING:  # the token layer (PyJWT) is optional
    from revocable.access import AccessClaims

__all__ = [
    "AuthHTTPError",
    "CredentialDependencies",
    "Principal",
    "SessionCookie",
    "SessionDependencies",
    "install_error_handlers",
]


class AuthHTTPError(HTTPException):
    """An HTTP error with a machine code, rendered as ``{"error", "detail"}``."""

    def __init__(
        self, status_code: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.code = code


class SessionCookie(APIKeyCookie):
    """A dependency that answers the request's session, declared to OpenAPI as a cookie.

    One object, one call: FastAPI resolves it without sub-dependencies, and the
    cookie is never parsed twice (the middleware already did).
    ``required`` raises 401 ``not_authenticated`` when signed out; ``max_age``
    also demands a password proof that recent (401 ``reauth_required``).
    """

    def __init__(self, cookie_name: str, *, required: bool, max_age: float | None = None) -> None:
        super().__init__(
            name=cookie_name,
            scheme_name="revocableSession",
            description="Opaque session cookie (HttpOnly); state-changing requests also "
            "need the session's CSRF token in the X-CSRF-Token header.",
            auto_error=False,
        )
        self.required = required
        self.max_age = max_age

    async def __call__(self, request: Request) -> SessionRecord | None:  # type: ignore[override]
        record = request_session(request).record
        if record is None:
            if self.required:
                raise AuthHTTPError(401, "not_authenticated", "sign in first")
            return None
        if self.max_age is not None and time.time() - record.authenticated_at > self.max_age:
            raise AuthHTTPError(
                401, "reauth_required", "confirm your password (POST /auth/reauth) first"
            )
        return record


class SessionDependencies:
    """``optional`` (the session or None), ``required`` (the session, or 401), ``recent``."""

    def __init__(self, auth: SessionAuth) -> None:
        self.cookie_name = auth.cookie_name
        self.optional = SessionCookie(auth.cookie_name, required=False)
        self.required = SessionCookie(auth.cookie_name, required=True)

    def recent(self, max_age: float) -> SessionCookie:
        """A dependency for sensitive routes ("sudo mode"): the session, if the user proved
        their password within ``max_age`` seconds; else 401 ``reauth_required``."""
        return SessionCookie(self.cookie_name, required=True, max_age=max_age)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is authenticated as, and by which credential."""

    user_id: str
    via: Literal["session", "bearer", "cookie"]
    """``session`` cookie, ``bearer`` header, or the access-token ``cookie``."""
    session: SessionRecord | None = None
    access: AccessClaims | None = None
    user: UserRecord | None = None
    """The user record, when the "not before" check read it."""


class CredentialDependencies:
    """Dependencies for routes that accept a session cookie *or* an access token (a Bearer
    header, or the access cookie of the cookie transport): ``optional`` and ``required``.

    The session wins when both are sent. With ``users``, access tokens issued before
    the user's "not before" (log out all devices, password change) are refused: one
    user read per token-authenticated request, the price of revoking access tokens
    before they expire. Needs ``SessionMiddleware(..., tokens=TokenAuth(...))``.
    """

    def __init__(self, auth: SessionAuth, *, users: UserStore | None = None) -> None:
        self.users = users
        session_scheme = APIKeyCookie(
            name=auth.cookie_name,
            scheme_name="revocableSession",
            description="Opaque session cookie (HttpOnly).",
            auto_error=False,
        )
        bearer_scheme = HTTPBearer(
            scheme_name="revocableAccessToken",
            bearerFormat="JWT",
            description="A short-lived access token from POST /auth/token or /auth/refresh.",
            auto_error=False,
        )

        async def optional(
            request: Request,
            _session: Any = Security(session_scheme),
            _bearer: Any = Security(bearer_scheme),
        ) -> Principal | None:
            return await self._principal(request, required=False)

        async def required(
            request: Request,
            _session: Any = Security(session_scheme),
            _bearer: Any = Security(bearer_scheme),
        ) -> Principal:
            principal = await self._principal(request, required=True)
            if principal is None:
                raise AuthHTTPError(401, "not_authenticated", "sign in first")
            return principal

        self.optional: Callable[..., Awaitable[Principal | None]] = optional
        self.required: Callable[..., Awaitable[Principal]] = required

    async def _principal(self, request: Request, *, required: bool) -> Principal | None:
        state = request_session(request)
        if state.record is not None:
            return Principal(state.record.user_id, "session", session=state.record)
        found = state.access
        if found is None:
            return None
        claims = found.claims
        if claims is None:
            if found.via == "cookie" and not required:
                return None  # an expired access cookie on an open page: signed out, not an error
            reason = found.error.reason if found.error is not None else "malformed"
            raise _token_refused(reason)
        if self.users is not None:
            user = await self.users.get_user(claims.subject)
            # Whole seconds: iat is an integer NumericDate.
            if user is None or claims.issued_at < int(user.not_before):
                raise _token_refused("revoked")
            return Principal(claims.subject, found.via, access=claims, user=user)
        return Principal(claims.subject, found.via, access=claims)


def _token_refused(reason: str) -> AuthHTTPError:
    return AuthHTTPError(
        401,
        "invalid_token",
        f"access token refused ({reason})",
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", reason="{reason}"'},
    )


def install_error_handlers(app: FastAPI, *, form_redirect: str | None = None) -> None:
    """Render every HTTP error as ``{"error": code, "detail": sentence}``, never a stack trace.

    A ``StoreError`` inside a route is a 503 with ``Retry-After``, like the
    middleware's. With ``form_redirect`` (say ``"/"``), errors answering an HTML form post become
    a 303 to ``form_redirect?error=code`` instead, so plain forms stay usable.
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = getattr(exc, "code", None) or _CODES.get(status, f"http_{status}")
        content_type = request.headers.get("content-type", "")
        if form_redirect and content_type.startswith("application/x-www-form-urlencoded"):
            return RedirectResponse(f"{form_redirect}?error={code}", status_code=303)
        detail = str(getattr(exc, "detail", "")) or "request refused"
        return JSONResponse(
            error_body(code, detail), status_code=status, headers=getattr(exc, "headers", None)
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in errors]
        detail = "invalid request: " + ", ".join(fields[:5]) if fields else "invalid request"
        return JSONResponse(error_body("invalid_request", detail), status_code=422)

    async def store_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "code", "store_error")
        detail = "the store did not answer; nothing was changed or authenticated, retry"
        return JSONResponse(error_body(code, detail), status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


_CODES: dict[int, Any] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
