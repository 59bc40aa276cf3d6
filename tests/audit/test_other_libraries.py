"""Audits of apps built on other libraries, as those libraries' docs show them.

Each test serves one app from ``tests/audit/other_libraries`` over real HTTP,
runs the auditor in-process as a test user that already exists (the auditor
registers nobody here), and asserts the verdict of every checklist item. The
tables say, per item, what the auditor says and why that is right for the
library; ``docs/audit-findings.md`` is the same as a report.

A row is a :class:`Want`: the status, the result's code, and finding codes that
must (``found``) or must not (``absent``) be among its findings. ``also`` lists
other verdicts accepted for an environment, not for the app: ``NO_BROWSER``
where there is no chromium to drive for C2.
"""

from __future__ import annotations

import base64
import json
import secrets
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from revocable.audit.checks.session_ids import SIGNED_AFTER
from revocable.audit.result import AuditReport, CheckResult, Exchange
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import Target, target_from_mapping
from tests.audit.other_libraries import fastapi_users_cookie, flask_jwt_cookies, starlette_sessions
from tests.servers import Serve

USER = "alice"
PASSWORD = secrets.token_urlsafe(16)
EMAIL = "alice@example.com"  # fastapi-users signs in by email
MINUTE = 60.0  # each audit must finish within this many seconds


NO_BROWSER = "n/a browser_unavailable"
"""What C2 says where there is no chromium to drive."""


@dataclass(frozen=True)
class Want:
    """One item's verdict: "status", the result's code, finding codes present and absent."""

    status: str
    code: str | None = None
    found: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    also: tuple[str, ...] = ()


def details(report: AuditReport) -> str:
    return "\n".join(f"{r.id} {r.status} {r.code}: {r.summary}" for r in report.results)


def _wrong(result: CheckResult, want: Want) -> str | None:
    codes = {f.code for f in result.findings}
    if f"{result.status} {result.code}" in want.also:
        return None
    if result.status != want.status or (want.code is not None and result.code != want.code):
        return f"want {want.status} {want.code or ''}, got {result.status} {result.code}"
    missing = set(want.found) - codes
    present = set(want.absent) & codes
    if missing or present:
        return f"findings {sorted(codes)}: missing {sorted(missing)}, unwanted {sorted(present)}"
    return None


def assert_verdicts(report: AuditReport, wants: dict[str, Want]) -> None:
    """Every item C1..C9 as the table says; on a mismatch, all that differ and the report."""
    assert sorted(wants) == [f"C{i}" for i in range(1, 10)]
    wrong = [
        f"{result.id}: {why}"
        for result in report.results
        if (why := _wrong(result, wants[result.id])) is not None
    ]
    assert not wrong, "\n".join(wrong) + "\n\n" + details(report)
    assert report.duration_s < MINUTE, details(report)


def lines(result: CheckResult) -> list[str]:
    """A result's evidence as the verbose table shows it."""
    return [item.line() for item in result.evidence]


def describe(toml: str, url: str) -> Target:
    """The target a user would write, as TOML, for the app at ``url``."""
    return target_from_mapping(tomllib.loads(toml), url)


def as_user(username: str = USER, *, samples: int = 200) -> AuditOptions:
    """The default audit (200 samples), fast, as the test user the app already has."""
    return AuditOptions(rate=5000, samples=samples, username=username, password=PASSWORD)


# -- Starlette's SessionMiddleware ---------------------------------------------------------

STARLETTE = {
    "C1": Want("fail", "cookie_not_secure"),  # https_only=False is the default: no Secure
    "C2": Want("pass", also=(NO_BROWSER,)),  # nothing readable holds the session
    "C3": Want("fail", "session_survives_logout"),  # session.clear() drops the browser's copy only
    "C4": Want("fail", "no_logout_all"),  # the library cannot (short of a new secret_key for all)
    "C5": Want("pass"),  # POST-only routes: GET/HEAD /logout answer 405
    "C6": Want(  # no token, no Origin check; only SameSite=Lax
        "fail", "csrf_unprotected", found=("csrf_origin_not_checked", "csrf_fetch_metadata_ignored")
    ),
    "C7": Want("n/a", "no_jwt"),  # no JWT anywhere
    "C8": Want("n/a"),  # no refresh tokens
    "C9": Want("n/a", "signed_payload"),  # a signed payload (itsdangerous), not a random id
}


