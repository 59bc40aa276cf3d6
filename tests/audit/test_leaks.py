"""Spotting credentials in values a script can read (C2): known secrets, JWTs, random tokens."""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import pytest

from revocable.audit.leaks import Known, Leak, find_leak, jwt_alg, looks_authish, token_bits


def jwt(header: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'sub': '1', 'exp': 2})}.{secrets.token_urlsafe(32)}"


SESSION = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SESSION, "session id"),
        (json.dumps({"user": "ann", "sid": SESSION}), "session id"),
        ("correct horse battery", "password"),
        (jwt({"alg": "HS256", "typ": "JWT"}), "JWT"),
        ("Bearer " + jwt({"alg": "none"}), "JWT"),
        (secrets.token_urlsafe(32), "token"),
        (secrets.token_hex(16), "token"),
        (json.dumps({"refresh": secrets.token_urlsafe(24)}), "token"),
        (str(uuid.uuid4()), "UUID"),
    ],
    ids=[
        "session-id",
        "session-id-in-json",
        "password",
        "jwt",
        "jwt-alg-none-after-bearer",
        "base64url-token",
        "hex-token",
        "token-in-json",
        "uuid",
    ],
)
def test_credentials_are_found(text: str, kind: str) -> None:
    """Each kind of credential is recognised, also inside a larger value."""
    known = [Known(SESSION, "session id", "sid"), Known("correct horse battery", "password")]
    leak = find_leak(text, known=known)
    assert leak is not None
    assert leak.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        "",
        "dark",
        json.dumps({"theme": "dark", "lang": "en-GB", "sidebar": True}),
        "userPreferencesVersionTwoEnabled",
        "https://app.example/some/long/path/to/a/page?tab=settings",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "1700000000000",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ],
    ids=["empty", "word", "settings", "camel-case", "url", "alphabet", "timestamp", "repeat"],
)
def test_ordinary_values_are_not_credentials(text: str) -> None:
    """Settings, words, URLs, timestamps and patterns are not taken for tokens."""
    assert find_leak(text) is None


def test_known_secrets_come_first_and_ignored_values_are_removed() -> None:
    """The session id is named as such even beside a JWT; a CSRF token passed as ignore is
    not a leak, but a token beside it still is."""
    both = f"{jwt({'alg': 'ES256'})} {SESSION}"
    assert find_leak(both, known=[Known(SESSION, "session id", "sid")]) == Leak(
        "session id", len(SESSION), "sid"
    )
    csrf = secrets.token_urlsafe(32)
    assert find_leak(csrf, ignore=[csrf]) is None
    other = secrets.token_urlsafe(32)
    leak = find_leak(f"{csrf}:{other}", ignore=[csrf])
    assert leak is not None
    assert leak.kind == "token"


def test_short_known_values_are_not_matched() -> None:
    """A known secret shorter than 8 characters (6 for a password) would match by chance."""
    assert find_leak("a b c", known=[Known("b", "session id")]) is None
    assert find_leak("hunter", known=[Known("hunter", "password")]) is not None
    assert find_leak("hunt", known=[Known("hunt", "password")]) is None


def test_a_leak_describes_itself_without_the_value() -> None:
    """The description is the length and the kind, never the characters."""
    token = jwt({"alg": "HS256"})
    leak = find_leak(token)
    assert leak is not None
    assert leak.describe() == f"<{len(token)} chars, JWT, alg HS256>"
    assert token not in repr(leak)
    assert SESSION not in repr(Known(SESSION))


def test_jwt_alg_and_token_bits() -> None:
    """jwt_alg reads the header's alg (None when it is not a JWT); token_bits estimates."""
    assert jwt_alg(jwt({"alg": "EdDSA"})) == "EdDSA"
    assert jwt_alg("a.b.c") is None
    assert jwt_alg("eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0.c2ln") is None  # a header without alg
    assert jwt_alg("not a jwt") is None
    bits = token_bits(secrets.token_urlsafe(32).replace("-", "a").replace("_", "b"))
    assert bits is not None
    assert bits >= 128
    assert token_bits("short1A") is None


def test_authish_names() -> None:
    """Key names that sound like credentials."""
    assert all(map(looks_authish, ["token", "authState", "sessionId", "refresh_jwt", "apiKey"]))
    assert not any(map(looks_authish, ["theme", "deviceId", "lang", "cart"]))
