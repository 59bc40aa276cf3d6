"""C7 and C8 over real HTTP: token apps broken one way each fail exactly there; the reference
server's tokens pass; a grace window longer than the wait is a warning, not a verdict."""

from __future__ import annotations

import io
import json
import secrets
import tomllib
from typing import Any

import httpx
import pytest
from rich.console import Console

from revocable.audit.report import render
from revocable.audit.result import AuditReport, Exchange
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import preset, target_from_mapping, with_tokens
from revocable.refresh import RefreshPolicy
from tests.audit.broken_apps import TARGET, make_app
from tests.audit.broken_token_apps import TOKEN_TARGET, TokenFaults, make_token_app
from tests.audit.conftest import reference_app
from tests.audit.other_libraries import flask_jwt_cookies
from tests.servers import Serve

FAST = AuditOptions(rate=5000, create_test_user=True)
QUICK = AuditOptions(rate=5000, samples=20, create_test_user=True)
HOURS_10 = 10 * 3600

ALL_PASS = {
    "C1": "pass",
    "C2": "n/a",  # no [browser] page in these targets
    "C3": "pass",
    "C4": "pass",
    "C5": "pass",
    "C6": "pass",
    "C7": "pass",
    "C8": "pass",
    "C9": "pass",
}


def details(report: AuditReport) -> str:
    return "\n".join(f"{r.id} {r.status} {r.code}: {r.summary}" for r in report.results)


@pytest.mark.parametrize(
    ("faults", "broken"),
    [
        (TokenFaults(), {}),
        (TokenFaults(access_lifetime=HOURS_10), {"C7": ("fail", "access_token_long_lived")}),
        (TokenFaults(access_lifetime=12 * 60), {"C7": ("warn", "access_token_over_10_minutes")}),
        (TokenFaults(no_rotation=True), {"C8": ("fail", "refresh_not_rotated")}),
        (TokenFaults(no_reuse_detection=True), {"C8": ("fail", "refresh_reuse_undetected")}),
        (TokenFaults(reuse_keeps_family=True), {"C8": ("fail", "refresh_family_survives")}),
        (
            TokenFaults(jwt_session_lifetime=HOURS_10),
            {"C7": ("fail", "access_token_long_lived"), "C9": ("n/a", "session_is_jwt")},
        ),
        (
            TokenFaults(access_lifetime=HOURS_10, no_rotation=True),
            {"C7": ("fail", "access_token_long_lived"), "C8": ("fail", "refresh_not_rotated")},
        ),
        (TokenFaults(access_cookie_signs_in=True), {"C3": ("fail", "refresh_survives_logout")}),
    ],
    ids=[
        "correct",
        "10-hour-access-tokens",
        "12-minute-access-tokens",
        "refresh-does-not-rotate",
        "no-reuse-detection",
        "reuse-keeps-family",
        "10-hour-jwt-session-cookie",
        "long-tokens-and-no-rotation",
        "logout-forgets-the-refresh-token",
    ],
)
async def test_token_app_fails_exactly_where_broken(
    serve: Serve, faults: TokenFaults, broken: dict[str, tuple[str, str]]
) -> None:
    """Every item C1..C9 as expected: each fault its own status and code, the rest pass (C2
    n/a); the auditor leaves no token family alive."""
    app = make_token_app(faults)
    url = await serve(app)
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), FAST)
    want = {**ALL_PASS, **{item: status for item, (status, _) in broken.items()}}
    got = {r.id: r.status for r in report.results}
    assert got == want, details(report)
    for result in report.results:
        if result.id in broken:
            assert result.code == broken[result.id][1], details(report)
    assert report.exit_code() == (1 if "fail" in got.values() else 0)
    assert not [f for f in app.state.tokens.families.values() if f.alive], report.notes