@pytest.mark.parametrize(
    "username",
    [
        "alice",  # {"user": "alice"} is 17 bytes: its base64 ends in "="
        "audit-bot",  # {"user": "audit-bot"} is 21 bytes: no "=", the cookie starts "eyJ"
    ],
    ids=["padded-payload", "unpadded-payload"],
)
async def test_starlette_session_middleware(serve: Serve, username: str) -> None:
    """Starlette's signed-cookie sessions: C1, C3, C4 and C6 fail; C9 is n/a, a signed payload.

    C1: ``SessionMiddleware`` sets HttpOnly and SameSite=Lax but Secure only with
    ``https_only=True``, off by default. C3: nothing is kept on the server, so
    ``request.session.clear()`` can only send a deletion; the old cookie is a
    valid signed session for 14 days. C4: the library has no way to end one
    user's sessions elsewhere, and the target says so (``logout_all = false``):
    the item fails for want of one. C6: no CSRF defence but SameSite, said once.

    C9: the cookie is ``base64(json) . timestamp . HMAC`` (itsdangerous), not an
    id drawn at random: what an attacker must guess is the key, not an id, as
    for a JWT. The auditor decodes it, says so ("n/a", ``signed_payload``) for
    either username, padded base64 or not, and stops sampling after a handful
    of ids instead of making 200 logins. C7 names it the same way: not a JWT.
    Cleanup does not claim to have logged anything out: logout ends nothing on
    the server, and the cookies stay valid for their 14 days.
    """
    url = await serve(starlette_sessions.make_app({username: PASSWORD}))
    report = await run_audit(describe(starlette_sessions.TARGET_TOML, url), as_user(username))
    assert_verdicts(report, STARLETTE)
    assert report.exit_code() == 1
    c6, c7, c9 = report.results[5], report.results[6], report.results[8]
    assert c6.summary.count("no CSRF defence") == 1, c6.summary
    assert "were each accepted alone too" in c6.summary
    assert not [line for line in lines(c6) if "with the token" in line]
    assert "itsdangerous-signed JSON (payload.timestamp.signature)" in c9.summary
    assert "its secrecy rests on the server's signing key" in c9.summary
    assert "is itsdangerous-signed JSON (payload.timestamp.signature), not a JWT" in c7.summary
    assert "opaque" not in c7.summary
    sampled = [e for e in c9.evidence if isinstance(e, Exchange) and e.step.startswith("sample")]
    assert len(sampled) <= 2 * SIGNED_AFTER  # a login and a logout each, at most
    assert report.requests < 100, report.requests  # not 200 sampling logins
    assert any(line.startswith("sampling stopped after") for line in lines(c9)), lines(c9)
    notes = " | ".join(report.notes)
    assert "logout does not end sessions on the server (C3)" in notes
    assert "for up to 14 days (the cookie's Max-Age)" in notes
    assert "logged out" not in notes


async def test_starlette_cookie_is_the_signed_session_itself(serve: Serve) -> None:
    """The session cookie decodes to the session dict: the user's name, signed, no random id."""
    url = await serve(starlette_sessions.make_app({USER: PASSWORD}))
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/login", data={"username": USER, "password": PASSWORD})
    assert answer.status_code == 303
    payload, timestamp, signature = answer.cookies["session"].split(".")
    assert json.loads(base64.b64decode(payload)) == {"user": USER}
    assert timestamp
    assert len(signature) == 27  # HMAC-SHA1, base64url: the only part an attacker cannot make


# -- flask-jwt-extended, JWTs in cookies ----------------------------------------------------

