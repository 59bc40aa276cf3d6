"""The auditor's only network code: one origin, a request budget, a rate, redacted evidence.

* Every request goes to the target's origin: a path is joined to the base URL,
  anything else raises :class:`OffOrigin` before a byte is sent. Redirects are
  never followed (a 3xx is evidence, not an instruction), proxies from the
  environment are not used.
* At most ``max_requests`` requests (:class:`BudgetExhausted` after that), at
  most ``rate`` per second, bodies read up to 1 MiB.
* Cookies are the caller's (``cookie=`` is the Cookie header, see
  ``cookies.Jar``); httpx's own jar accepts nothing.
* Each exchange is recorded as a :class:`~revocable.audit.result.Exchange`:
  cookie values, tokens and unknown headers appear as their length only;
  bodies as their field names; query values whose names look secret as their
  length. Each is tagged with the check that sent it (``CURRENT_CHECK``, set
  by the runner in each check's task), so two checks running at once each get
  their own exchanges from ``since``.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from revocable import __version__
from revocable.audit.cookies import SetCookie, clean, parse_set_cookie, redact
from revocable.audit.result import Exchange

__all__ = [
    "CURRENT_CHECK",
    "AuditClient",
    "AuditError",
    "BudgetExhausted",
    "OffOrigin",
    "Response",
    "TargetUnreachable",
]

CURRENT_CHECK: ContextVar[str | None] = ContextVar("revocable_audit_check", default=None)
"""The check (``"C8"``) whose task is running; the runner sets it, the client tags with it."""

_MAX_BODY = 1 << 20
_SHOWN_HEADERS = frozenset({"origin", "sec-fetch-site", "content-type", "referer"})
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|csrf|session|sid|key|code|auth", re.IGNORECASE)


class AuditError(Exception):
    """The audit could not do what it set out to; ``code`` names why."""

    code = "audit_error"


class OffOrigin(AuditError):
    """A request for another origin than the target's: refused before sending."""

    code = "off_origin"


class BudgetExhausted(AuditError):
    """The request budget (``--max-requests``) is spent."""

    code = "request_budget_exhausted"


class TargetUnreachable(AuditError):
    """No HTTP answer: connection refused, reset, or timed out."""

    code = "target_unreachable"


@dataclass(frozen=True)
class Response:
    """What came back: status, headers, the (bounded) body and the parsed Set-Cookie headers."""

    status: int
    headers: httpx.Headers = field(repr=False)
    body: bytes = field(repr=False)
    cookies: tuple[SetCookie, ...] = ()
    date: datetime = field(default_factory=lambda: datetime.now(UTC))

    def json(self) -> Any:
        """The body as JSON, or None if it is not JSON."""
        try:
            return jsonlib.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400