async def test_c3_replays_the_refresh_token_after_logout_and_revoke(serve: Serve) -> None:
    """A correct token app: after the browser's logout (cookie transport) and after a revoke
    (each transport) the refresh token is refused; C3 says so, tokens shown by length only."""
    url = await serve(make_token_app(TokenFaults(access_cookie_signs_in=False)))
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), QUICK)
    c3 = report.results[2]
    assert c3.status == "pass", details(report)
    assert c3.summary.endswith("; so is the refresh token (body and cookie transport)")
    steps = [e.step for e in c3.evidence if isinstance(e, Exchange)]
    assert "body: replay the refresh token after the revoke" in steps
    assert "cookie: replay the refresh token after the revoke" in steps
    assert "cookie: do the token cookies sign in?" in steps  # no: /me takes sessions only
    assert "cookie: log out the browser signed in by the tokens" not in steps


async def test_c3_fails_a_revoke_that_revokes_nothing(serve: Serve) -> None:
    """A revoke endpoint that answers 200 and leaves the family alive fails C3 for each
    transport; cleanup cannot revoke those families and says how long they may live."""
    app = make_token_app(TokenFaults(revoke_noop=True))
    url = await serve(app)
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), QUICK)
    c3 = report.results[2]
    assert (c3.status, c3.code) == ("fail", "refresh_survives_revoke"), details(report)
    failed = [f.message.split(":", 1)[0] for f in c3.findings if f.severity == "fail"]
    assert failed == ["body", "cookie"]
    assert "Make the revoke endpoint delete" in c3.fix
    assert {r.id: r.status for r in report.results} == {**ALL_PASS, "C3": "fail"}


async def test_logout_that_forgets_the_refresh_token_fails_c3(serve: Serve) -> None:
    """The token cookies sign in, logout ends only sessions: the refresh cookie replayed after
    the browser's logout still refreshes; the message names the transport and the path."""
    url = await serve(make_token_app(TokenFaults(access_cookie_signs_in=True)))
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), QUICK)
    c3 = report.results[2]
    assert c3.summary.startswith("cookie: after logout (200) the refresh token still mints tokens")
    assert "on /token/refresh" in c3.summary
    assert [f.code for f in c3.findings if f.severity == "fail"] == ["refresh_survives_logout"]


@pytest.mark.parametrize(
    ("faults", "step"),
    [
        (TokenFaults(no_rotation=True), "gave the same one back: refresh tokens do not rotate"),
        (TokenFaults(no_reuse_detection=True), "accepted again"),
        (TokenFaults(reuse_keeps_family=True), "reuse does not kill the family"),
    ],
)
async def test_c8_names_the_failed_step_for_each_transport(
    serve: Serve, faults: TokenFaults, step: str
) -> None:
    """The body and the cookie transport each report the step that failed."""
    url = await serve(make_token_app(faults))
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), FAST)
    c8 = report.results[7]
    messages = [f.message for f in c8.findings if f.severity == "fail"]
    assert [m.split(":", 1)[0] for m in messages] == ["body", "cookie"], details(report)
    assert all(step in m for m in messages)
    assert c8.fix


async def test_c7_names_the_lifetime_and_the_source(serve: Serve) -> None:
    """A 10-hour JWT session cookie is named as such, with its lifetime and signature."""
    url = await serve(make_token_app(TokenFaults(jwt_session_lifetime=HOURS_10)))
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), FAST)
    c7 = report.results[6]
    assert c7.summary == "the session cookie sid is a JWT that lives 10.0 h (more than 15 min)"
    codes = {f.code for f in c7.findings}
    assert {"session_is_jwt", "jwt_symmetric", "access_token_short"} <= codes
    assert "Issue access tokens for minutes" in c7.fix
    notes = [e.line() for e in c7.evidence if not hasattr(e, "method")]
    assert "the session cookie sid: alg HS256, typ at+jwt, lives 10.0 h (exp - iat)" in notes


async def test_a_grace_window_longer_than_the_wait_warns(serve: Serve) -> None:
    """The reference server's 5 s grace and a 0.5 s wait: the old token hands back the same
    successor, which is a warning to wait longer, not a failure; the families are revoked."""
    url = await serve(reference_app(refresh_policy=RefreshPolicy(grace=5.0)))
    target = with_tokens(preset("revocable", url), grace_wait=0.5)
    report = await run_audit(target, QUICK)
    c8 = report.results[7]
    assert (c8.status, c8.code) == ("warn", "refresh_grace_exceeds_wait"), details(report)
    assert "grace_wait" in c8.fix
    assert "cleanup (C8): revoked 2 of 2 token famil(ies) the auditor created" in report.notes


