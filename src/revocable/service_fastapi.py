"""A FastAPI dependency that lets a route through only with a valid service token.

    verifier = ServiceTokenVerifier(JWKSClient(jwks_url), audience="billing", issuers=["orders"])
    service_token = require_service_token(verifier)
    install_error_handlers(app)                       # errors as {"error": code, "detail": …}

    @app.post("/internal/charge")
    async def charge(caller: ServiceClaims = Depends(service_token)) -> dict[str, str]:
        return {"caller": caller.subject}

No ``Authorization: Bearer`` header, or a token that does not verify, is a 401
with ``WWW-Authenticate: Bearer``; a JWKS that cannot be fetched is a 503 with
``Retry-After`` (fail closed, never a 500). The dependency is ``async`` and is
declared to OpenAPI as an HTTP bearer scheme.
"""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.security import HTTPBearer

from revocable.errors import InvalidAccessToken, KeySourceUnavailable
from revocable.fastapi import AuthHTTPError
from revocable.service import ServiceClaims, ServiceTokenVerifier

__all__ = ["ServiceTokenBearer", "require_service_token"]


class ServiceTokenBearer(HTTPBearer):
    """A dependency answering the verified ``ServiceClaims`` of the request's Bearer token.

    One object, one call, like ``revocable.fastapi.SessionCookie``: FastAPI
    resolves it without sub-dependencies, and OpenAPI shows the bearer scheme.
    """

    def __init__(
        self, verifier: ServiceTokenVerifier, *, scheme_name: str = "revocableServiceToken"
    ) -> None:
        super().__init__(
            bearerFormat="JWT",
            scheme_name=scheme_name,
            description=f"A service token (JWT, typ svc+jwt) for audience {verifier.audience!r}.",
            auto_error=False,
        )
        self.verifier = verifier

    async def __call__(self, request: Request) -> ServiceClaims:  # type: ignore[override]
        header = request.headers.get("authorization")
        if header is None:
            raise AuthHTTPError(
                401,
                "not_authenticated",
                "this route needs a service token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthHTTPError(
                401,
                "invalid_token",
                "use Authorization: Bearer <service token>",
                headers={"WWW-Authenticate": "Bearer"},  # no bearer token was presented
            )
        try:
            return await self.verifier.verify(token.strip())
        except InvalidAccessToken as exc:
            raise AuthHTTPError(
                401,
                exc.code,
                f"service token refused ({exc.reason})",
                headers={
                    "WWW-Authenticate": f'Bearer error="invalid_token", reason="{exc.reason}"'
                },
            ) from None
        except KeySourceUnavailable as exc:
            raise AuthHTTPError(
                503,
                exc.code,
                "the keys to verify service tokens cannot be fetched; nothing was authenticated, "
                "retry",
                headers={"Retry-After": str(math.ceil(exc.retry_after))},
            ) from None


def require_service_token(verifier: ServiceTokenVerifier) -> ServiceTokenBearer:
    """The dependency for routes only other services may call: ``Depends(...)`` it."""
    return ServiceTokenBearer(verifier)
