"""A FastAPI app with all three of revocable's credentials, as the README shows them.

* Browsers sign in with a session cookie (``/auth/login``) or the token cookie
  transport (``/auth/token``); native clients take ``token_transport: "body"``
  and send ``Authorization: Bearer``. ``/api/orders`` accepts any of them.
* ``/internal/charge`` accepts only a service token minted by the "orders"
  service for audience "billing".

Run it with ``.venv/bin/python examples/fastapi_app.py`` (an SQLite file in the
working directory, fresh keys on every start), or import ``build_app`` in tests.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import Depends, FastAPI

from revocable import SessionRecord, open_store
from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.accounts import accounts_router
from revocable.config import WebPolicy
from revocable.fastapi import (
    CredentialDependencies,
    Principal,
    SessionDependencies,
    install_error_handlers,
)
from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshTokens
from revocable.service import ServiceClaims, ServiceTokenVerifier
from revocable.service_fastapi import require_service_token
from revocable.sessions import SessionManager
from revocable.starlette import SessionMiddleware
from revocable.stores.base import Store
from revocable.tokenauth import TokenAuth
from revocable.web import SessionAuth


def build_app(
    store: Store,
    *,
    hasher: PasswordHasher | None = None,
    services: ServiceTokenVerifier | None = None,
) -> FastAPI:
    """The app over an open store. ``services`` verifies calls from other services (in
    production: ``ServiceTokenVerifier(JWKSClient(url), audience=..., issuers=[...])``)."""
    policy = WebPolicy(csrf_keys=[secrets.token_bytes(32)])
    auth = SessionAuth(SessionManager(store), policy)
    access = AccessTokens(
        KeyRing([SigningKey.generate()]),
        AccessTokenPolicy(issuer="https://auth.example", audience="api"),
    )
    tokens = TokenAuth(access, policy)
    refresh = RefreshTokens(store, secrets.token_bytes(32))
    sessions_only = SessionDependencies(auth)
    principals = CredentialDependencies(auth, users=store)  # checks the user's "not before"

    app = FastAPI()
    app.add_middleware(SessionMiddleware, auth=auth, tokens=tokens)
    install_error_handlers(app)
    app.include_router(
        accounts_router(auth, store, hasher or PasswordHasher(), tokens=tokens, refresh=refresh)
    )

    @app.get("/api/profile")
    async def profile(session: SessionRecord = Depends(sessions_only.required)) -> Any:
        return {"user": session.user_id}  # browsers with a session cookie only

    @app.get("/api/orders")
    async def orders(who: Principal = Depends(principals.required)) -> Any:
        return {"user": who.user_id, "via": who.via}  # session, Bearer or access cookie

    if services is not None:
        from_a_service = require_service_token(services)

        @app.post("/internal/charge")
        async def charge(caller: ServiceClaims = Depends(from_a_service)) -> Any:
            return {"caller": caller.subject}  # 401 for anything but a service token

    return app


async def main() -> None:
    """Serve the example on http://localhost:8001 over an SQLite file."""
    import uvicorn

    store = await open_store("sqlite:///example.db")
    try:
        config = uvicorn.Config(build_app(store), host="127.0.0.1", port=8001)
        await uvicorn.Server(config).serve()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
