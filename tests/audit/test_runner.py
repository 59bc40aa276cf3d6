"""Whole audits over real HTTP: the reference server passes, each broken app fails where broken."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from rich.console import Console

from revocable.audit.html_report import render_html
from revocable.audit.report import render
from revocable.audit.result import AuditReport, Exchange
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import preset, target_from_mapping, with_tokens
from revocable.core.ratelimit import RateLimit
from revocable.refresh import RefreshPolicy
from tests.audit.broken_apps import FORM_TARGET, TARGET, Faults, make_app, make_form_app
from tests.audit.broken_browser_apps import require_browser
from tests.audit.conftest import quick_tokens, reference_app
from tests.servers import Serve

FAST = AuditOptions(rate=5000, create_test_user=True)
NO_BROWSER = AuditOptions(rate=5000, create_test_user=True, chromium=None)
NO_BROWSER_FEW = AuditOptions(rate=5000, samples=20, create_test_user=True, chromium=None)
IMPLEMENTED = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
PENDING: tuple[str, ...] = ()
TOKEN_ITEMS = ("C7", "C8")
"""n/a for apps that issue no JWT and name no refresh endpoint (all but the reference's)."""
BROWSER_ITEMS = ("C2",)
"""n/a for apps whose target names no login page (all here but the reference's)."""


def statuses(report: AuditReport) -> dict[str, str]:
    return {r.id: r.status for r in report.results}


def details(report: AuditReport) -> str:
    return "\n".join(f"{r.id} {r.status} {r.code}: {r.summary}" for r in report.results)


def expected(broken: set[str], *, tokens: bool = False, browser: bool = False) -> dict[str, str]:
    out = {c: ("fail" if c in broken else "pass") for c in IMPLEMENTED}
    if not tokens:
        out.update(dict.fromkeys(TOKEN_ITEMS, "n/a"))
    if not browser:
        out.update(dict.fromkeys(BROWSER_ITEMS, "n/a"))
    return {**out, **dict.fromkeys(PENDING, "n/a")}


async def test_reference_server_passes_every_implemented_item(serve: Serve) -> None:
    """Against `revocable serve`'s app (its default 5 s refresh grace, the preset's 6 s wait)
    every item passes, C2 in headless Chromium through the page's own form."""
    require_browser()
    url = await serve(reference_app(refresh_policy=RefreshPolicy()))
    report = await run_audit(preset("revocable", url), FAST)
    assert statuses(report) == expected(set(), tokens=True, browser=True), details(report)
    assert "nothing a script can read holds a credential" in report.results[1].summary
    assert report.results[2].summary.endswith("so is the refresh token (body and cookie transport)")
    c7, c8 = report.results[6], report.results[7]
    assert "body transport) lives 10 min" in c7.summary
    assert "__Host-access cookie (cookie transport) lives 10 min" in c7.summary
    assert "body and cookie" in c8.summary
    assert report.exit_code() == 0
    assert report.user is not None
    assert report.user.startswith("revocable-audit-")
    assert report.requests <= FAST.max_requests
    c9 = report.results[8]
    assert "200 ids" in c9.summary


@pytest.mark.parametrize(
    ("faults", "codes"),
    [
        (Faults(cookie_flags=True), {"C1": "cookie_not_httponly"}),
        (Faults(logout_clears_only=True), {"C3": "session_survives_logout"}),
        (Faults(logout_all_noop=True), {"C4": "logout_all_ineffective"}),
        (Faults(get_logout=True), {"C5": "state_changing_get"}),
        (Faults(no_csrf=True), {"C6": "csrf_unprotected"}),
        (Faults(no_origin_check=True), {"C6": "csrf_origin_not_checked"}),
        (Faults(no_fetch_metadata=True), {"C6": "csrf_fetch_metadata_ignored"}),
        (Faults(no_csrf_token=True), {"C6": "csrf_token_not_enforced"}),
        (Faults(counter_ids=True), {"C9": "session_id_low_entropy"}),
        (
            Faults(cookie_flags=True, logout_clears_only=True, get_logout=True, counter_ids=True),
            {
                "C1": "cookie_not_httponly",
                "C3": "session_survives_logout",
                "C5": "state_changing_get",
                "C9": "session_id_low_entropy",
            },
        ),
        (
            Faults(logout_all_noop=True, no_csrf=True),
            {"C4": "logout_all_ineffective", "C6": "csrf_unprotected"},
        ),
    ],
    ids=[
        "cookie-flags",
        "logout-clears-cookie-only",
        "logout-all-noop",
        "get-logout",
        "no-csrf",
        "no-origin-check",
        "no-fetch-metadata",
        "no-csrf-token",
        "counter-ids",
        "four-faults",
        "two-faults",
    ],
)
async def test_broken_app_fails_exactly_where_broken(
    serve: Serve, faults: Faults, codes: dict[str, str]
) -> None:
    """Each fault fails its own item (with its code) and no other; exit code 1."""
    url = await serve(make_app(faults))
    report = await run_audit(target_from_mapping(TARGET, url), FAST)
    assert statuses(report) == expected(set(codes)), details(report)
    for result in report.results:
        if result.id in codes:
            found = {f.code for f in result.findings}
            assert codes[result.id] in found, details(report)
    assert report.exit_code() == 1


async def test_counter_ids_fail_clearly(serve: Serve) -> None:
    """Counter-based ids are called sequential and low-entropy, not merely "biased"."""
    url = await serve(make_app(Faults(counter_ids=True)))
    report = await run_audit(target_from_mapping(TARGET, url), FAST)
    c9 = report.results[8]
    assert {"session_id_sequential", "session_id_low_entropy"} <= {f.code for f in c9.findings}
    assert "Make session ids 32 bytes from the OS CSPRNG" in c9.fix


async def test_login_rate_limit_means_fewer_samples_not_failures(serve: Serve) -> None:
    """A 429 stops the sampling; C9 warns that it sampled fewer, every other item still passes."""
    url = await serve(reference_app(login_limit=RateLimit(10, 60.0)))
    report = await run_audit(quick_tokens(preset("revocable", url)), NO_BROWSER)
    want = {**expected(set(), tokens=True), "C9": "warn"}
    assert statuses(report) == want, details(report)
    c9 = report.results[8]
    assert "sampled_fewer" in {f.code for f in c9.findings}
    assert "429" in c9.summary
    assert report.exit_code() == 0
    assert report.exit_code("warn") == 1


async def test_missing_pieces_are_not_applicable_never_a_crash(reference_url: str) -> None:
    """A target with only login and register: items needing the rest are n/a, with the reason."""
    target = target_from_mapping(
        {"login": {"path": "/auth/login"}, "register": {"path": "/auth/register"}}, reference_url
    )
    report = await run_audit(target, AuditOptions(rate=5000, samples=40, create_test_user=True))
    got = statuses(report)
    assert got == {**expected(set()), "C3": "n/a", "C4": "n/a", "C6": "n/a"}, details(report)
    assert "protected URL" in report.results[2].summary
    assert any("no logout endpoint" in note for note in report.notes)


async def test_no_login_at_all_still_reads_openapi(reference_url: str) -> None:
    """With nothing but a URL, the login-based items are n/a and C5 reads /openapi.json."""
    report = await run_audit(target_from_mapping({}, reference_url), FAST)
    got = statuses(report)
    assert got["C5"] == "pass", details(report)
    assert {got[c] for c in ("C1", "C3", "C4", "C6", "C9")} == {"n/a"}
    assert report.user is None


async def test_wrong_protected_url_is_reported_not_misjudged(reference_url: str) -> None:
    """A protected URL that answers 200 to anyone makes the replay checks n/a, not pass."""
    mapping: dict[str, Any] = {
        "login": {"path": "/auth/login"},
        "register": {"path": "/auth/register"},
        "logout": "/auth/logout",
        "protected": "/openapi.json",
        "csrf": {"source": "json", "name": "csrf_token", "header": "X-CSRF-Token"},
    }
    report = await run_audit(target_from_mapping(mapping, reference_url), FAST)
    c3 = report.results[2]
    assert c3.status == "n/a"
    assert "without any cookie" in c3.summary


class Recording(httpx.AsyncHTTPTransport):
    """A real transport that remembers every credential that crossed it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            body = json.loads(request.content)
            if isinstance(body, dict) and "password" in body:
                self.secrets.add(body["password"])
        if "password" in request.url.params:
            self.secrets.add(request.url.params["password"])
        response = await super().handle_async_request(request)
        await response.aread()
        for header in response.headers.get_list("set-cookie"):
            value = header.split(";")[0].split("=", 1)[1]
            if value:
                self.secrets.add(value)
        if "json" in response.headers.get("content-type", ""):
            body = json.loads(response.content)
            if isinstance(body, dict) and isinstance(body.get("csrf_token"), str):
                self.secrets.add(body["csrf_token"])
        return response


async def test_no_credential_reaches_the_report(serve: Serve) -> None:
    """No session id, CSRF token or password appears in the JSON, the verbose table or the
    HTML report."""
    transport = Recording()
    url = await serve(make_app(Faults(logout_clears_only=True, no_csrf=True)))
    report = await run_audit(target_from_mapping(TARGET, url), FAST, transport=transport)
    out = io.StringIO()
    render(report, Console(file=out, width=200), verbose=True)
    text = out.getvalue() + json.dumps(report.to_json()) + render_html(report)
    assert len(transport.secrets) > 200  # sessions, CSRF tokens, passwords
    leaked = [s for s in transport.secrets if s in text]
    assert not leaked


async def test_the_auditor_logs_out_what_it_created(serve: Serve) -> None:
    """After a run against a correct app, none of the test user's sessions is left alive."""
    app = make_app()
    url = await serve(app)
    options = AuditOptions(rate=5000, samples=30, create_test_user=True)
    await run_audit(target_from_mapping(TARGET, url), options)
    assert app.state.auth.sessions == {}


async def test_sampling_stops_at_its_time_budget(serve: Serve) -> None:
    """When sampling time runs out, C9 judges what it has and warns that it sampled fewer."""
    url = await serve(make_app())
    options = AuditOptions(rate=5000, sample_seconds=0.05, concurrency=1, create_test_user=True)
    report = await run_audit(target_from_mapping(TARGET, url), options)
    c9 = report.results[8]
    assert c9.status == "warn", details(report)
    assert "sampled_fewer" in {f.code for f in c9.findings}
    assert "sampling time" in c9.summary
    assert statuses(report) == {**expected(set()), "C9": "warn"}


async def test_an_html_form_app_passes(serve: Serve) -> None:
    """Form login, a 303 after it, and a CSRF token read from a hidden input: all pass."""
    url = await serve(make_form_app())
    report = await run_audit(target_from_mapping(FORM_TARGET, url), FAST)
    assert statuses(report) == expected(set()), details(report)


class RecordingProgress:
    """A Progress that remembers what was reported, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def check_started(self, check_id: str, title: str) -> None:
        self.events.append(("start", check_id))

    def advance(self, check_id: str, done: int, total: int) -> None:
        self.events.append(("advance", check_id))

    def check_finished(self, check_id: str) -> None:
        self.events.append(("end", check_id))


async def test_c8_waits_while_c9_samples(serve: Serve) -> None:
    """C8's wait past the grace window overlaps C9's sampling: C9 starts before C8 ends and
    advances meanwhile; each keeps its own requests as evidence and its own progress bar."""
    url = await serve(reference_app())
    progress = RecordingProgress()
    target = with_tokens(preset("revocable", url), grace_wait=2.0)
    report = await run_audit(target, NO_BROWSER, progress=progress)
    assert statuses(report) == expected(set(), tokens=True), details(report)
    events = progress.events
    c8_end = events.index(("end", "C8"))
    assert events.index(("start", "C9")) < c8_end
    assert ("advance", "C9") in events[events.index(("start", "C8")) : c8_end]
    c8, c9 = report.results[7], report.results[8]
    c8_steps = {e.step for e in c8.evidence if isinstance(e, Exchange)}
    c9_steps = {e.step for e in c9.evidence if isinstance(e, Exchange)}
    assert c8_steps
    assert not [s for s in c8_steps if s.startswith(("sample", "log the sample"))], c8_steps
    assert c9_steps <= {"sample a session id", "log the sample out"}, c9_steps


async def test_csrf_without_a_token_is_one_root_cause(serve: Serve) -> None:
    """An app with no CSRF defence, described without a token: C6 never says "with the token"
    and says "no CSRF defence" once, naming the single-defence variants in the same sentence."""
    url = await serve(make_app(Faults(no_csrf=True)))
    mapping = {k: v for k, v in TARGET.items() if k != "csrf"}
    report = await run_audit(target_from_mapping(mapping, url), NO_BROWSER_FEW)
    c6 = report.results[5]
    assert (c6.status, c6.code) == ("fail", "csrf_unprotected"), details(report)
    assert c6.summary == (
        "POST /logout was accepted from a forged cross-site request (200), the session ended: "
        "no CSRF defence at all (a foreign Origin and Sec-Fetch-Site: cross-site were each "
        "accepted alone too)"
    )
    shown = [e.line() for e in c6.evidence] + [f.message for f in c6.findings]
    assert not [line for line in shown if "with the token" in line]
    assert len([f for f in c6.findings if f.severity == "fail"]) == 3  # one per variant


async def test_cleanup_does_not_claim_a_logout_that_ends_nothing(serve: Serve) -> None:
    """When C3 shows logout only clears the cookie, the run note says the sessions may stay
    valid, for the cookie's Max-Age, instead of "logged out"; with a real logout it says so."""
    url = await serve(make_app(Faults(logout_clears_only=True)))
    report = await run_audit(target_from_mapping(TARGET, url), NO_BROWSER_FEW)
    notes = " | ".join(report.notes)
    assert "logout does not end sessions on the server (C3)" in notes
    assert "may stay valid for up to 60 min (the cookie's Max-Age)" in notes
    assert "cleanup: logged out" not in notes
    assert "could not be logged out" not in notes
    url = await serve(make_app())
    report = await run_audit(target_from_mapping(TARGET, url), NO_BROWSER_FEW)
    assert "cleanup: logged out" in " | ".join(report.notes)