FLASK = {
    "C1": Want(  # JWT_COOKIE_SECURE=False, JWT_COOKIE_SAMESITE=None; CSRF cookies may be readable
        "fail",
        "cookie_not_secure",
        found=("cookie_samesite_missing", "csrf_cookie_readable"),
        absent=("cookie_not_httponly",),
    ),
    "C2": Want("pass", also=(NO_BROWSER,)),  # csrf_access_token is for JS, not a key
    "C3": Want(  # unset_jwt_cookies: the access JWT lives 15 minutes, the refresh one 30 days
        "fail", "session_survives_logout", found=("refresh_survives_logout",)
    ),
    "C4": Want("fail", "no_logout_all"),  # no such feature
    "C5": Want("pass"),  # POST /logout: GET and HEAD answer 405
    "C6": Want("fail", "csrf_unprotected"),  # the docs' logout is not @jwt_required: forged logout
    "C7": Want("warn", "access_token_over_10_minutes"),  # 15 min default
    "C8": Want("fail", "refresh_not_rotated"),  # /token/refresh never hands out a new one
    "C9": Want("n/a", "session_is_jwt"),  # the session cookie is a JWT
}

FLASK_BLOCKLIST = {
    **FLASK,
    "C3": Want(  # the access JWT is refused after logout; the refresh JWT still mints new ones
        "fail", "refresh_survives_logout", absent=("session_survives_logout",)
    ),
    "C6": Want(  # double submit only: no Origin or Fetch-Metadata check
        "fail", "csrf_origin_not_checked", found=("csrf_fetch_metadata_ignored",)
    ),
    "C7": Want("fail", "access_token_long_lived"),  # the blocklist examples: 1 hour
}


@pytest.mark.parametrize(
    ("revoke", "wants"),
    [(False, FLASK), (True, FLASK_BLOCKLIST)],
    ids=["jwt-in-cookies", "with-blocklist"],
)
async def test_flask_jwt_extended_cookies(revoke: bool, wants: dict[str, Want]) -> None:
    """flask-jwt-extended with cookies: logout replays (C3), refresh never rotates (C8).

    C1: the docs' examples set ``JWT_COOKIE_SECURE = False`` and keep
    ``JWT_COOKIE_SAMESITE = None``: no Secure, no SameSite. The
    ``csrf_access_token``/``csrf_refresh_token`` cookies lack HttpOnly, as they
    must for the double submit: that is no finding (see the hardened test). C3:
    logout is ``unset_jwt_cookies``; the stateless access JWT still signs in
    until it expires, and the refresh cookie still mints access tokens. C4: the
    library has none, and the target says so. C6: the docs' logout is not
    ``@jwt_required``, so the double-submit check never runs there and a forged
    cross-site logout works (the library's CSRF check guards only
    ``@jwt_required`` views: see the blocklist variant). C9: a JWT session
    cookie is "n/a".

    With the blocklist (the docs' revoking page): ``DELETE /logout`` is
    ``@jwt_required()`` and blocklists the access token's ``jti``, so the access
    cookie is refused after logout, but the refresh cookie (30 days, not revoked
    by that logout) still mints new access tokens: C3 fails on the refresh
    replay (``test_flask_refresh_outlives_a_blocklist_logout`` shows it by
    hand). C6 fails on the missing layers only: the forged request (no token)
    is refused, but a foreign Origin or ``Sec-Fetch-Site: cross-site`` with the
    token is not. C7: that page's examples use one-hour access tokens: fail.

    Both: C7, 15 minutes (the default) is above the 10-minute line: warn; the
    login's access cookie is judged once, not again as the token endpoint's
    (the same endpoint). C8 fails "refresh_not_rotated": with the
    ``refresh_csrf_*`` lines in ``[tokens]`` the refresh goes through, and
    ``/token/refresh`` sets a new access cookie, never a new refresh cookie
    (``test_flask_refresh_never_rotates``). Cleanup says the refresh tokens it
    could not revoke (no revoke endpoint) stay valid for their 30 days.
    """
    app = flask_jwt_cookies.make_app(
        {USER: PASSWORD}, revoke=revoke, access_expires=timedelta(hours=1) if revoke else None
    )
    toml = flask_jwt_cookies.TARGET_TOML_BLOCKLIST if revoke else flask_jwt_cookies.TARGET_TOML
    with flask_jwt_cookies.served(app) as url:
        target = describe(toml + flask_jwt_cookies.TOKENS_TOML, url)
        report = await run_audit(target, as_user())
    assert_verdicts(report, wants)
    assert report.exit_code() == 1
    c7 = report.results[6]
    judged = [f for f in c7.findings if f.code.startswith("access_token_")]
    assert len(judged) == 1, c7.findings
    assert any("judged once above" in line for line in lines(c7)), lines(c7)
    notes = " | ".join(report.notes)
    assert "may stay valid for up to 30 days (the refresh token's exp)" in notes, notes