class AuditClient:
    """An httpx client held to one origin, a budget and a rate; it records every exchange."""

    def __init__(
        self,
        base_url: str,
        *,
        max_requests: int = 2000,
        rate: float = 50.0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if rate <= 0:
            raise ValueError("rate is requests per second, more than 0")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.prefix = parts.path.rstrip("/")
        self.max_requests = max_requests
        self.used = 0
        self.exchanges: list[Exchange] = []
        self._senders: list[str | None] = []  # the check that sent each exchange
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()
        nothing = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # httpx's jar takes none
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            cookies=nothing,
            headers={"user-agent": f"revocable-audit/{__version__}"},
        )

    @property
    def remaining(self) -> int:
        return self.max_requests - self.used

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the target; ``OffOrigin`` for anything else."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if f"{parts.scheme}://{parts.netloc}".lower() != self.origin:
                raise OffOrigin(f"refusing to leave {self.origin}")
            return path
        if not path.startswith("/") or path.startswith("//") or "\\" in path:
            raise OffOrigin(f"not a path on the target: {clean(path)!r}")
        return self.origin + self.prefix + path

    def mark(self) -> int:
        """A position in the exchange log; ``since(mark)`` gives what followed it."""
        return len(self.exchanges)

    def since(self, mark: int) -> list[Exchange]:
        """The exchanges after ``mark`` sent by the running check (all of them outside one)."""
        check = CURRENT_CHECK.get()
        return [
            exchange
            for exchange, sender in zip(self.exchanges[mark:], self._senders[mark:], strict=True)
            if check is None or sender == check
        ]

    def _record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        self._senders.append(CURRENT_CHECK.get())

    async def _pace(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = self._next
            self._next = now + self._interval

    async def request(
        self,
        method: str,
        path: str,
        *,
        step: str,
        cookie: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request (counted, paced, recorded) and read the answer."""
        url = self.url(path)
        if self.used >= self.max_requests:
            raise BudgetExhausted(f"the request budget ({self.max_requests}) is spent")
        self.used += 1
        await self._pace()
        sent_headers: dict[str, str] = dict(headers or {})
        if cookie:
            sent_headers["cookie"] = cookie
        shown = _describe_sent(sent_headers, json, form)
        display = path + (("&" if "?" in path else "?") + _redact_query(params) if params else "")
        try:
            async with self._http.stream(
                method, url, headers=sent_headers, json=json, data=form, params=params
            ) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) >= _MAX_BODY:
                        break
        except httpx.TransportError as exc:
            self._record(Exchange(step, method, display, None, shown, (), type(exc).__name__))
            raise TargetUnreachable(
                f"{method} {display}: no answer from {self.origin} ({type(exc).__name__})"
            ) from None
        cookies = tuple(
            c
            for c in (parse_set_cookie(v) for v in answer.headers.get_list("set-cookie"))
            if c is not None
        )
        response = Response(answer.status_code, answer.headers, bytes(body[:_MAX_BODY]), cookies)
        self._record(
            Exchange(
                step,
                method,
                display,
                response.status,
                shown,
                self._describe_received(response),
                _error_code(response),
            )
        )
        return response

    def _describe_received(self, response: Response) -> tuple[str, ...]:
        out = [f"Set-Cookie: {c.describe()}" for c in response.cookies]
        location = response.headers.get("location")
        if location is not None:
            parts = urlsplit(location)
            same = not parts.netloc or f"{parts.scheme}://{parts.netloc}".lower() == self.origin
            out.append(
                f"Location: {clean(parts.path or '/', 80)}"
                if same
                else "Location: (another origin)"
            )
        for name in ("retry-after", "allow"):
            value = response.headers.get(name)
            if value is not None:
                out.append(f"{name.title()}: {clean(value, 60)}")
        return tuple(out)

    async def aclose(self) -> None:
        await self._http.aclose()


def _describe_sent(
    headers: Mapping[str, str], json: Mapping[str, Any] | None, form: Mapping[str, str] | None
) -> tuple[str, ...]:
    out = []
    for name, value in headers.items():
        lower = name.lower()
        if lower == "cookie":
            pairs = [p.strip().partition("=") for p in value.split(";") if p.strip()]
            out.append("Cookie: " + "; ".join(f"{k}={redact(v)}" for k, _, v in pairs))
        elif lower in _SHOWN_HEADERS:
            out.append(f"{name}: {clean(value, 80)}")
        else:
            out.append(f"{name}: {redact(value)}")
    if json is not None:
        out.append("JSON fields: " + ", ".join(clean(k, 40) for k in json))
    if form is not None:
        out.append("form fields: " + ", ".join(clean(k, 40) for k in form))
    return tuple(out)


def _redact_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{quote(clean(k, 40))}=" + (redact(v) if _SECRET_NAME.search(k) else quote(clean(v, 40)))
        for k, v in params.items()
    )


def _error_code(response: Response) -> str | None:
    """The machine code of a JSON error body (``{"error": "csrf_token_missing"}``), if any."""
    if response.status < 400 or "json" not in response.headers.get("content-type", ""):
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    return clean(error, 60) if isinstance(error, str) else None
