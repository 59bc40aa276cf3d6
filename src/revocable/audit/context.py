"""Acting as a user of the target: register, log in, send state-changing requests, clean up.

One :class:`AuditContext` per run holds the client, the target description,
the test credentials, and every session the auditor created, so that the
checks stay short and the run can log all of them out at the end.

A :class:`Session` is one simulated browser: its own cookie jar and CSRF
token. Logins always start from an empty jar, so two logins are two devices.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Protocol

from revocable.audit.client import AuditClient, AuditError, Response
from revocable.audit.cookies import Jar, SetCookie, clean
from revocable.audit.jwts import duration, peek
from revocable.audit.result import Exchange
from revocable.audit.target import Endpoint, Target

__all__ = [
    "OWN_ORIGIN",
    "AuditContext",
    "Credentials",
    "LoginFailed",
    "NullProgress",
    "Progress",
    "RateLimited",
    "Session",
    "UserExists",
    "choose_session_cookie",
]

OWN_ORIGIN = "own"
"""``origin=OWN_ORIGIN``: send the target's own origin, as a browser does on a same-origin POST."""

_SESSIONISH = re.compile(r"sess|sid|auth|login|token|jwt|access", re.IGNORECASE)


class LoginFailed(AuditError):
    """The login did not produce a session (wrong credentials, no cookie, an error)."""

    code = "login_failed"


class UserExists(LoginFailed):
    """Registration answered 409: the user is there already."""

    code = "user_exists"


class RateLimited(AuditError):
    """The target answered 429: it limits logins (or requests) and the auditor stops there."""

    code = "rate_limited"


class Progress(Protocol):
    """Where the runner reports what it is doing (a rich progress bar in the CLI).

    Two checks may run at once (C8 waits while C9 samples): each call names its check.
    """

    def check_started(self, check_id: str, title: str) -> None: ...

    def advance(self, check_id: str, done: int, total: int) -> None: ...

    def check_finished(self, check_id: str) -> None: ...


class NullProgress:
    def check_started(self, check_id: str, title: str) -> None:
        return None

    def advance(self, check_id: str, done: int, total: int) -> None:
        return None

    def check_finished(self, check_id: str) -> None:
        return None


@dataclass(frozen=True)
class Credentials:
    """The test user. ``created``: a throwaway user the auditor registered itself."""

    username: str
    password: str = field(repr=False)
    created: bool = False

    @classmethod
    def throwaway(cls) -> Credentials:
        return cls(f"revocable-audit-{secrets.token_hex(6)}", secrets.token_urlsafe(18), True)


@dataclass(eq=False)
class Session:
    """One signed-in simulated browser."""

    jar: Jar
    login: Response = field(repr=False)
    cookie_name: str
    csrf: str | None = field(default=None, repr=False)
    alive: bool = True

    @property
    def session_id(self) -> str:
        return self.jar.get(self.cookie_name) or ""


def choose_session_cookie(
    cookies: tuple[SetCookie, ...],
    *,
    configured: str | None,
    csrf_cookie: str | None,
    now: datetime,
) -> SetCookie | None:
    """The cookie a login set that carries the session.

    The configured name if given; else the only cookie set (the CSRF cookie
    aside); else the one whose name looks like a session's; else the longest.
    """
    live = [c for c in cookies if c.value and c.name != csrf_cookie and not c.is_deletion(now)]
    if configured is not None:
        return next((c for c in live if c.name == configured), None)
    if len(live) <= 1:
        return live[0] if live else None
    named = [c for c in live if _SESSIONISH.search(c.name)]
    return max(named or live, key=lambda c: len(c.value))


class _HiddenInput(HTMLParser):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == self.name and self.value is None:
            self.value = found.get("value") or None


def hidden_input(html: str, name: str) -> str | None:
    """The value of ``<input name=NAME value=…>`` in a page, or None."""
    parser = _HiddenInput(name)
    parser.feed(html)
    return parser.value


