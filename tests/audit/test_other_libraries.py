"""Audits of apps built on other libraries, as those libraries' docs show them.

Each test serves one app from ``tests/audit/other_libraries`` over real HTTP,
runs the auditor in-process as a test user that already exists (the auditor
registers nobody here), and asserts the verdict of every checklist item. The
tables say, per item, what the auditor says and why that is (or is not) right
for the library; ``docs/audit-findings.md`` is the same as a report.

A row is a :class:`Want`: the verdict the auditor gives and should give.
Two more fields keep the tests honest while the auditor is being built by
others at the same time:

* ``should``: a misjudgement. The row's verdict is what the auditor says
  today; ``should`` is the right one, written down and routed to the auditor's
  owners. It is accepted too, so fixing the auditor does not break this test
  (then make it the row's verdict).
* ``also``: verdicts accepted while a check is being built: ``BUILDING``
  ("n/a", ``not_implemented``) until C2 lands, and ``NO_BROWSER`` where there
  is no chromium for it.
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

from revocable.audit.result import AuditReport
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import Target, target_from_mapping
from tests.audit.conftest import Serve
from tests.audit.other_libraries import fastapi_users_cookie, flask_jwt_cookies, starlette_sessions

USER = "alice"
PASSWORD = secrets.token_urlsafe(16)
EMAIL = "alice@example.com"  # fastapi-users signs in by email
MINUTE = 60.0  # each audit must finish within this many seconds


BUILDING = "n/a not_implemented"
"""What a check being built (C2) says until it lands."""
NO_BROWSER = "n/a browser_unavailable"
"""What C2 says where there is no chromium to drive."""


@dataclass(frozen=True)
class Want:
    """One item's verdict: "status" and a code (the result's or a finding's); see the module."""

    status: str
    code: str | None = None
    should: str = ""
    also: tuple[str, ...] = ()


def details(report: AuditReport) -> str:
    return "\n".join(f"{r.id} {r.status} {r.code}: {r.summary}" for r in report.results)


def _matches(verdict: str, status: str, codes: set[str]) -> bool:
    want_status, _, want_code = verdict.partition(" ")
    return want_status == status and (not want_code or want_code in codes)


def assert_verdicts(report: AuditReport, wants: dict[str, Want]) -> None:
    """Every item C1..C9 as the table says; on a mismatch, all that differ and the report."""
    assert sorted(wants) == [f"C{i}" for i in range(1, 10)]
    wrong = []
    for result in report.results:
        want = wants[result.id]
        codes = {result.code} | {f.code for f in result.findings}
        verdict = want.status + (f" {want.code}" if want.code else "")
        accepted = [verdict, *([want.should] if want.should else []), *want.also]
        if not any(_matches(v, result.status, codes) for v in accepted):
            wrong.append(
                f"{result.id}: want one of {accepted}, got {result.status} {sorted(codes)}"
            )
    assert not wrong, "\n".join(wrong) + "\n\n" + details(report)
    assert report.duration_s < MINUTE, details(report)


def describe(toml: str, url: str) -> Target:
    """The target a user would write, as TOML, for the app at ``url``."""
    return target_from_mapping(tomllib.loads(toml), url)


def as_user(username: str = USER, *, samples: int = 200) -> AuditOptions:
    """The default audit (200 samples), fast, as the test user the app already has."""
    return AuditOptions(rate=5000, samples=samples, username=username, password=PASSWORD)


# -- Starlette's SessionMiddleware ---------------------------------------------------------

STARLETTE = {
    "C1": Want("fail", "cookie_not_secure"),  # https_only=False is the default: no Secure
    "C2": Want("pass", also=(BUILDING, NO_BROWSER)),  # nothing readable holds the session
    "C3": Want("fail", "session_survives_logout"),  # session.clear() drops the browser's copy only
    "C4": Want("n/a"),  # the library cannot do it (short of changing secret_key for everyone)
    "C5": Want("pass"),  # POST-only routes: GET/HEAD /logout answer 405
    "C6": Want("fail", "csrf_unprotected"),  # no token, no Origin check; only SameSite=Lax
    "C7": Want("n/a"),  # no JWT anywhere
    "C8": Want("n/a"),  # no refresh tokens
    "C9": Want("n/a"),  # replaced per username below: a signed payload, not an id
}

SIGNED_PAYLOAD = "n/a"
"""C9's right verdict on a signed-payload cookie (itsdangerous), as for a JWT one."""


