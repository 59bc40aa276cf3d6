"""C2 in whole audits: headless Chromium signs in through each app's page, then reads storage.

The apps are ``broken_browser_apps``: the API of ``broken_apps`` behind a page that
logs in with fetch(). Each must fail C2 exactly where its page puts a credential,
every other item as the API app alone does.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from rich.console import Console

from revocable.audit.browser import unavailable
from revocable.audit.html_report import render_html
from revocable.audit.report import render
from revocable.audit.result import AuditReport, CheckResult
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import target_from_mapping
from tests.audit.broken_apps import TARGET, Faults
from tests.audit.broken_browser_apps import (
    PAGE_TARGET,
    SCRIPTED_TARGET,
    Store,
    make_page_app,
    require_browser,
)
from tests.servers import Serve

QUICK = AuditOptions(rate=5000, samples=40, create_test_user=True)
PASSWORD = "a long test password"


@pytest.fixture(name="chromium")
def _chromium() -> None:
    """Chromium and Playwright are installed (else: fail on CI, skip elsewhere)."""
    require_browser()


def statuses(report: AuditReport) -> dict[str, str]:
    return {r.id: r.status for r in report.results}


def details(report: AuditReport) -> str:
    return "\n".join(f"{r.id} {r.status} {r.code}: {r.summary}" for r in report.results)


def expected(broken: set[str]) -> dict[str, str]:
    """The page apps name no token endpoints: C7 and C8 are n/a, the rest pass or fail."""
    out = {f"C{i}": ("fail" if f"C{i}" in broken else "pass") for i in range(1, 10)}
    return {**out, "C7": "n/a", "C8": "n/a"}


def evidence(result: CheckResult) -> str:
    return "\n".join(item.line() for item in result.evidence)


@pytest.mark.parametrize(
    ("store", "faults", "codes"),
    [
        ("nothing", None, {}),
        ("local", None, {"C2": "session_id_in_storage"}),
        ("session", None, {"C2": "jwt_in_storage"}),
        (
            "nothing",
            Faults(cookie_flags=True),
            {"C1": "cookie_not_httponly", "C2": "session_cookie_readable"},
        ),
    ],
    ids=["stores-nothing", "session-id-in-localStorage", "jwt-in-sessionStorage", "no-httponly"],
)
@pytest.mark.usefixtures("chromium")
async def test_page_apps_fail_exactly_where_broken(
    serve: Serve, store: Store, faults: Faults | None, codes: dict[str, str]
) -> None:
    """C2 fails with the code of what the page exposed, and only there (C1 too when the
    cookie lacks HttpOnly); the CSRF token the page keeps in sessionStorage is allowed."""
    url = await serve(make_page_app(store, faults))
    report = await run_audit(target_from_mapping(PAGE_TARGET, url), QUICK)
    assert statuses(report) == expected(set(codes)), details(report)
    for result in report.results:
        if result.id in codes:
            assert codes[result.id] in {f.code for f in result.findings}, details(report)
    c2 = report.results[1]
    shown = evidence(c2)
    assert "blocked 2 to other origins" in shown, shown
    assert "https://cdn.audit-test.invalid (1)" in shown
    assert "https://api.audit-test.invalid (1)" in shown
    assert "the form sent POST /login: 200" in shown
    assert "taken for a CSRF token" not in shown  # the target's own token is known, not guessed
    if store == "local":
        assert c2.summary.startswith("localStorage['token'] holds the session cookie's value <")
    if store == "session":
        assert "sessionStorage['auth'] holds a JWT" in c2.summary
        assert "alg HS256" in c2.summary


@pytest.mark.usefixtures("chromium")
async def test_fields_named_by_selectors_on_a_page_without_a_form(serve: Serve) -> None:
    """No <form>: the target names the inputs and the clickable element by CSS selector."""
    url = await serve(make_page_app("local", form=False))
    report = await run_audit(target_from_mapping(SCRIPTED_TARGET, url), QUICK)
    c2 = report.results[1]
    assert (c2.status, c2.code) == ("fail", "session_id_in_storage"), details(report)


@pytest.mark.usefixtures("chromium")
async def test_a_page_without_the_described_form_warns(serve: Serve) -> None:
    """A [browser] form that is not on the page: C2 warns (no_login_form), the run goes on."""
    url = await serve(make_page_app())
    mapping = {**PAGE_TARGET, "browser": {"page": "/", "form": "form#nope"}}
    options = AuditOptions(rate=5000, samples=20, create_test_user=True, browser_timeout=3)
    report = await run_audit(target_from_mapping(mapping, url), options)
    c2 = report.results[1]
    assert (c2.status, c2.code) == ("warn", "no_login_form"), details(report)
    assert "form form#nope" in c2.summary
    assert "[browser]" in c2.fix


@pytest.mark.usefixtures("chromium")
async def test_the_browser_session_is_logged_out(serve: Serve) -> None:
    """The session the browser created is logged out with the others: none is left."""
    app = make_page_app("local")
    url = await serve(app)
    report = await run_audit(target_from_mapping(PAGE_TARGET, url), QUICK)
    assert report.results[1].status == "fail"
    assert "clean up: log out the browser's session: POST /logout -> 200" in evidence(
        report.results[1]
    )
    assert app.state.auth.sessions == {}


@pytest.mark.usefixtures("chromium")
async def test_no_credential_from_the_browser_reaches_any_report(serve: Serve) -> None:
    """Session ids (the browser's too), CSRF tokens, the JWT the page stored and the password
    appear in none of the table, the JSON and the HTML report."""
    app = make_page_app("session", Faults(cookie_flags=True))
    state = app.state.auth
    issued: list[str] = []
    new_id = state.new_id

    def recorded() -> str:
        sid: str = new_id()
        issued.extend([sid, state.csrf(sid)])
        return sid

    state.new_id = recorded
    url = await serve(app)
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/register", json={"username": "ann", "password": PASSWORD})
        assert answer.status_code == 201
    options = AuditOptions(rate=5000, samples=40, username="ann", password=PASSWORD)
    report = await run_audit(target_from_mapping(PAGE_TARGET, url), options)
    assert report.results[1].status == "fail"
    out = io.StringIO()
    render(report, Console(file=out, width=200), verbose=True)
    text = out.getvalue() + json.dumps(report.to_json()) + render_html(report)
    secrets = [PASSWORD, *issued, *app.state.tokens.issued]
    assert len(secrets) > 80
    assert [s for s in secrets if s in text] == []


@pytest.mark.parametrize(
    ("mapping", "chromium", "code"),
    [
        (TARGET, "/usr/bin/chromium", "no_login_page"),
        (PAGE_TARGET, None, "browser_off"),
        (PAGE_TARGET, "/nonexistent/chromium", "browser_unavailable"),
    ],
    ids=["no-page", "browser-off", "no-chromium"],
)
async def test_c2_is_not_applicable_without_page_or_browser(
    serve: Serve, mapping: dict[str, Any], chromium: str | None, code: str
) -> None:
    """No page in the target, --no-browser, or no chromium: C2 is n/a and says why (and how
    to install the browser); nothing else changes."""
    url = await serve(make_page_app())
    options = AuditOptions(rate=5000, samples=20, create_test_user=True, chromium=chromium)
    report = await run_audit(target_from_mapping(mapping, url), options)
    c2 = report.results[1]
    assert (c2.status, c2.code) == ("n/a", code), details(report)
    assert statuses(report) == {**expected(set()), "C2": "n/a"}, details(report)
    if code == "browser_unavailable":
        assert ".ci/install-browser" in c2.summary
        assert "/nonexistent/chromium" in c2.summary


def test_missing_playwright_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the playwright package the reason names it and how to install it."""
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    why = unavailable()
    assert why is not None
    assert "Playwright is not installed" in why
    assert "pip install 'revocable[audit]'" in why


def test_the_auditor_imports_no_playwright() -> None:
    """Playwright is imported only when C2 runs: `revocable audit` works without it."""
    code = (
        "import sys, revocable.cli, revocable.audit.runner, revocable.audit.checks; "
        "sys.exit('playwright' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
