"""CSRF decisions: Fetch Metadata, Origin/Referer, then the session-bound token."""

from __future__ import annotations

from typing import Any

import pytest

from revocable.core.csrf import (
    CsrfRejection,
    check_request,
    csrf_token,
    normalise_origin,
    verify_csrf_token,
)

KEY, OLD_KEY = b"k" * 32, b"o" * 32
OWN = "https://app.example"


def decide(**overrides: Any) -> CsrfRejection | None:
    request: dict[str, Any] = {
        "method": "POST",
        "origin": OWN,
        "referer": None,
        "sec_fetch_site": "same-origin",
        "own_origin": OWN,
        "trusted_origins": (),
        "keys": [OLD_KEY, KEY],
        "session_binding": "h" * 22,
        "presented_token": csrf_token(KEY, "h" * 22),
    }
    request.update(overrides)
    return check_request(**request)


def test_same_origin_request_with_token_passes() -> None:
    """A same-origin POST carrying the session's token is allowed."""
    assert decide() is None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_are_never_checked(method: str) -> None:
    """Safe methods pass even cross-site and without a token."""
    assert decide(method=method, sec_fetch_site="cross-site", presented_token=None) is None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
def test_every_other_method_is_checked(method: str) -> None:
    """Every non-safe method needs the token."""
    assert decide(method=method, presented_token=None) is CsrfRejection.TOKEN_MISSING


def test_fetch_metadata_cross_site_is_refused_first() -> None:
    """Sec-Fetch-Site: cross-site is refused even with a valid token."""
    assert decide(sec_fetch_site="cross-site") is CsrfRejection.CROSS_SITE
    assert decide(sec_fetch_site="same-site") is None  # a sibling subdomain: the token decides
    assert decide(sec_fetch_site="none") is None  # user-typed navigation


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.example", "null", "x"])
def test_foreign_or_opaque_origin_is_refused(origin: str) -> None:
    """An Origin other than the app's own (or a trusted one) is refused."""
    assert decide(origin=origin, sec_fetch_site=None) is CsrfRejection.ORIGIN_MISMATCH


def test_trusted_origins_and_default_ports() -> None:
    """Trusted origins pass; an explicit default port is the same origin."""
    assert decide(origin="https://app.example:443") is None
    assert decide(origin="https://admin.example", trusted_origins={"https://admin.example"}) is None


def test_referer_is_the_https_fallback() -> None:
    """Without Origin, an HTTPS app refuses a foreign Referer and accepts its own."""
    assert decide(origin=None, referer="https://evil.example/x") is CsrfRejection.REFERER_MISMATCH
    assert decide(origin=None, referer=f"{OWN}/page?q=1") is None
    assert decide(origin=None, referer=None) is None  # no header at all: the token decides


def test_token_is_bound_to_the_session_and_key() -> None:
    """Another session's token, a forged one, or one under an unknown key fails."""
    assert decide(presented_token=csrf_token(KEY, "x" * 22)) is CsrfRejection.TOKEN_INVALID
    assert decide(presented_token="A" * 43) is CsrfRejection.TOKEN_INVALID
    assert decide(presented_token=csrf_token(b"?" * 32, "h" * 22)) is CsrfRejection.TOKEN_INVALID
    assert decide(presented_token=csrf_token(OLD_KEY, "h" * 22)) is None  # rotated-out key


def test_verify_refuses_wrong_shapes_cheaply() -> None:
    """Non-strings and wrong lengths are refused before any HMAC."""
    for bad in (None, 42, "", "a" * 44, b"x" * 43):
        assert not verify_csrf_token([KEY], "h", bad)


def test_origin_normalisation() -> None:
    """Origins compare by scheme, lower-cased host and non-default port."""
    assert normalise_origin("HTTPS://App.Example:443/path") == "https://app.example"
    assert normalise_origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert normalise_origin("http://[::1]:80") == "http://[::1]"
    for bad in ("null", "ftp://x", "https://", "https://x:99999", ""):
        assert normalise_origin(bad) is None