@pytest.mark.parametrize(
    ("username", "c9"),
    [
        # {"user": "alice"} is 17 bytes: its base64 ends in "=", the cookie is "text"
        ("alice", Want("fail", "session_id_duplicate", should=SIGNED_PAYLOAD)),
        # {"user": "audit-bot"} is 21 bytes: no "=", so "eyJ….….…" matches C9's JWT shape
        ("audit-bot", Want("n/a", "session_is_jwt", should=SIGNED_PAYLOAD)),
    ],
    ids=["padded-payload", "unpadded-payload"],
)
async def test_starlette_session_middleware(serve: Serve, username: str, c9: Want) -> None:
    """Starlette's signed-cookie sessions: C1, C3 and C6 fail; C9 is misjudged either way.

    C1: ``SessionMiddleware`` sets HttpOnly and SameSite=Lax but Secure only with
    ``https_only=True``, off by default. C3: nothing is kept on the server, so
    ``request.session.clear()`` can only send a deletion; the old cookie is a
    valid signed session for 14 days. C4: the library has no way to end one
    user's sessions elsewhere, so the target names none: "n/a" is right for the
    tool (for the checklist it is a gap). C6: no CSRF defence but SameSite.

    C9: the cookie is ``base64(json) . timestamp . HMAC`` (itsdangerous), not an
    id drawn at random: it is the same for every login of one user within a
    second. What an attacker must guess is the HMAC key, not an id, exactly as
    for a JWT session cookie, which the auditor calls "n/a" (``session_is_jwt``).
    It should say "n/a, a signed payload (itsdangerous): its strength is
    secret_key; logins in the same second get the same cookie, so sessions
    cannot be told apart or revoked one by one (C3, C4)". The real problem is
    already C3's fail. Today the verdict depends on the username's length:

    * when the JSON's base64 is padded ("alice"), the auditor reads the cookie
      as "text", finds 190-199 of 200 ids duplicated and "0-89 random bits", and
      fails it with the fix "32 bytes from the OS CSPRNG", which a user of
      SessionMiddleware cannot apply;
    * when it is not ("audit-bot"), the cookie matches C9's JWT pattern
      (``eyJ…`` with two dots) and C9 says "n/a: the session cookie is a JWT":
      the right status for a wrong reason. C7, which parses the header, rightly
      says it is not a JWT.
    """
    url = await serve(starlette_sessions.make_app({username: PASSWORD}))
    report = await run_audit(describe(starlette_sessions.TARGET_TOML, url), as_user(username))
    assert_verdicts(report, {**STARLETTE, "C9": c9})
    assert report.exit_code() == 1


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
    "C1": Want("fail", "cookie_not_secure"),  # JWT_COOKIE_SECURE=False, JWT_COOKIE_SAMESITE=None
    "C2": Want("pass", also=(BUILDING, NO_BROWSER)),  # csrf_access_token is for JS, not a key
    "C3": Want("fail", "session_survives_logout"),  # unset_jwt_cookies: the JWT lives 15 minutes
    "C4": Want("n/a"),  # no such feature
    "C5": Want("pass"),  # POST /logout: GET and HEAD answer 405
    "C6": Want("fail", "csrf_unprotected"),  # the docs' logout is not @jwt_required: forged logout
    "C7": Want("warn", "access_token_over_10_minutes"),  # 15 min default
    "C8": Want("warn", "refresh_refused", should="fail refresh_not_rotated"),
    "C9": Want("n/a", "session_is_jwt"),  # the session cookie is a JWT
}