class AuditContext:
    """Everything the checks share: the client, the target, the test user, the sessions."""

    def __init__(
        self,
        target: Target,
        client: AuditClient,
        *,
        samples: int = 200,
        min_bits: int = 128,
        concurrency: int = 4,
        sample_seconds: float = 40.0,
        progress: Progress | None = None,
        chromium: str | None = None,
        browser_timeout: float = 30.0,
    ) -> None:
        self.target = target
        self.client = client
        self.samples = samples
        self.min_bits = min_bits
        self.concurrency = concurrency
        self.sample_seconds = sample_seconds
        self.progress: Progress = progress or NullProgress()
        self.chromium = chromium
        """The browser C2 drives (a chromium executable), or None for no browser."""
        self.browser_timeout = browser_timeout
        self.credentials: Credentials | None = None
        self.sessions: list[Session] = []
        self.session_ids: list[str] = []
        self.first: Session | None = None
        self.first_evidence: list[Exchange] = []
        """The exchanges of the first login (C1 judges its Set-Cookie headers)."""
        self.blocked: dict[str, str] = {}
        """Why a capability is missing: ``{"login": reason, "protected": reason}``."""
        self.notes: list[str] = []
        self.logout_revokes: bool | None = None
        """What C3 found: logout ends the session on the server (True), only in the browser
        (False), or untested (None). Cleanup words its note by it."""

    # -- what can run ---------------------------------------------------------------------

    def cannot(self, *needs: str) -> str | None:
        """Why a check needing these capabilities cannot run here, or None."""
        for need in needs:
            if need in self.blocked:
                return self.blocked[need]
            if need in ("login", "protected", "logout", "logout_all"):
                why = self.target.missing(need)
                if why:
                    return why
        return None

    # -- requests -------------------------------------------------------------------------

    def _origin_headers(self, origin: str | None) -> dict[str, str]:
        if origin is None:
            return {}
        return {"Origin": self.client.origin if origin == OWN_ORIGIN else origin}

    async def _body_request(
        self,
        endpoint: Endpoint,
        jar: Jar,
        fields: Mapping[str, str],
        *,
        step: str,
        body: str,
        headers: Mapping[str, str],
    ) -> Response:
        response = await self.client.request(
            endpoint.method,
            endpoint.path,
            step=step,
            cookie=jar.header_for(endpoint.path),
            headers=headers,
            json=fields if body == "json" else None,
            form=fields if body == "form" else None,
        )
        jar.update(response.cookies, endpoint.path, response.date)
        return response

    async def register(self, credentials: Credentials | None = None) -> Credentials:
        """Register ``credentials`` (by default a new throwaway user) through the target's
        register endpoint; ``UserExists`` if the name is taken (409)."""
        login, register = self.target.login, self.target.register
        if login is None or register is None:
            raise LoginFailed("registering needs [login] and [register] in the target")
        creds = credentials or Credentials.throwaway()
        fields = {login.username_field: creds.username, login.password_field: creds.password}
        response = await self._body_request(
            register,
            Jar(),
            fields,
            step="register a throwaway test user" if creds.created else "register the test user",
            body=login.body,
            headers=self._origin_headers(OWN_ORIGIN),
        )
        if response.status == 429:
            raise RateLimited("registration answered 429 (rate limited)")
        if response.status == 409:
            raise UserExists(f"registration answered 409{_error(response)}")
        if not response.ok:
            raise LoginFailed(f"registration answered {response.status}{_error(response)}")
        return creds

    async def login(self, step: str = "log in", credentials: Credentials | None = None) -> Session:
        """Log in from a fresh browser; the new session is tracked for cleanup."""
        login = self.target.login
        creds = credentials or self.credentials
        if login is None or creds is None:
            raise LoginFailed(self.cannot("login") or "no credentials")
        jar = Jar()
        fields = {login.username_field: creds.username, login.password_field: creds.password}
        fields.update(login.extra)
        headers = self._origin_headers(OWN_ORIGIN)
        csrf = self.target.csrf
        if csrf is not None and csrf.page and csrf.source in ("form", "cookie"):
            token = await self._page_token(jar, step=f"{step}: fetch the CSRF token")
            if token and csrf.field:
                fields[csrf.field] = token
            elif token and csrf.header:
                headers[csrf.header] = token
        response = await self._body_request(
            login.endpoint, jar, fields, step=step, body=login.body, headers=headers
        )
        if response.status == 429:
            raise RateLimited(f"login answered 429 (rate limited){_retry_after(response)}")
        if not response.ok:
            raise LoginFailed(f"login answered {response.status}{_error(response)}")
        cookie = choose_session_cookie(
            response.cookies,
            configured=self.target.session_cookie,
            csrf_cookie=csrf.name if csrf is not None and csrf.source == "cookie" else None,
            now=response.date,
        )
        if cookie is None:
            wanted = self.target.session_cookie
            raise LoginFailed(
                f"login answered {response.status} but set no "
                + (f"cookie named {wanted!r}" if wanted else "cookie")
            )
        session = Session(jar, response, cookie.name)
        session.csrf = await self._session_token(session, step=step)
        self.sessions.append(session)
        self.session_ids.append(cookie.value)
        return session

    async def adopt(
        self, answers: Sequence[tuple[Response, str]], cookie_name: str, *, step: str
    ) -> Session:
        """The browser that received ``answers`` (each with the path it came from), as a
        session signed in by ``cookie_name``, with its CSRF token; not tracked for cleanup."""
        jar = Jar()
        for answer, path in answers:
            jar.update(answer.cookies, path, answer.date)
        session = Session(jar, answers[0][0], cookie_name)
        session.csrf = await self._session_token(session, step=step)
        return session

    async def _page_token(self, jar: Jar, *, step: str) -> str | None:
        csrf = self.target.csrf
        if csrf is None or csrf.page is None:
            return None
        page = await self.client.request(
            "GET", csrf.page, step=step, cookie=jar.header_for(csrf.page)
        )
        jar.update(page.cookies, csrf.page, page.date)
        if csrf.source == "cookie":
            return jar.get(csrf.name)
        return hidden_input(page.text(), csrf.name)

    async def _session_token(self, session: Session, *, step: str) -> str | None:
        csrf = self.target.csrf
        if csrf is None:
            return None
        if csrf.source == "json":
            body = session.login.json()
            value = body.get(csrf.name) if isinstance(body, dict) else None
            return value if isinstance(value, str) else None
        if csrf.source == "cookie" and session.jar.get(csrf.name):
            return session.jar.get(csrf.name)
        return await self._page_token(session.jar, step=f"{step}: fetch the CSRF token")

    async def check_signed_in(self, cookie: str | None, *, step: str) -> Response:
        """GET the protected URL with exactly this Cookie header (None: none at all)."""
        protected = self.target.protected
        if protected is None:
            raise AuditError("no protected URL in the target")
        return await self.client.request("GET", protected.path, step=step, cookie=cookie)

    def signed_in(self, response: Response) -> bool:
        return response.status in self.target.signed_in_status

    async def is_alive(self, session: Session, *, step: str) -> bool:
        """Whether the session still signs in; updates ``session.alive``."""
        protected = self.target.protected
        if protected is None:
            raise AuditError("no protected URL in the target")
        answer = await self.check_signed_in(session.jar.header_for(protected.path), step=step)
        session.alive = self.signed_in(answer)
        return session.alive

    async def send(
        self,
        endpoint: Endpoint,
        session: Session,
        *,
        step: str,
        csrf: bool = True,
        origin: str | None = OWN_ORIGIN,
        sec_fetch_site: str | None = None,
        method: str | None = None,
    ) -> Response:
        """A request as the target describes it, from ``session``'s browser.

        ``csrf=False`` leaves the CSRF token out, ``origin`` is ``OWN_ORIGIN``, another
        origin, or None for no Origin header; ``sec_fetch_site`` adds that header.
        """
        headers = self._origin_headers(origin)
        if sec_fetch_site is not None:
            headers["Sec-Fetch-Site"] = sec_fetch_site
        form: dict[str, str] | None = None
        spec = self.target.csrf
        if csrf and spec is not None and session.csrf:
            if spec.header:
                headers[spec.header] = session.csrf
            elif spec.field:
                form = {spec.field: session.csrf}
        response = await self.client.request(
            method or endpoint.method,
            endpoint.path,
            step=step,
            cookie=session.jar.header_for(endpoint.path),
            headers=headers,
            form=form,
        )
        session.jar.update(response.cookies, endpoint.path, response.date)
        return response

    async def logout(self, session: Session, *, step: str = "log out") -> Response:
        """Log ``session`` out properly (token, own Origin); marks it dead if that worked."""
        logout = self.target.logout
        if logout is None:
            raise AuditError("no logout endpoint in the target")
        response = await self.send(logout, session, step=step)
        if response.ok:
            session.alive = False
        return response

    async def cleanup(self) -> None:
        """Log out every session the auditor created and still believes alive.

        A session whose browser holds no cookie any more (a logout cleared it, but C3 found
        the server still takes it) cannot be logged out by that browser: it is not tried.
        When C3 found that logout ends nothing on the server, the note says the sessions may
        stay valid, and for how long if the cookie says, instead of "logged out".
        """
        alive = [s for s in self.sessions if s.alive and s.jar.get(s.cookie_name)]
        failed = 0
        if alive and self.target.logout is None:
            self.notes.append(
                f"{len(alive)} session(s) of the test user were left signed in: "
                "the target has no logout endpoint"
            )
            return
        for session in alive:
            try:
                response = await self.logout(session, step="clean up: log out")
            except AuditError:
                failed += 1
                continue
            failed += 0 if response.ok else 1
        if self.logout_revokes is False:
            self.notes.append(
                "cleanup: logout does not end sessions on the server (C3), so the "
                f"{len(self.sessions)} login(s) the auditor made as the test user may stay "
                f"valid{self._validity()}"
                + (
                    f"; the logout sent for the {len(alive)} still held clears only the "
                    "browser's copy"
                    if alive
                    else ""
                )
            )
        elif alive:
            self.notes.append(
                f"cleanup: logged out {len(alive) - failed} remaining session(s) of the test user"
            )
        if failed:
            self.notes.append(f"cleanup: {failed} session(s) could not be logged out")

    def _validity(self) -> str:
        """`` for up to 14 days (the cookie's Max-Age)`` for the first login's session cookie,
        or its JWT exp; empty when neither says."""
        first = self.first
        if first is None:
            return ""
        cookie = next((c for c in first.login.cookies if c.name == first.cookie_name), None)
        if cookie is None:
            return ""
        token = peek(cookie.value)
        lifetime = token.lifetime(first.login.date.timestamp()) if token is not None else None
        if lifetime is not None:
            return f" for up to {duration(lifetime)} (the JWT's exp)"
        lifetime = cookie.lifetime(first.login.date)
        if lifetime is not None:
            return f" for up to {duration(lifetime)} (the cookie's Max-Age)"
        return " until the server's own expiry (the cookie names none)"


def _error(response: Response) -> str:
    body: Any = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f" ({clean(body['error'], 60)})"
    return ""


def _retry_after(response: Response) -> str:
    value = response.headers.get("retry-after")
    return f", Retry-After {clean(value, 20)}" if value else ""