async def test_flask_hardened_cookies_pass_with_readable_csrf_cookies() -> None:
    """With Secure and SameSite=Lax set, C1 passes: the readable CSRF cookies are exempt from
    HttpOnly only, and say so.

    Double-submit CSRF needs a cookie that the page's script can read (the docs'
    ``getCookie('csrf_access_token')``), and the target names it (``[csrf]
    source = "cookie"``; ``csrf_refresh_token`` in ``[tokens]``). Secure and
    SameSite still apply to them (the unhardened app fails on those).
    """
    app = flask_jwt_cookies.make_app({USER: PASSWORD}, hardened=True)
    with flask_jwt_cookies.served(app) as url:
        report = await run_audit(describe(flask_jwt_cookies.TARGET_TOML, url), as_user(samples=20))
    c1 = report.results[0]
    assert (c1.status, c1.code) == ("pass", "ok"), details(report)
    exempt = {f.message.split()[0] for f in c1.findings if f.code == "csrf_cookie_readable"}
    assert exempt == {"csrf_access_token", "csrf_refresh_token"}
    assert any("exempt from HttpOnly only" in line for line in lines(c1)), lines(c1)


def _cookie(answer: httpx.Response, name: str) -> str:
    for header in answer.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {answer.headers.get_list('set-cookie')}")


