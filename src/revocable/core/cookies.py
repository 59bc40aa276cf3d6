"""Cookies: the policy's Set-Cookie strings and a bounded Cookie-header parser.

Every Set-Cookie revocable sends is built here, so the safe defaults live in
one place: ``HttpOnly`` always, ``Secure`` and the ``__Host-`` prefix unless the
application explicitly runs in insecure development mode, ``SameSite=Lax``,
``Path=/``, no ``Domain`` (host-only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from revocable.errors import ConfigurationError

__all__ = [
    "MAX_COOKIE_HEADER",
    "CookiePolicy",
    "clear_cookie",
    "find_cookie",
    "parse_cookie_header",
    "set_cookie",
]

SameSite = Literal["strict", "lax", "none"]

MAX_COOKIE_HEADER = 8192
"""Cookie headers longer than this are ignored whole (no session), not parsed."""

_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 token
_VALUE_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # cookie-octets
_PATH_RE = re.compile(r"/[\x21-\x3a\x3c-\x7e]*")  # no ';', no spaces or controls
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How one cookie is sent. Safe by default; ``secure=False`` is for plain-http development.

    With ``secure`` and ``path="/"`` the name gets the ``__Host-`` prefix, which
    browsers only accept on a Secure, host-only, Path=/ cookie: no subdomain
    and no plain-http page can plant or overwrite it. A Secure cookie scoped to
    another path (the refresh cookie) gets ``__Secure-``, the strongest prefix
    such a cookie can carry.
    """

    name: str = "session"
    secure: bool = True
    same_site: SameSite = "lax"
    path: str = "/"
    host_prefix: bool = True

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name) or self.name.lower().startswith(
            ("__host-", "__secure-")
        ):
            raise ConfigurationError(
                "cookie name must be an RFC 6265 token without a __Host-/__Secure- prefix "
                "(revocable adds the prefix itself)"
            )
        if self.same_site not in ("strict", "lax", "none"):
            raise ConfigurationError("same_site must be 'strict', 'lax' or 'none'")
        if self.same_site == "none" and not self.secure:
            raise ConfigurationError("browsers refuse SameSite=None without Secure")
        if not _PATH_RE.fullmatch(self.path):
            raise ConfigurationError("cookie path must start with '/' and hold no ';' or spaces")

    @property
    def cookie_name(self) -> str:
        """The name on the wire: ``__Host-session`` by default."""
        if not (self.secure and self.host_prefix):
            return self.name
        return f"__Host-{self.name}" if self.path == "/" else f"__Secure-{self.name}"


def set_cookie(policy: CookiePolicy, value: str, *, max_age: int) -> str:
    """The Set-Cookie header value that stores ``value`` under the policy."""
    if not _VALUE_RE.fullmatch(value):
        raise ValueError("cookie value holds characters a cookie cannot carry")
    if max_age < 0:
        raise ValueError("max_age must be 0 or more")
    return _attributes(policy, f"{policy.cookie_name}={value}", f"Max-Age={max_age}")


def clear_cookie(policy: CookiePolicy) -> str:
    """A Set-Cookie header value that makes browsers delete the cookie now.

    Same name, path and prefix as the cookie it clears (otherwise browsers keep
    the original), an empty value, ``Max-Age=0`` and an ``Expires`` in the past
    for old clients.
    """
    return _attributes(policy, f"{policy.cookie_name}=", f"Max-Age=0; Expires={_EXPIRED}")


def _attributes(policy: CookiePolicy, pair: str, age: str) -> str:
    parts = [pair, age, f"Path={policy.path}"]
    if policy.secure:
        parts.append("Secure")
    parts += ["HttpOnly", f"SameSite={policy.same_site.capitalize()}"]
    return "; ".join(parts)


def parse_cookie_header(header: str | bytes | None) -> dict[str, str]:
    """Cookie name -> value from a Cookie request header; the first of duplicates wins.

    Bounded: a header over ``MAX_COOKIE_HEADER`` bytes yields no cookies at all.
    Malformed pairs are skipped, never raised on.
    """
    if not header or len(header) > MAX_COOKIE_HEADER:
        return {}
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if sep and name and name not in cookies:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name] = value
    return cookies


def find_cookie(header: str | bytes | None, name: str) -> str | None:
    """The value of the first cookie called ``name`` (empty counts as none).

    The same answer as ``parse_cookie_header(header).get(name)``, without
    building the dict: this runs on every request.
    """
    if not header or len(header) > MAX_COOKIE_HEADER:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if name not in header:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None