FLASK_BLOCKLIST = {
    **FLASK,
    "C3": Want("pass", should="fail"),  # the access JWT is refused; the refresh JWT still works
    "C6": Want("fail", "csrf_origin_not_checked"),  # double submit only: no Origin check
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
    ``JWT_COOKIE_SAMESITE = None``: no Secure, no SameSite. (The auditor also
    says the ``csrf_access_token``/``csrf_refresh_token`` cookies lack HttpOnly;
    they must, for the double submit: see the hardened test.) C3: logout is
    ``unset_jwt_cookies``; the stateless access JWT still signs in until it
    expires. C6: the docs' logout is not ``@jwt_required``, so the double-submit
    check never runs there and a forged cross-site logout works (the library's
    CSRF check guards only ``@jwt_required`` views: see the blocklist variant).
    C9: a JWT session cookie is "n/a", rightly.

    With the blocklist (the docs' revoking page): ``DELETE /logout`` is
    ``@jwt_required()`` and blocklists the access token's ``jti``. C3 passes, as
    the auditor only replays the access cookie at the protected URL, but the
    refresh cookie (30 days, not revoked by that logout) still mints new access
    tokens (``test_flask_refresh_outlives_a_blocklist_logout``): C3 should fail
    (or C8 should replay the refresh token after logout). C6 fails on the
    missing layers only: the forged request (no token) is refused, but a
    foreign Origin or ``Sec-Fetch-Site: cross-site`` with the token is not.
    C7: that page's examples use one-hour access tokens: fail.

    Both: C7, 15 minutes (the default) is above the 10-minute line: warn. C8
    should fail "refresh_not_rotated", since ``/token/refresh`` sets a new
    access cookie and never a new refresh cookie
    (``test_flask_refresh_never_rotates``). Today the auditor's refresh is
    refused (401) because flask-jwt-extended also demands the double-submit
    value of ``csrf_refresh_token`` in ``X-CSRF-TOKEN`` on the refresh request,
    and ``[tokens]`` has no way to say so: "warn refresh_refused".
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


async def test_flask_hardened_cookies_fail_only_on_the_csrf_cookies() -> None:
    """With Secure and SameSite=Lax set, C1 still fails, only on the readable CSRF cookies.

    A misjudgement: double-submit CSRF needs a cookie that the page's script
    can read (the docs' ``getCookie('csrf_access_token')``), and the target even
    names it (``[csrf] source = "cookie"``). The auditor judges every cookie
    whose name looks auth-like, and ``csrf_access_token`` and
    ``csrf_refresh_token`` match ("token", "access", "refresh"). It should
    exempt CSRF cookies (the one named in ``[csrf]``, and names holding
    csrf/xsrf) from HttpOnly, keep Secure and SameSite for them, and pass here.
    """
    app = flask_jwt_cookies.make_app({USER: PASSWORD}, hardened=True)
    with flask_jwt_cookies.served(app) as url:
        report = await run_audit(describe(flask_jwt_cookies.TARGET_TOML, url), as_user(samples=20))
    c1 = report.results[0]
    bad = {(f.code, f.message.split()[0]) for f in c1.findings if f.severity == "fail"}
    assert bad == {
        ("cookie_not_httponly", "csrf_access_token"),
        ("cookie_not_httponly", "csrf_refresh_token"),
    }, details(report)
    assert c1.status == "fail"  # should be "pass"


def _cookie(answer: httpx.Response, name: str) -> str:
    for header in answer.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {answer.headers.get_list('set-cookie')}")


async def test_flask_refresh_outlives_a_blocklist_logout() -> None:
    """After the blocklist logout, the old refresh cookie still mints an access token that works.

    What C3 misses on the blocklist variant: the logout revoked the access JWT
    only; the refresh JWT (30 days) was never sent to it (its cookie path is
    ``/token/refresh``) and is not in the blocklist.
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

    So C8's right verdict is "fail refresh_not_rotated"; the same refresh token
    can be replayed for its 30 days.
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
    assert without.status_code == 401  # what the auditor gets today: no X-CSRF-TOKEN
    assert "CSRF" in without.json()["msg"]
    assert (first.status_code, second.status_code) == (200, 200)
    for answer in (first, second):
        names = [h.split("=", 1)[0] for h in answer.headers.get_list("set-cookie")]
        assert names == ["access_token_cookie", "csrf_access_token"]


# -- fastapi-users, cookie transport -------------------------------------------------------

FASTAPI_USERS_JWT = {
    "C1": Want("pass"),  # CookieTransport: Secure, HttpOnly, SameSite=Lax by default
    "C2": Want("n/a", also=(BUILDING,)),  # no page: an API only
    "C3": Want("fail", "session_survives_logout"),  # "A JWT can't be invalidated"
    "C4": Want("n/a"),  # no such feature
    "C5": Want("pass"),  # POST logout; no GET in /openapi.json named like a change
    "C6": Want("fail", "csrf_unprotected"),  # no CSRF protection in the library
    "C7": Want("fail", "access_token_long_lived"),  # the docs' 3600 s cookie JWT
    "C8": Want("n/a"),  # no refresh tokens
    "C9": Want("n/a", "session_is_jwt"),  # the cookie is the JWT
}

FASTAPI_USERS_DATABASE = {
    **FASTAPI_USERS_JWT,
    "C3": Want("pass"),  # logout deletes the token row
    "C7": Want("n/a"),  # the cookie is opaque
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
    the token row: pass. C6 fails for both: the library has no CSRF defence and
    its docs say a cookie transport "needs a CSRF protection"; only SameSite=Lax
    stands between a hostile page and ``POST /auth/cookie/logout``. C7: the
    JWT strategy's cookie is an access token of 3600 s: fail; the database
    token is opaque: n/a. C9: the JWT is "n/a"; the database token is
    ``secrets.token_urlsafe()``, 256 bits: pass.
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
