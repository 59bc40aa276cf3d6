"""ASGI middleware that resolves the session cookie once per request, and login/logout helpers.

    auth = SessionAuth(SessionManager(store), WebPolicy(csrf_keys=[key]))
    app = Starlette(routes=…, middleware=[Middleware(SessionMiddleware, auth=auth)])

    async def me(request):
        session = request_session(request).record      # None when signed out

The middleware answers by itself in three cases: 503 when the store cannot
confirm a session (fail closed), 403 when a cookie-authenticated state-changing
request fails the CSRF checks, 413 when the form it must read for the CSRF
field is too large. Errors are JSON: ``{"error": code, "detail": sentence}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from revocable.core.clientip import client_ip
from revocable.core.csrf import SAFE_METHODS, CsrfRejection
from revocable.core.sessions import SessionRecord
from revocable.errors import StoreError
from revocable.sessions import IssuedSession
from revocable.web import SessionAuth, error_body

if TYPE_CHECKING:  # the token layer (PyJWT) is optional: sessions never import it
    from revocable.access import AccessClaims
    from revocable.tokenauth import AccessResult, TokenAuth

__all__ = [
    "RequestSession",
    "SessionMiddleware",
    "login",
    "logout",
    "own_origin",
    "request_session",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "revocable.session"


@dataclass(slots=True)
class RequestSession:
    """The session of one request, as the middleware resolved it."""

    auth: SessionAuth
    record: SessionRecord | None
    token: str | None = field(default=None, repr=False)
    """The cookie's token while it names a live session (for logout and rotation)."""
    client_ip: str | None = None
    """The client's address, through trusted proxies only (``WebPolicy.trusted_proxies``)."""
    access: AccessResult | None = None
    """The access token the request carried (Bearer or cookie), verified or refused."""
    tokens: TokenAuth | None = None

    @property
    def access_claims(self) -> AccessClaims | None:
        """The verified claims of the request's access token, if it carried a valid one."""
        return None if self.access is None else self.access.claims

    @property
    def user_id(self) -> str | None:
        """Who is signed in: by the session cookie first, else by a valid access token."""
        if self.record is not None:
            return self.record.user_id
        claims = self.access_claims
        return None if claims is None else claims.subject

    @property
    def cookie_authenticated(self) -> bool:
        """Whether a cookie the browser attaches by itself authenticates this request (so it
        must pass the CSRF checks when it changes state)."""
        if self.record is not None:
            return True
        return (
            self.access is not None
            and self.access.via == "cookie"
            and self.access.claims is not None
        )

    @property
    def csrf_token(self) -> str | None:
        """The token forms and scripts must send back, when signed in by a cookie."""
        if self.record is not None:
            return self.auth.csrf_token(self.record)
        claims = self.access_claims
        if claims is not None and self.tokens is not None and self.access is not None:
            return self.tokens.csrf_token(claims) if self.access.via == "cookie" else None
        return None

    def check_csrf(
        self, method: str, headers: dict[str, str], origin: str, presented: str | None
    ) -> CsrfRejection | None:
        """The CSRF decision for this request's cookie credential (session first)."""
        if self.record is not None:
            return self.auth.check_csrf(
                method=method,
                headers=headers,
                own_origin=origin,
                record=self.record,
                presented_token=presented,
            )
        claims = self.access_claims
        if claims is None or self.tokens is None:
            return None
        return self.tokens.check_csrf(
            method=method,
            headers=headers,
            own_origin=origin,
            claims=claims,
            presented_token=presented,
        )


class SessionMiddleware:
    """Resolves the session cookie (and, with ``tokens``, an access token), fails closed on
    store errors, enforces CSRF on every cookie-authenticated state-changing request."""

    def __init__(self, app: ASGIApp, auth: SessionAuth, tokens: TokenAuth | None = None) -> None:
        self.app = app
        self.auth = auth
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The hot path (every request) reads only the Cookie header; the full header
        # map is built only when a proxy header or a CSRF check needs it.
        cookie_header = _cookie_header(scope)
        token = self.auth.token_from(cookie_header)
        record = None
        if token is not None:
            try:
                record = await self.auth.sessions.validate(token)
            except StoreError as exc:
                detail = "the session store did not answer; nothing was authenticated, retry"
                await _send_json(send, 503, error_body(exc.code, detail), retry_after=True)
                return
        peer = scope.get("client")
        address = peer[0] if peer else None
        headers = _headers(scope) if self.auth.policy.trusted_proxies else None
        if headers is not None:
            forwarded = headers.get("x-forwarded-for")
            address = client_ip(address, forwarded, self.auth.policy.trusted_proxies)
        state = RequestSession(self.auth, record, token if record else None, address)
        if self.tokens is not None:
            state.tokens = self.tokens
            # The refresh path authenticates by the refresh cookie and guards it itself:
            # an access cookie riding along there is not what the request is about.
            on_refresh = scope["path"] == self.tokens.refresh_policy.path
            state.access = self.tokens.resolve(
                _authorization(scope), None if on_refresh else cookie_header
            )
        scope[SCOPE_KEY] = state
        if token is not None and record is None:
            # A dead cookie (revoked, expired, garbage): tell the browser to drop it,
            # unless the response sets a session cookie of its own (a login).
            send = _clearing(send, self.auth.clearing_cookie().encode("latin-1"))
        if scope["method"] not in SAFE_METHODS and state.cookie_authenticated:
            headers = headers or _headers(scope)
            presented = headers.get(self.auth.policy.csrf_header)
            if presented is None and _is_form(headers):
                body = await _read_body(receive, self.auth.policy.max_form_bytes)
                if body is None:
                    detail = "the form is larger than this endpoint accepts"
                    await _send_json(send, 413, error_body("body_too_large", detail))
                    return
                receive = _replay(body, receive)
                presented = _form_field(body, self.auth.policy.csrf_field)
            rejection = state.check_csrf(
                scope["method"], headers, own_origin(scope, headers), presented
            )
            if rejection is not None:
                self.auth.sessions.events.emit(
                    "csrf.rejected",
                    user_id=state.user_id,
                    session=record.handle if record else None,
                    ip=address,
                    reason=rejection.value,
                )
                await _send_json(send, 403, error_body(rejection.value, _CSRF_DETAIL))
                return
        await self.app(scope, receive, send)


