"""C2's judgement of what a script could read after the login (no browser needed here)."""

from __future__ import annotations

import secrets
from collections import Counter

from revocable.audit.browser import BrowserCookie, StorageItem, Visit
from revocable.audit.checks.web_storage import judge

PASSWORD = "correct horse battery"
SESSION = BrowserCookie("__Host-session", secrets.token_urlsafe(32), True, True, "Lax")


def visit(*items: StorageItem, cookies: tuple[BrowserCookie, ...] = (SESSION,)) -> Visit:
    return Visit(items=list(items), cookies=list(cookies), blocked=Counter())


def codes(
    seen: Visit,
    *,
    session: BrowserCookie | None = SESSION,
    csrf_values: tuple[str, ...] = (),
    csrf_cookie: str | None = None,
) -> list[str]:
    findings, _ = judge(
        seen, session=session, password=PASSWORD, csrf_values=csrf_values, csrf_cookie=csrf_cookie
    )
    return [f.code for f in findings]


def test_nothing_readable_passes() -> None:
    """Empty storage and a session cookie kept HttpOnly: no finding; the notes say what was
    read and how the browser keeps the cookie."""
    findings, notes = judge(visit(), session=SESSION, password=PASSWORD)
    assert findings == []
    text = " | ".join(n.text for n in notes)
    assert "localStorage 0 keys, sessionStorage 0 keys, document.cookie 0 cookies" in text
    assert "IndexedDB 0 databases" in text
    assert "the browser keeps __Host-session: HttpOnly Secure SameSite=Lax" in text


def test_each_kind_of_credential_fails_with_its_code() -> None:
    """The session id, the password, another cookie's value, a JWT and a random token each
    fail where they are, and the message names the storage and key, never the value."""
    refresh = BrowserCookie("refresh", secrets.token_urlsafe(32), True, True, "Strict", "/r")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + secrets.token_urlsafe(32)
    items = (
        StorageItem("localStorage", "sid", SESSION.value),
        StorageItem("sessionStorage", "login", f'{{"password": "{PASSWORD}"}}'),
        StorageItem("localStorage", "r", refresh.value),
        StorageItem("IndexedDB app/kv", "record 1", f'{{"value": {{"jwt": "{jwt}"}}}}'),
        StorageItem("localStorage", "apiKey", secrets.token_hex(24)),
    )
    findings, _ = judge(
        visit(*items, cookies=(SESSION, refresh)), session=SESSION, password=PASSWORD
    )
    assert [f.code for f in findings] == [
        "session_id_in_storage",
        "password_in_storage",
        "cookie_value_in_storage",
        "jwt_in_storage",
        "token_in_storage",
    ]
    assert findings[0].message.startswith("localStorage['sid'] holds the session cookie's value")
    assert "IndexedDB app/kv['record 1'] holds a JWT <" in findings[3].message
    everything = " ".join(f.message for f in findings)
    for secret in (SESSION.value, PASSWORD, refresh.value, jwt):
        assert secret not in everything
    assert all(f.severity == "fail" and f.fix for f in findings)


def test_a_readable_session_cookie_fails() -> None:
    """The session cookie in document.cookie (no HttpOnly) is its own failure."""
    readable = BrowserCookie("sid", secrets.token_urlsafe(32), False, True, "Lax")
    seen = visit(StorageItem("document.cookie", "sid", readable.value), cookies=(readable,))
    findings, _ = judge(seen, session=readable, password=PASSWORD)
    assert [f.code for f in findings] == ["session_cookie_readable"]
    assert "lacks HttpOnly" in findings[0].message


def test_csrf_tokens_may_be_readable() -> None:
    """The CSRF token the target hands out, a double-submit cookie, and a token under a
    csrf/xsrf key are allowed; a token beside them is not."""
    token = secrets.token_urlsafe(32)
    double = secrets.token_urlsafe(32)
    seen = visit(
        StorageItem("sessionStorage", "csrf", token),
        StorageItem("document.cookie", "csrftoken", double),
        StorageItem("localStorage", "X-XSRF", secrets.token_urlsafe(32)),
        cookies=(SESSION, BrowserCookie("csrftoken", double, False, True, "Lax")),
    )
    assert codes(seen, csrf_values=(token,), csrf_cookie="csrftoken") == []
    seen.items.append(StorageItem("localStorage", "token", secrets.token_urlsafe(32)))
    assert codes(seen, csrf_values=(token,), csrf_cookie="csrftoken") == ["token_in_storage"]


def test_a_readable_cookie_is_not_its_own_leak() -> None:
    """A harmless readable cookie (a language) holds its own value, which is not a leak; a
    UUID under a harmless key is noted, under a credential-like key it fails."""
    lang = BrowserCookie("lang", "en-GB-x-" + "a" * 20, False, True, "Lax")
    seen = visit(
        StorageItem("document.cookie", "lang", lang.value),
        StorageItem("localStorage", "deviceId", "123e4567-e89b-42d3-a456-426614174000"),
        cookies=(SESSION, lang),
    )
    findings, notes = judge(seen, session=SESSION, password=PASSWORD)
    assert findings == []
    assert any("not named like a credential" in n.text for n in notes)
    seen.items.append(
        StorageItem("localStorage", "authToken", "123e4567-e89b-42d3-a456-4266141740aa")
    )
    assert codes(seen) == ["token_in_storage"]


def test_a_key_that_is_itself_a_secret_is_not_shown() -> None:
    """A storage key holding the session id is shown as its length."""
    seen = visit(StorageItem("localStorage", SESSION.value, "1"))
    findings, _ = judge(seen, session=SESSION, password=PASSWORD)
    assert [f.code for f in findings] == ["session_id_in_storage"]
    assert SESSION.value not in findings[0].message
    assert f"localStorage[<{len(SESSION.value)} chars>]" in findings[0].message


def test_no_session_cookie_still_judges_storage() -> None:
    """A token-only page (no cookie at all) is still judged by what it stored."""
    seen = visit(StorageItem("localStorage", "jwt", "x." * 3), cookies=())
    assert codes(seen, session=None) == []
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0." + secrets.token_urlsafe(40)
    seen.items.append(StorageItem("localStorage", "access", token))
    assert codes(seen, session=None) == ["jwt_in_storage"]
