"""Cookies as the auditor sees them: Set-Cookie parsing, a one-origin jar, redaction. No I/O.

The auditor keeps cookies itself rather than in httpx's jar: that jar will not
send a ``Secure`` cookie over plain http (the reference server sets Secure even
on localhost, as browsers accept it there), and evidence needs each cookie's
attributes exactly as the server sent them.

Cookie values are credentials: nothing here prints one. ``describe`` and
``redact`` show a value as its length only.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Jar", "SetCookie", "clean", "parse_set_cookie", "redact"]

_MAX_SHOWN = 120
_CANONICAL = {
    "httponly": "HttpOnly",
    "secure": "Secure",
    "samesite": "SameSite",
    "path": "Path",
    "domain": "Domain",
    "max-age": "Max-Age",
    "expires": "Expires",
    "partitioned": "Partitioned",
}


def redact(value: str) -> str:
    """A credential as evidence may show it: its length, never its characters."""
    return f"<{len(value)} chars>"


def clean(text: str, limit: int = _MAX_SHOWN) -> str:
    """Text from the target made safe to print: printable ASCII only, bounded length.

    A hostile target must not be able to move the terminal cursor or forge lines.
    """
    safe = "".join(c if " " <= c <= "~" else "?" for c in text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header: the name, the (never shown) value and the attributes."""

    name: str
    value: str = field(repr=False)
    attributes: tuple[tuple[str, str | None], ...] = ()
    """(lower-cased attribute name, value or None for flags), in the order sent."""

    def _get(self, name: str) -> str | None:
        for key, value in reversed(self.attributes):  # the last one wins (RFC 6265 5.3)
            if key == name:
                return value if value is not None else ""
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)

    @property
    def http_only(self) -> bool:
        return self.has("httponly")

    @property
    def secure(self) -> bool:
        return self.has("secure")

    @property
    def same_site(self) -> str | None:
        """``strict``, ``lax``, ``none`` (lower case), another string as sent, or None."""
        value = self._get("samesite")
        return None if value is None else value.strip().lower()

    @property
    def path(self) -> str | None:
        return self._get("path")

    @property
    def domain(self) -> str | None:
        return self._get("domain")

    @property
    def max_age(self) -> int | None:
        """Seconds, or None when absent or not an integer (browsers then ignore it)."""
        value = self._get("max-age")
        if value is None:
            return None
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        return int(text) if digits.isdigit() else None

    @property
    def expires(self) -> datetime | None:
        value = self._get("expires")
        if not value:
            return None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def lifetime(self, now: datetime) -> float | None:
        """Seconds the browser keeps it (Max-Age wins over Expires); None = until it closes."""
        if self.max_age is not None:
            return float(self.max_age)
        if self.expires is not None:
            return (self.expires - now).total_seconds()
        return None

    def is_deletion(self, now: datetime) -> bool:
        """Whether this header removes the cookie rather than setting it."""
        lifetime = self.lifetime(now)
        return lifetime is not None and lifetime <= 0

    def describe(self) -> str:
        """The header as evidence: the value replaced by its length."""
        parts = [f"{clean(self.name, 60)}={redact(self.value)}"]
        for key, value in self.attributes:
            key = _CANONICAL.get(key, clean(key, 20))
            parts.append(key if value is None else f"{key}={clean(value, 40)}")
        return "; ".join(parts)


def parse_set_cookie(header: str) -> SetCookie | None:
    """Parse one Set-Cookie header value (RFC 6265 5.2); None if it has no ``name=value``."""
    pair, _, rest = header.partition(";")
    if "=" not in pair:
        return None
    name, _, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not name:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    attributes: list[tuple[str, str | None]] = []
    for item in rest.split(";"):
        key, eq, attr_value = item.partition("=")
        key = key.strip().lower()
        if key:
            attributes.append((key, attr_value.strip() if eq else None))
    return SetCookie(name, value, tuple(attributes))


def _default_path(request_path: str) -> str:
    """RFC 6265 5.1.4: the request path up to its last slash."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


class Jar:
    """The cookies of one simulated browser on the one origin the auditor talks to.

    Domain is ignored (everything goes to one origin); Path is honoured, so a
    refresh cookie scoped to ``/auth/refresh`` goes only there, as in a browser.
    """

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str], str] = {}

    def update(self, cookies: Iterable[SetCookie], request_path: str, now: datetime) -> None:
        """Apply the Set-Cookie headers of a response to ``request_path``."""
        for cookie in cookies:
            path = cookie.path if cookie.path and cookie.path.startswith("/") else None
            key = (cookie.name, path or _default_path(request_path.split("?", 1)[0]))
            if cookie.is_deletion(now):
                self._cookies.pop(key, None)
            else:
                self._cookies[key] = cookie.value

    def header_for(self, path: str) -> str | None:
        """The Cookie header a browser would send to ``path`` (longest paths first)."""
        request_path = path.split("?", 1)[0] or "/"
        matching = [
            (len(cookie_path), name, value)
            for (name, cookie_path), value in self._cookies.items()
            if _path_matches(request_path, cookie_path)
        ]
        if not matching:
            return None
        matching.sort(key=lambda item: -item[0])
        return "; ".join(f"{name}={value}" for _, name, value in matching)

    def get(self, name: str) -> str | None:
        """The value of a cookie by name (any path), or None."""
        for (cookie_name, _), value in self._cookies.items():
            if cookie_name == name:
                return value
        return None

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._cookies})

    def copy(self) -> Jar:
        other = Jar()
        other._cookies = dict(self._cookies)
        return other

    def __repr__(self) -> str:  # values are credentials: names only
        return f"Jar({self.names()!r})"