_CSRF_DETAIL = (
    "cross-site request refused: send the session's CSRF token in the X-CSRF-Token "
    "header or the csrf_token form field, from the application's own origin"
)


def request_session(request: Any) -> RequestSession:
    """The ``RequestSession`` of a Starlette ``Request`` (or any object with ``.scope``)."""
    try:
        state: RequestSession = request.scope[SCOPE_KEY]
    except KeyError:
        raise RuntimeError("SessionMiddleware is not installed on this app") from None
    return state


async def login(request: Any, response: Any, user_id: str, **session_args: Any) -> IssuedSession:
    """Start a session for ``user_id`` and set its cookie on ``response``.

    Any session the client already had is revoked first (fixation defence).
    ``session_args`` (``data=…``) go to ``SessionManager.create``; the client IP
    and user agent are taken from the request.
    """
    state = request_session(request)
    sessions = state.auth.sessions
    if state.token is not None:
        await sessions.revoke(state.token)
    session_args.setdefault("client_ip", state.client_ip)
    session_args.setdefault("user_agent", request.headers.get("user-agent"))
    issued = await sessions.create(user_id, **session_args)
    response.headers.append("set-cookie", state.auth.session_cookie(issued))
    state.record, state.token = issued.record, issued.token
    return issued


async def logout(request: Any, response: Any) -> bool:
    """Revoke this request's session server-side and clear its cookie; True if there was one."""
    state = request_session(request)
    revoked = state.token is not None and await state.auth.sessions.revoke(state.token)
    if revoked and state.record is not None:
        state.auth.sessions.events.emit(
            "session.revoked", user_id=state.record.user_id, session=state.record.handle
        )
    response.headers.append("set-cookie", state.auth.clearing_cookie())
    state.record, state.token = None, None
    return revoked


def _clearing(send: Send, cookie: bytes) -> Send:
    async def send_clearing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"set-cookie" for name, _ in headers):
                message["headers"] = [*headers, (b"set-cookie", cookie)]
        await send(message)

    return send_clearing


_JOINED = {"cookie": "; ", "x-forwarded-for": ", "}


def _cookie_header(scope: Scope) -> bytes | None:
    """The Cookie header (lines joined), found without decoding any other header."""
    found: bytes | None = None
    for name, value in scope["headers"]:  # a loop, not a list: a third cheaper, every request
        if name == b"cookie" or name == b"Cookie":
            found = value if found is None else found + b"; " + value
    return found


def _authorization(scope: Scope) -> str | None:
    """The Authorization header, found without decoding any other header."""
    for name, value in scope["headers"]:
        if name == b"authorization" or name == b"Authorization":
            return str(value.decode("latin-1"))
    return None


def _headers(scope: Scope) -> dict[str, str]:
    """Header name -> value (latin-1). Repeated Cookie and X-Forwarded-For lines are joined
    in order (proxies may add a line of their own); other headers keep their first value."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name not in headers:
            headers[name] = value
        elif name in _JOINED:
            headers[name] += _JOINED[name] + value
    return headers


def own_origin(scope: Scope, headers: dict[str, str] | None = None) -> str:
    """The origin this request was sent to, from the ASGI scope and its Host header."""
    headers = _headers(scope) if headers is None else headers
    scheme = scope.get("scheme", "http")
    host = headers.get("host")
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    default = ":443" if scheme == "https" else ":80"
    host = host.lower().removesuffix(default)
    return f"{scheme}://{host}"


def _is_form(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "application/x-www-form-urlencoded"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _form_field(body: bytes, name: str) -> str | None:
    try:
        values = parse_qs(body.decode("latin-1"), max_num_fields=1000).get(name)
    except ValueError:  # more fields than max_num_fields
        return None
    return values[0] if values else None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], *, retry_after: bool = False
) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
