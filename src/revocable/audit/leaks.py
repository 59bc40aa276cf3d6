"""Whether a value a script can read holds a credential, for C2. No I/O.

``find_leak`` looks at one value (a localStorage entry, a readable cookie, an
IndexedDB record as JSON) and names the worst credential-looking thing in it:

1. a **known secret**: the session cookie's value, the test user's password, the
   value of another cookie the browser keeps (exact substring match);
2. a **JWT**: three base64url parts whose first decodes to a JSON object with
   an ``alg``;
3. a **token**: a long run of token characters that looks random (several
   character classes, letters not in words as in camelCase or snake_case, an
   estimated capacity of 100 bits or more);
4. a **UUID**: 122 random bits as well, but as often a harmless device or
   analytics id; the caller decides by the key's name (``looks_authish``).

Values the page may hold on purpose (the CSRF token: a script must read it to
send it) are passed as ``ignore`` and removed before looking.

A :class:`Leak` says what kind and how long, never what: evidence shows a
credential as its length only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Known", "Leak", "LeakKind", "find_leak", "jwt_alg", "looks_authish", "token_bits"]

LeakKind = Literal["session id", "password", "cookie value", "JWT", "token", "UUID"]

_MIN_KNOWN = 8  # a shorter "secret" matches too much by chance
_MIN_PASSWORD = 6
_MIN_TOKEN = 20
_MIN_BITS = 100
_MAX_TEXT = 256 * 1024  # only this much of a value is looked at
_JWT = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_RUN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORDS = re.compile(r"[A-Z]?[a-z]+")
_AUTHISH = re.compile(
    r"token|auth|sess|sid|jwt|bearer|cred|secret|passw|access|refresh|api.?key|login|id_?token",
    re.IGNORECASE,
)
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True)
class Known:
    """A secret the auditor knows the value of; ``label`` names it (a cookie's name)."""

    value: str = ""
    kind: LeakKind = "session id"
    label: str = ""

    def __repr__(self) -> str:  # the value is a credential
        return f"Known({self.kind!r}, {self.label!r}, <{len(self.value)} chars>)"


@dataclass(frozen=True)
class Leak:
    """The worst credential-looking thing in a value: its kind, its length, a detail."""

    kind: LeakKind
    length: int
    detail: str = ""

    def describe(self) -> str:
        """``<43 chars, session id>`` or ``<180 chars, JWT, alg HS256>``: never the value."""
        extra = f", {self.detail}" if self.detail else ""
        return f"<{self.length} chars, {self.kind}{extra}>"


def looks_authish(name: str) -> bool:
    """Whether a storage key or cookie name sounds like it holds a credential."""
    return _AUTHISH.search(name) is not None


def _b64decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt_alg(candidate: str) -> str | None:
    """The ``alg`` of a compact JWT (header.payload.signature), or None if it is not one."""
    parts = candidate.split(".")
    if len(parts) != 3:
        return None
    raw = _b64decode(parts[0])
    if raw is None:
        return None
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or "alg" not in header:
        return None
    alg = header["alg"]
    return alg if isinstance(alg, str) else "?"


def _shannon(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _wordy(text: str) -> bool:
    """Whether letters come in words (camelCase, snake_case): long lower-case runs with vowels
    as in language. Random base64 has such words of about 2 letters, a fifth of them vowels."""
    found = _WORDS.findall(text)
    letters = sum(map(len, found))
    if not found or letters < 0.7 * len(text):
        return False
    vowels = sum(c in "aeiouAEIOU" for word in found for c in word)
    return letters / len(found) >= 4.5 and vowels / letters >= 0.3


def token_bits(run: str) -> float | None:
    """Bits a random-looking run of token characters could carry, or None if it looks made
    by hand (a word, a repeated pattern, one character class)."""
    body = run.rstrip("=")
    if len(body) < _MIN_TOKEN:
        return None
    classes = sum(
        1
        for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
        if any(c in chars for c in body)
    )
    if classes < 2:
        return None
    hex_only = all(c in _HEX for c in body)
    if (not hex_only and _wordy(body)) or _shannon(body) < 2.5:
        return None
    per_char = 4.0 if hex_only else 6.0
    bits = per_char * len(body)
    return bits if bits >= _MIN_BITS else None


def _without(text: str, ignore: Iterable[str]) -> str:
    for value in ignore:
        if len(value) >= _MIN_KNOWN:
            text = text.replace(value, " ")
    return text


def find_leak(text: str, *, known: Iterable[Known] = (), ignore: Iterable[str] = ()) -> Leak | None:
    """The worst credential-looking thing in ``text``, or None.

    Known secrets first (the session id before the password before other cookies), then
    JWTs, random-looking tokens, and UUIDs.
    """
    text = _without(text[:_MAX_TEXT], ignore)
    order: dict[LeakKind, int] = {"session id": 0, "password": 1, "cookie value": 2}
    for secret in sorted(known, key=lambda k: order.get(k.kind, 3)):
        least = _MIN_PASSWORD if secret.kind == "password" else _MIN_KNOWN
        if len(secret.value) >= least and secret.value in text:
            return Leak(secret.kind, len(secret.value), secret.label)
    for match in _JWT.finditer(text):
        alg = jwt_alg(match.group())
        if alg is not None:
            return Leak("JWT", len(match.group()), f"alg {alg[:12]}")
    uuid = _UUID.search(text)
    for match in _RUN.finditer(_UUID.sub(" ", text)):
        bits = token_bits(match.group())
        if bits is not None:
            return Leak("token", len(match.group()), f"up to {bits:.0f} bits")
    return None if uuid is None else Leak("UUID", len(uuid.group()))