async def test_flask_refresh_outlives_a_blocklist_logout() -> None:
    """After the blocklist logout, the old refresh cookie still mints an access token that works.

    What C3's refresh replay finds on the blocklist variant: the logout revoked
    the access JWT only; the refresh JWT (30 days) was never sent to it (its
    cookie path is ``/token/refresh``) and is not in the blocklist.
    """
    app = flask_jwt_cookies.make_app({USER: PASSWORD}, revoke=True)
    with flask_jwt_cookies.served(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            login = await client.post("/token/auth", json={"username": USER, "password": PASSWORD})
            access, csrf = (
                _cookie(login, "access_token_cookie"),
                _cookie(login, "csrf_access_token"),
            )
            refresh = _cookie(login, "refresh_token_cookie")
            refresh_csrf = _cookie(login, "csrf_refresh_token")
            out = await client.delete(
                "/logout",
                headers={"Cookie": f"access_token_cookie={access}", "X-CSRF-TOKEN": csrf},
            )
            assert out.status_code == 200
            replay = await client.get(
                "/api/example", headers={"Cookie": f"access_token_cookie={access}"}
            )
            assert replay.status_code == 401  # what C3 sees: the access JWT is revoked
            again = await client.post(
                "/token/refresh",
                headers={
                    "Cookie": f"refresh_token_cookie={refresh}",
                    "X-CSRF-TOKEN": refresh_csrf,
                },
            )
            assert again.status_code == 200
            fresh = _cookie(again, "access_token_cookie")
            me = await client.get(
                "/api/example", headers={"Cookie": f"access_token_cookie={fresh}"}
            )
    assert me.status_code == 200  # signed in again, after logging out


async def test_flask_refresh_never_rotates() -> None:
    """With the CSRF header it needs, the refresh answers 200 and hands out no new refresh token.

    So C8 fails "refresh_not_rotated"; the same refresh token can be replayed for
    its 30 days. Without the header the refresh is refused, which is why
    ``TOKENS_TOML`` names ``refresh_csrf_cookie`` and ``refresh_csrf_header``.
    """
    with flask_jwt_cookies.served(flask_jwt_cookies.make_app({USER: PASSWORD})) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            login = await client.post("/token/auth", json={"username": USER, "password": PASSWORD})
            refresh = _cookie(login, "refresh_token_cookie")
            headers = {
                "Cookie": f"refresh_token_cookie={refresh}",
                "X-CSRF-TOKEN": _cookie(login, "csrf_refresh_token"),
            }
            without = await client.post("/token/refresh", headers={"Cookie": headers["Cookie"]})
            first = await client.post("/token/refresh", headers=headers)
            second = await client.post("/token/refresh", headers=headers)
    assert without.status_code == 401  # no X-CSRF-TOKEN: what [tokens] refresh_csrf_* avoid
    assert "CSRF" in without.json()["msg"]
    assert (first.status_code, second.status_code) == (200, 200)
    for answer in (first, second):
        names = [h.split("=", 1)[0] for h in answer.headers.get_list("set-cookie")]
        assert names == ["access_token_cookie", "csrf_access_token"]


# -- fastapi-users, cookie transport -------------------------------------------------------

FASTAPI_USERS_JWT = {
    "C1": Want("pass"),  # CookieTransport: Secure, HttpOnly, SameSite=Lax by default
    "C2": Want("n/a", "no_login_page"),  # no page: an API only
    "C3": Want("fail", "session_survives_logout"),  # "A JWT can't be invalidated"
    "C4": Want("fail", "no_logout_all"),  # no such feature
    "C5": Want("pass"),  # POST logout; no GET in /openapi.json named like a change
    "C6": Want("fail", "csrf_unprotected"),  # no CSRF protection in the library
    "C7": Want("fail", "access_token_long_lived"),  # the docs' 3600 s cookie JWT
    "C8": Want("n/a"),  # no refresh tokens
    "C9": Want("n/a", "session_is_jwt"),  # the cookie is the JWT
}

FASTAPI_USERS_DATABASE = {
    **FASTAPI_USERS_JWT,
    "C3": Want("pass"),  # logout deletes the token row
    "C7": Want("n/a", "no_jwt"),  # the cookie is a random token, not a JWT
    "C9": Want("pass"),  # secrets.token_urlsafe(): 32 bytes
}


@pytest.mark.parametrize(
    ("strategy", "wants"),
    [("jwt", FASTAPI_USERS_JWT), ("database", FASTAPI_USERS_DATABASE)],
    ids=["jwt-strategy", "database-strategy"],
)
async def test_fastapi_users_cookie_transport(
    serve: Serve,
    tmp_path: Path,
    strategy: fastapi_users_cookie.StrategyName,
    wants: dict[str, Want],
) -> None:
    """fastapi-users: the JWT strategy replays after logout (C3); both lack CSRF defence (C6).

    C1 passes: the cookie transport's defaults are right. C3: the JWT strategy
    cannot revoke (its ``destroy_token`` raises and the backend swallows it), so
    the cookie signs in after logout for its hour; the database strategy deletes
    the token row: pass. C4: no log-out-all, as the target says. C6 fails for
    both: the library has no CSRF defence and its docs say a cookie transport
    "needs a CSRF protection"; only SameSite=Lax stands between a hostile page
    and ``POST /auth/cookie/logout``. C7: the JWT strategy's cookie is an access
    token of 3600 s: fail; the database token is not a JWT: n/a. C9: the JWT is
    "n/a"; the database token is ``secrets.token_urlsafe()``, 256 bits: pass.

    Cleanup: with the JWT strategy the sessions C3 showed alive have no cookie
    left in their jar (logout cleared it), so they are not "could not be logged
    out"; the note says the cookies stay valid until their exp (60 min).
    """
    url_db = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    async with fastapi_users_cookie.users_app(url_db, strategy=strategy) as app:
        url = await serve(app)
        async with httpx.AsyncClient(base_url=url) as client:
            created = await client.post(
                "/auth/register", json={"email": EMAIL, "password": PASSWORD}
            )
            assert created.status_code == 201, created.text
        target = describe(fastapi_users_cookie.TARGET_TOML, url)
        report = await run_audit(target, as_user(EMAIL))
    assert_verdicts(report, wants)
    assert report.exit_code() == 1
    notes = " | ".join(report.notes)
    assert "could not be logged out" not in notes, notes
    if strategy == "jwt":
        assert "may stay valid for up to 60 min (the JWT's exp)" in notes, notes
    else:
        assert "cleanup: logged out" in notes, notes
