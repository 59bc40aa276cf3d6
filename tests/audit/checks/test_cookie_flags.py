"""C1's pure judgement of one Set-Cookie header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from revocable.audit.checks.cookie_flags import judge_cookie
from revocable.audit.cookies import parse_set_cookie

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def judged(header: str) -> dict[str, str]:
    cookie = parse_set_cookie(header)
    assert cookie is not None
    return {f.code: f.severity for f in judge_cookie(cookie, now=NOW)}


def test_the_reference_cookie_has_nothing_to_fix() -> None:
    """__Host-session, HttpOnly, Secure, Lax, Path=/, 7 days: no fail, no warn, no advice."""
    found = judged("__Host-session=x; Max-Age=604800; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert found == {}


def test_a_bare_cookie_fails_three_ways_and_gets_advice() -> None:
    """No HttpOnly, Secure or SameSite fails; the __Host- prefix and Path are advice."""
    found = judged("sid=x")
    assert found == {
        "cookie_not_httponly": "fail",
        "cookie_not_secure": "fail",
        "cookie_samesite_missing": "fail",
        "cookie_no_host_prefix": "info",
        "cookie_no_path": "info",
        "cookie_browser_session": "info",
    }


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ("SameSite=None", "cookie_samesite_none"),
        ("SameSite=Loose", "cookie_samesite_invalid"),
    ],
)
def test_samesite_none_or_nonsense_fails(attributes: str, code: str) -> None:
    """SameSite must be Lax or Strict."""
    assert judged(f"sid=x; Path=/; Secure; HttpOnly; {attributes}")[code] == "fail"


def test_prefix_rules() -> None:
    """A __Host- cookie with a Domain or another Path breaks the prefix (browsers drop it)."""
    broken = judged("__Host-s=x; Path=/app; Secure; HttpOnly; SameSite=Strict")
    assert broken["cookie_prefix_invalid"] == "fail"
    assert judged("__Secure-s=x; HttpOnly; SameSite=Lax")["cookie_prefix_invalid"] == "fail"


def test_domain_and_lifetime_warnings() -> None:
    """A Domain shares the cookie with subdomains; a year-long session is long-lived."""
    found = judged(
        "sid=x; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=31536000"
    )
    assert found["cookie_domain_wide"] == "warn"
    assert found["cookie_long_lived"] == "warn"


def test_a_csrf_cookie_is_exempt_from_httponly_only() -> None:
    """A double-submit CSRF cookie may be readable by scripts; Secure and SameSite still apply."""
    cookie = parse_set_cookie("csrf_access_token=x; Path=/")
    assert cookie is not None
    found = {f.code: f.severity for f in judge_cookie(cookie, now=NOW, csrf=True)}
    assert "cookie_not_httponly" not in found
    assert found["csrf_cookie_readable"] == "info"
    assert found["cookie_not_secure"] == "fail"
    assert found["cookie_samesite_missing"] == "fail"
    assert judged("csrf_access_token=x; Path=/")["cookie_not_httponly"] == "fail"  # unless told
