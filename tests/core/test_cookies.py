"""Set-Cookie strings and Cookie-header parsing, with no framework."""

from __future__ import annotations

import pytest

from revocable import ConfigurationError
from revocable.core.cookies import (
    MAX_COOKIE_HEADER,
    CookiePolicy,
    clear_cookie,
    find_cookie,
    parse_cookie_header,
    set_cookie,
)


def test_default_cookie_is_host_prefixed_httponly_secure_lax() -> None:
    """The default session cookie carries every safe attribute and the __Host- prefix."""
    header = set_cookie(CookiePolicy(), "tok", max_age=604800)
    assert header == "__Host-session=tok; Max-Age=604800; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert "Domain" not in header


def test_insecure_development_cookie_drops_only_secure_and_prefix() -> None:
    """Development mode drops Secure and __Host- and keeps HttpOnly and SameSite."""
    header = set_cookie(CookiePolicy(secure=False), "tok", max_age=60)
    assert header == "session=tok; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"


def test_scoped_cookie_gets_the_secure_prefix() -> None:
    """A Secure cookie scoped to a path other than / is ``__Secure-`` (browsers refuse
    ``__Host-`` there); without Secure it keeps its plain name."""
    policy = CookiePolicy(name="refresh", path="/auth/refresh", same_site="strict")
    assert set_cookie(policy, "r", max_age=1).startswith(
        "__Secure-refresh=r; Max-Age=1; Path=/auth/refresh; Secure; HttpOnly; SameSite=Strict"
    )
    plain = CookiePolicy(name="refresh", path="/auth/refresh", secure=False)
    assert set_cookie(plain, "r", max_age=1).startswith("refresh=r; Max-Age=1; Path=/auth/refresh")


def test_clearing_cookie_matches_name_and_path_and_expires_now() -> None:
    """A deletion cookie has the same name and path, an empty value and Max-Age=0."""
    policy = CookiePolicy()
    header = clear_cookie(policy)
    assert header.startswith("__Host-session=; Max-Age=0; Expires=Thu, 01 Jan 1970")
    assert "Path=/" in header
    assert "Secure" in header


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a b"},
        {"name": "__Host-x"},
        {"name": ""},
        {"same_site": "none", "secure": False},
        {"same_site": "sometimes"},
        {"path": "no-slash"},
        {"path": "/a;b"},
    ],
)
def test_unsafe_cookie_policies_are_refused(kwargs: dict[str, object]) -> None:
    """Policies browsers would reject or misread fail when built."""
    with pytest.raises(ConfigurationError):
        CookiePolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["a;b", "a b", 'a"b', "a,b", "é", "a\x00"])
def test_values_a_cookie_cannot_carry_are_refused(value: str) -> None:
    """set_cookie refuses values that would break or inject into the header."""
    with pytest.raises(ValueError, match="cookie value"):
        set_cookie(CookiePolicy(), value, max_age=1)


def test_parser_keeps_first_duplicate_and_skips_junk() -> None:
    """The first of duplicate names wins; pairs without '=' or a name are skipped."""
    assert parse_cookie_header('a=1; b="2"; a=3; junk; =x; c=') == {"a": "1", "b": "2", "c": ""}
    assert parse_cookie_header(b"s=\xff") == {"s": "\xff"}
    assert parse_cookie_header(None) == {}


def test_oversized_cookie_header_yields_nothing() -> None:
    """A Cookie header over 8 KiB is ignored whole, at once."""
    assert parse_cookie_header("a=" + "x" * MAX_COOKIE_HEADER) == {}


@pytest.mark.parametrize(
    "header",
    [
        'a=1; b="2"; a=3; junk; =x; c=',
        "session=x; __Host-session=tok; __Host-session=second",
        "__Host-session=",
        "x__Host-session=no; __Host-session=yes",
        b"__Host-session=\xff",
        None,
        "__Host-session=" + "x" * MAX_COOKIE_HEADER,
    ],
)
def test_find_cookie_agrees_with_the_full_parser(header: str | bytes | None) -> None:
    """The per-request lookup answers what the full parser would, for every name."""
    for name in ("a", "b", "c", "__Host-session", "session", "missing"):
        assert find_cookie(header, name) == (parse_cookie_header(header).get(name) or None)
