"""Reading JWTs without verifying them, and C7's verdict on their lifetime (no I/O)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from revocable.audit.jwts import fingerprint, judge_access_token, looks_like_jwt, peek
from revocable.audit.result import Finding

NOW = 1_700_000_000


def token(lifetime: int | None, *, iat: bool = True, alg: str = "HS256") -> str:
    claims: dict[str, object] = {"sub": "u1"}
    if iat:
        claims["iat"] = NOW
    if lifetime is not None:
        claims["exp"] = NOW + lifetime
    return jwt.encode(claims, "k" * 32, algorithm=alg)


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def codes(found: list[Finding]) -> dict[str, str]:
    return {f.code: f.severity for f in found}


@pytest.mark.parametrize(
    ("lifetime", "code", "severity"),
    [
        (300, "access_token_short", "info"),
        (600, "access_token_short", "info"),
        (601, "access_token_over_10_minutes", "warn"),
        (12 * 60, "access_token_over_10_minutes", "warn"),
        (15 * 60, "access_token_over_10_minutes", "warn"),
        (15 * 60 + 1, "access_token_long_lived", "fail"),
        (10 * 3600, "access_token_long_lived", "fail"),
    ],
)
def test_lifetime_thresholds(lifetime: int, code: str, severity: str) -> None:
    """Up to 10 minutes passes, up to 15 warns, longer fails (exp - iat)."""
    peeked = peek(token(lifetime))
    assert peeked is not None
    assert codes(judge_access_token(peeked, label="t", now=NOW + 99))[code] == severity


def test_no_exp_never_expires() -> None:
    """A JWT without exp fails: it never expires."""
    peeked = peek(token(None))
    assert peeked is not None
    assert peeked.lifetime(NOW) is None
    found = judge_access_token(peeked, label="the access_token field", now=NOW)
    assert codes(found)["access_token_never_expires"] == "fail"
    assert "never expires" in found[0].message


def test_without_iat_the_lifetime_counts_from_now() -> None:
    """No iat: the lifetime is exp - now."""
    peeked = peek(token(3600, iat=False))
    assert peeked is not None
    assert peeked.lifetime(NOW + 3000) == 600
    assert "exp - now, no iat" in peeked.describe(NOW)


def test_signatures_are_described() -> None:
    """alg none warns; HS256 is noted as symmetric; the header's typ and kid are shown."""
    none = peek(unsigned({"iat": NOW, "exp": NOW + 60}))
    assert none is not None
    assert codes(judge_access_token(none, label="t", now=NOW))["jwt_unsigned"] == "warn"
    hs = peek(token(60))
    assert hs is not None
    assert codes(judge_access_token(hs, label="t", now=NOW))["jwt_symmetric"] == "info"
    assert hs.describe(NOW) == "alg HS256, typ JWT, lives 60 s (exp - iat)"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "opaque-session-id",
        "eyJ.only-two",
        "eyJhbGciOiJub25lIn0.!!!.x",
        "eyJub3QganNvbg.eyJ4IjoxfQ.sig",  # header is not JSON
        "eyJhbGciOiJIUzI1NiJ9.WzFd.sig",  # claims are a list
        "eyJ" + "a" * 20_000 + ".eyJ4IjoxfQ.sig",
    ],
)
def test_what_is_not_a_jwt(value: str) -> None:
    """Opaque ids, broken parts, non-object claims and huge values are not read."""
    assert peek(value) is None


def test_absurd_claims_are_no_lifetime() -> None:
    """A boolean, string or huge exp counts as missing."""
    for exp in (True, "soon", 1e300):
        peeked = peek(unsigned({"iat": NOW, "exp": exp}))
        assert peeked is not None
        assert peeked.exp is None


def test_fingerprint_never_shows_the_token() -> None:
    """Evidence names a token by length and a digest prefix, never its characters."""
    value = token(60)
    shown = fingerprint(value)
    assert shown.startswith(f"<{len(value)} chars, sha256 ")
    assert value[:8] not in shown
    assert looks_like_jwt(value)
