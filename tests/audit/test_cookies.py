"""Set-Cookie parsing, the auditor's jar, and redaction."""

from __future__ import annotations

from datetime import UTC, datetime

from revocable.audit.cookies import Jar, clean, parse_set_cookie, redact

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_reference_servers_cookie_parses() -> None:
    """Name, value and every attribute of a Set-Cookie header are read."""
    cookie = parse_set_cookie(
        "__Host-session=abc123; Max-Age=604800; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    assert cookie is not None
    assert (cookie.name, cookie.value) == ("__Host-session", "abc123")
    assert cookie.http_only
    assert cookie.secure
    assert cookie.same_site == "lax"
    assert cookie.path == "/"
    assert cookie.max_age == 604800
    assert cookie.lifetime(NOW) == 604800
    assert not cookie.is_deletion(NOW)


def test_expires_and_deletions() -> None:
    """Expires in the past, or Max-Age 0, deletes; Max-Age wins over Expires."""
    gone = parse_set_cookie("sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")
    assert gone is not None
    assert gone.is_deletion(NOW)
    zero = parse_set_cookie("sid=x; Max-Age=0")
    assert zero is not None
    assert zero.is_deletion(NOW)
    both = parse_set_cookie("sid=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60")
    assert both is not None
    assert both.lifetime(NOW) == 60
    session = parse_set_cookie("sid=x")
    assert session is not None
    assert session.lifetime(NOW) is None


def test_odd_headers() -> None:
    """No name=value is None; quotes are stripped; bad Max-Age is ignored; last attribute wins."""
    assert parse_set_cookie("HttpOnly") is None
    assert parse_set_cookie("=x") is None
    quoted = parse_set_cookie('a="b c"; Max-Age=abc; SameSite=Lax; SameSite=Strict')
    assert quoted is not None
    assert quoted.value == "b c"
    assert quoted.max_age is None
    assert quoted.same_site == "strict"


def test_describe_never_shows_the_value() -> None:
    """Evidence shows the length of a cookie's value, and canonical attribute names."""
    cookie = parse_set_cookie("sid=supersecretvalue; httponly; samesite=lax")
    assert cookie is not None
    text = cookie.describe()
    assert "supersecretvalue" not in text
    assert text == "sid=<16 chars>; HttpOnly; SameSite=lax"
    assert "supersecretvalue" not in repr(cookie)


def test_jar_honours_paths_and_deletions() -> None:
    """A cookie goes only to its path; a deletion removes it; the default path is the directory."""
    jar = Jar()
    cookies = [
        parse_set_cookie("sid=a; Path=/"),
        parse_set_cookie("refresh=b; Path=/auth/refresh"),
        parse_set_cookie("scoped=c"),
    ]
    jar.update([c for c in cookies if c is not None], "/auth/login", NOW)
    assert jar.header_for("/api/me") == "sid=a"
    assert jar.header_for("/auth/refresh") == "refresh=b; scoped=c; sid=a"
    assert jar.header_for("/auth/refreshx") == "scoped=c; sid=a"
    assert jar.get("refresh") == "b"
    deletion = parse_set_cookie("sid=; Max-Age=0; Path=/")
    assert deletion is not None
    jar.update([deletion], "/auth/logout", NOW)
    assert jar.header_for("/api/me") is None
    assert "a" not in repr(jar.copy()).replace("Jar", "")


def test_redact_and_clean() -> None:
    """Credentials show as a length; target text loses control characters and is bounded."""
    assert redact("abcdef") == "<6 chars>"
    assert clean("a\x1b[31mb\nc") == "a?[31mb?c"
    assert len(clean("x" * 500)) == 120