async def test_apps_without_tokens_are_not_applicable(serve: Serve) -> None:
    """No JWT anywhere and no refresh endpoint: C7 and C8 are n/a, with the reason."""
    url = await serve(make_app())
    report = await run_audit(target_from_mapping(TARGET, url), QUICK)
    c7, c8 = report.results[6], report.results[7]
    assert (c7.status, c7.code) == ("n/a", "no_jwt")
    assert "issues no JWT" in c7.summary
    assert c8.status == "n/a"
    assert "no refresh endpoint" in c8.summary


async def test_a_wrong_token_endpoint_is_a_warning_not_a_crash(serve: Serve) -> None:
    """A token path that answers 404: C7 and C8 warn that they could not get tokens."""
    url = await serve(make_token_app())
    mapping: dict[str, Any] = {**TOKEN_TARGET, "tokens": {"token": "/nope", "refresh": "/r"}}
    report = await run_audit(target_from_mapping(mapping, url), QUICK)
    for result in report.results[6:8]:
        assert (result.status, result.code) == ("warn", "token_request_failed"), details(report)
        assert "404" in result.summary


async def test_a_double_submit_refresh_cookie_is_echoed() -> None:
    """flask-jwt-extended's refresh wants csrf_refresh_token echoed in X-CSRF-TOKEN: named in
    [tokens], the refresh goes through and C8 sees it hand out no new refresh token."""
    password = secrets.token_urlsafe(16)
    app = flask_jwt_cookies.make_app({"alice": password})
    toml = flask_jwt_cookies.TARGET_TOML + flask_jwt_cookies.TOKENS_TOML
    assert 'refresh_csrf_cookie = "csrf_refresh_token"' in toml
    options = AuditOptions(rate=5000, samples=20, username="alice", password=password)
    with flask_jwt_cookies.served(app) as url:
        report = await run_audit(target_from_mapping(tomllib.loads(toml), url), options)
    c8 = report.results[7]
    assert (c8.status, c8.code) == ("fail", "refresh_not_rotated"), details(report)
    assert "cookie: the refresh handed out no new refresh token" in c8.summary
    refreshed = [
        e.status
        for e in c8.evidence
        if isinstance(e, Exchange) and e.step == "cookie: refresh once"
    ]
    assert refreshed == [200]


class Recording(httpx.AsyncHTTPTransport):
    """A real transport that remembers every token and password that crossed it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            body = json.loads(request.content)
            self.secrets |= {v for k, v in body.items() if k in ("password", "refresh_token")}
        response = await super().handle_async_request(request)
        await response.aread()
        for header in response.headers.get_list("set-cookie"):
            value = header.split(";")[0].split("=", 1)[1]
            if value:
                self.secrets.add(value)
        if "json" in response.headers.get("content-type", ""):
            body = json.loads(response.content)
            if isinstance(body, dict):
                self.secrets |= {
                    v
                    for k, v in body.items()
                    if k in ("access_token", "refresh_token", "csrf_token")
                }
        return response


@pytest.mark.parametrize(
    "faults",
    [TokenFaults(no_reuse_detection=True), TokenFaults(jwt_session_lifetime=HOURS_10)],
    ids=["no-reuse-detection", "jwt-session"],
)
async def test_no_token_reaches_the_report(serve: Serve, faults: TokenFaults) -> None:
    """No access or refresh token (nor any other credential) appears in the JSON or -v."""
    transport = Recording()
    url = await serve(make_token_app(faults))
    report = await run_audit(target_from_mapping(TOKEN_TARGET, url), QUICK, transport=transport)
    out = io.StringIO()
    render(report, Console(file=out, width=200), verbose=True)
    text = out.getvalue() + json.dumps(report.to_json())
    assert len(transport.secrets) > 20
    assert not [s for s in transport.secrets if s in text]
