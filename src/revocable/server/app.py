"""The reference server's application: the accounts router, the HTML page and security headers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.accounts import DEFAULT_LOGIN_LIMIT, accounts_router
from revocable.config import SessionPolicy, WebPolicy
from revocable.core.cookies import CookiePolicy
from revocable.core.ratelimit import RateLimit
from revocable.events import SecurityEvents
from revocable.fastapi import install_error_handlers
from revocable.keys import KeyRing
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshPolicy, RefreshTokens
from revocable.server.access import AccessLog
from revocable.server.pages import pages_router
from revocable.sessions import SessionManager
from revocable.starlette import Message, Receive, Scope, Send, SessionMiddleware
from revocable.stores.base import Store
from revocable.tokenauth import TokenAuth, TokenCookies
from revocable.web import SessionAuth

__all__ = ["create_app"]

log = logging.getLogger("revocable.server")

# No script may run and no credential is reachable from a page: the pages are plain forms.
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def create_app(
    store: Store,
    csrf_keys: list[bytes],
    *,
    insecure_cookies: bool = False,
    session_policy: SessionPolicy = SessionPolicy.DEFAULT,
    hasher: PasswordHasher | None = None,
    events: SecurityEvents | None = None,
    login_limit: RateLimit | None = DEFAULT_LOGIN_LIMIT,
    trusted_proxies: Sequence[str] = (),
    public_origin: str | None = None,
    signing_keys: KeyRing | None = None,
    refresh_key: bytes | None = None,
    refresh_policy: RefreshPolicy | None = None,
    token_cookies: TokenCookies | None = None,
) -> FastAPI:
    """The reference app over an open ``store``."""
    if insecure_cookies:
        log.warning(
            "INSECURE COOKIES: the session cookie is sent without Secure and __Host-; "
            "use this only for plain-http development, never in production"
        )
    policy = WebPolicy(
        csrf_keys,
        cookie=CookiePolicy(secure=not insecure_cookies),
        trusted_proxies=trusted_proxies,
        public_origin=public_origin,
    )
    auth = SessionAuth(SessionManager(store, session_policy, events=events), policy)
    tokens = refresh = None
    if signing_keys is not None and refresh_key is not None:
        issuer = public_origin or "revocable"
        access = AccessTokens(signing_keys, AccessTokenPolicy(issuer=issuer, audience=issuer))
        tokens = TokenAuth(access, policy, token_cookies)
        refresh = RefreshTokens(
            store, refresh_key, refresh_policy or RefreshPolicy(), events=auth.sessions.events
        )
    app = FastAPI(title="revocable reference server", docs_url=None, redoc_url=None)
    app.add_middleware(SessionMiddleware, auth=auth, tokens=tokens)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)  # outermost: it sees every answer, 503s and 403s included
    install_error_handlers(app, form_redirect="/")
    accounts = accounts_router(
        auth,
        store,
        hasher or PasswordHasher(),
        counters=store,
        login_limit=login_limit,
        tokens=tokens,
        refresh=refresh,
    )
    app.include_router(accounts)
    app.include_router(pages_router(auth, refresh))
    return app


class SecurityHeaders:
    """Adds the reference server's security headers to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
