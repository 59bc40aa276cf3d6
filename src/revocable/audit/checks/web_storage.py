"""C2: no credential where a script can read it, after a login through the app's own page.

In headless Chromium (``browser.visit``) the auditor signs in through the
target's login page as a person would, then reads localStorage,
sessionStorage, ``document.cookie`` and IndexedDB. It fails when any of them
holds the session cookie's value, the password, another cookie's value, a JWT
or a random-looking token (``leaks.find_leak``), and when the session cookie
itself is readable from ``document.cookie`` (no HttpOnly). A CSRF token may be
readable (a script has to send it): the one the target describes, or one under
a key named like ``csrf``/``xsrf``.

``judge`` is pure: what the browser saw in, findings and notes out. The
browser's session is then logged out like any other (``ctx.logout``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx

from revocable.audit.browser import (
    STEPS,
    BrowserCookie,
    BrowserFailed,
    BrowserUnavailable,
    NoLoginForm,
    StorageItem,
    Visit,
    unavailable,
    visit,
)
from revocable.audit.client import AuditError, BudgetExhausted, Response
from revocable.audit.context import (
    AuditContext,
    Credentials,
    Session,
    choose_session_cookie,
    hidden_input,
)
from revocable.audit.cookies import Jar, SetCookie, clean, redact
from revocable.audit.leaks import Known, Leak, find_leak, looks_authish
from revocable.audit.result import CheckResult, Evidence, Finding, Note
from revocable.audit.target import BrowserLogin

__all__ = ["check_web_storage", "judge"]

_CSRFISH = re.compile(r"csrf|xsrf", re.IGNORECASE)
_AREAS = ("localStorage", "sessionStorage", "document.cookie")
_BROWSER_REQUESTS = 100  # at most this many requests from the browser to the target
_MIN_COOKIE = 16  # shorter cookie values (a theme, a language) are not looked for

_FIX_STORAGE = (
    "Keep credentials out of script-readable storage: let the server set an HttpOnly "
    "session cookie, and never hand a token or session id to the page for it to store."
)
_FIX_HTTPONLY = "Set HttpOnly on the session cookie so scripts (and XSS) cannot read it."
_FIX_LOGIN = (
    "Check [browser] (page, form, username, password, submit) and the credentials: the "
    "login through the page did not sign in."
)
_FIX_FORM = "Point [browser] page at the login page, or name its form and fields in [browser]."
_WHAT = {
    "session id": ("session_id_in_storage", "the session cookie's value"),
    "password": ("password_in_storage", "the test user's password"),
    "cookie value": ("cookie_value_in_storage", "another cookie's value"),
    "JWT": ("jwt_in_storage", "a JWT"),
    "token": ("token_in_storage", "a random-looking token"),
    "UUID": ("token_in_storage", "a UUID"),
}


def _where(item: StorageItem, key_leak: Leak | None) -> str:
    return f"{item.area}[{redact(item.key)}]" if key_leak else item.where()


def judge(
    seen: Visit,
    *,
    session: BrowserCookie | None,
    password: str,
    csrf_values: Iterable[str] = (),
    csrf_cookie: str | None = None,
) -> tuple[list[Finding], list[Note]]:
    """Findings for what a script could read after the login, and notes on what was read."""
    csrf = [v for v in csrf_values if v]
    known = [Known(password, "password")]
    if session is not None:
        known.append(Known(session.value, "session id", clean(session.name, 40)))
    known += [
        Known(c.value, "cookie value", clean(c.name, 40))
        for c in seen.cookies
        if (session is None or c.name != session.name)
        and c.name != csrf_cookie
        and len(c.value) >= _MIN_COOKIE
        and c.value not in csrf
    ]
    findings: list[Finding] = []
    notes: list[Note] = []
    for item in seen.items:
        if item.area == "document.cookie" and session is not None and item.key == session.name:
            findings.append(
                Finding(
                    "fail",
                    "session_cookie_readable",
                    f"the session cookie {clean(session.name, 60)} is readable from "
                    "document.cookie: it lacks HttpOnly",
                    _FIX_HTTPONLY,
                )
            )
            continue
        if item.area == "document.cookie" and item.key == csrf_cookie:
            notes.append(Note(f"{item.where()}: the CSRF cookie, readable as it must be"))
            continue
        mine = [k for k in known if not (item.area == "document.cookie" and k.label == item.key)]
        key_leak = find_leak(item.key, known=mine, ignore=csrf)
        leak = key_leak or find_leak(item.value, known=mine, ignore=csrf)
        if leak is None:
            continue
        where = _where(item, key_leak)
        if leak.kind in ("token", "UUID") and _CSRFISH.search(item.key):
            notes.append(Note(f"{where}: {leak.describe()}, taken for a CSRF token (allowed)"))
            continue
        code, what = _WHAT[leak.kind]
        if leak.kind == "UUID" and not looks_authish(item.key):
            notes.append(Note(f"{where}: {leak.describe()}, not named like a credential"))
            continue
        findings.append(
            Finding("fail", code, f"{where} holds {what} {leak.describe()}", _FIX_STORAGE)
        )
    counts = {area: sum(1 for i in seen.items if i.area == area) for area in _AREAS}
    notes.append(
        Note(
            "read: "
            + ", ".join(
                f"{area} {n} {'cookie' if 'cookie' in area else 'key'}{'s' * (n != 1)}"
                for area, n in counts.items()
            )
            + f", IndexedDB {len(seen.databases)} database{'s' * (len(seen.databases) != 1)}"
            + (
                f" ({', '.join(clean(d, 40) for d in seen.databases[:5])})"
                if seen.databases
                else ""
            )
        )
    )
    if session is not None:
        flags = [f for f, on in (("HttpOnly", session.http_only), ("Secure", session.secure)) if on]
        notes.append(
            Note(
                f"the browser keeps {clean(session.name, 60)}: "
                + " ".join([*flags, f"SameSite={clean(session.same_site, 10) or '?'}"])
            )
        )
    return findings, notes


def _traffic(seen: Visit) -> Note:
    blocked = sum(seen.blocked.values())
    origins = ", ".join(f"{o} ({n})" for o, n in seen.blocked.most_common(5))
    text = (
        f"the browser sent {seen.requests} request(s) to the target and blocked {blocked} "
        "to other origins" + (f": {origins}" if origins else "")
    )
    if seen.over_budget:
        text += f"; {seen.over_budget} more to the target were refused (request budget)"
    return Note(text)


def _session_cookie(ctx: AuditContext, seen: Visit) -> BrowserCookie | None:
    name = ctx.target.session_cookie or (ctx.first.cookie_name if ctx.first else None)
    if name is None:
        csrf = ctx.target.csrf
        chosen = choose_session_cookie(
            tuple(SetCookie(c.name, c.value) for c in seen.cookies),
            configured=None,
            csrf_cookie=csrf.name if csrf is not None and csrf.source == "cookie" else None,
            now=datetime.now(UTC),
        )
        name = chosen.name if chosen else None
    return next((c for c in seen.cookies if c.name == name), None)


async def _csrf_values(ctx: AuditContext, seen: Visit, jar: Jar) -> list[str]:
    """The CSRF tokens the page was given: scripts may read these."""
    csrf = ctx.target.csrf
    if csrf is None:
        return []
    found: list[str] = []
    for body in seen.login_json:
        value = body.get(csrf.name) if isinstance(body, dict) else None
        if isinstance(value, str):
            found.append(value)
    if csrf.source == "cookie" and jar.get(csrf.name):
        found.append(jar.get(csrf.name) or "")
    from_page = hidden_input(seen.html, csrf.name)
    if from_page:
        found.append(from_page)
    if not found and csrf.page is not None:
        page = await ctx.client.request(
            "GET", csrf.page, step="fetch the CSRF token", cookie=jar.header_for(csrf.page)
        )
        token = hidden_input(page.text(), csrf.name)
        found += [token] if token else []
    return found


def _jar(seen: Visit) -> Jar:
    jar = Jar()
    now = datetime.now(UTC)
    for cookie in seen.cookies:
        jar.update([SetCookie(cookie.name, cookie.value, (("path", cookie.path),))], "/", now)
    return jar


def _ready(ctx: AuditContext) -> tuple[BrowserLogin, Credentials, str] | CheckResult:
    """What the browser needs (page, credentials, chromium), or C2's n/a saying what is not."""
    browser = ctx.target.browser
    if browser is None:
        return CheckResult.not_applicable(
            "C2",
            "the target names no login page for the browser ([browser] page in the target "
            "file, or --page)",
            code="no_login_page",
        )
    if ctx.chromium is None:
        return CheckResult.not_applicable("C2", "the browser is off (--no-browser)", "browser_off")
    why = unavailable(ctx.chromium)
    if why:
        return CheckResult.not_applicable("C2", why, code="browser_unavailable")
    if ctx.credentials is None:
        return CheckResult.not_applicable("C2", ctx.blocked.get("login") or "no credentials")
    if ctx.target.login is not None and ctx.first is None:
        return CheckResult.not_applicable("C2", ctx.blocked.get("login") or "no login was possible")
    return browser, ctx.credentials, ctx.chromium


async def check_web_storage(ctx: AuditContext) -> CheckResult:
    ready = _ready(ctx)
    if isinstance(ready, CheckResult):
        return ready
    browser, creds, chromium = ready
    budget = min(_BROWSER_REQUESTS, ctx.client.remaining - 5 - len(ctx.sessions))
    if budget < 10:
        raise BudgetExhausted(f"the request budget ({ctx.client.max_requests}) is spent")
    mark = ctx.client.mark()
    try:
        seen = await visit(
            ctx.target.origin,
            ctx.client.url(browser.page),
            browser,
            creds.username,
            creds.password,
            chromium=chromium,
            timeout=ctx.browser_timeout,
            max_requests=budget,
            on_step=lambda step: ctx.progress.advance("C2", step, STEPS),
        )
    except BrowserUnavailable as exc:
        return CheckResult.not_applicable("C2", str(exc), code=exc.code)
    except BrowserFailed as exc:
        ctx.client.used += exc.visit.requests
        fix = _FIX_FORM if isinstance(exc, NoLoginForm) else _FIX_LOGIN
        evidence: list[Evidence] = [Note(s) for s in exc.visit.steps]
        return CheckResult.from_findings(
            "C2",
            f"the browser could not log in through {browser.page}: {exc}",
            [Finding("warn", exc.code, str(exc), fix)],
            [*evidence, _traffic(exc.visit)],
        )
    ctx.client.used += seen.requests
    session_cookie = _session_cookie(ctx, seen)
    jar = _jar(seen)
    csrf = ctx.target.csrf
    csrf_values = await _csrf_values(ctx, seen, jar)
    findings, notes = judge(
        seen,
        session=session_cookie,
        password=creds.password,
        csrf_values=csrf_values,
        csrf_cookie=csrf.name if csrf is not None and csrf.source == "cookie" else None,
    )
    findings += await _signed_in_and_out(ctx, seen, jar, session_cookie, csrf_values, notes)
    evidence = [*(Note(s) for s in seen.steps), _traffic(seen), *notes, *ctx.client.since(mark)]
    bad = [f for f in findings if f.severity != "info"]
    summary = (
        "; ".join(f.message for f in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        if bad
        else f"after a login through {browser.page} in headless Chromium nothing a script can "
        "read holds a credential"
        + (
            f"; {clean(session_cookie.name, 60)} is HttpOnly"
            if session_cookie is not None and session_cookie.http_only
            else ""
        )
    )
    return CheckResult.from_findings("C2", summary, findings, evidence)


async def _signed_in_and_out(
    ctx: AuditContext,
    seen: Visit,
    jar: Jar,
    cookie: BrowserCookie | None,
    csrf_values: list[str],
    notes: list[Note],
) -> list[Finding]:
    """Whether the page's login signed in; then log that session out (cleanup)."""
    if cookie is None:
        notes.append(Note("the browser holds no session cookie for the target after the login"))
        return [
            Finding(
                "warn",
                "browser_login_unverified",
                "the login through the page left no session cookie in the browser",
                _FIX_LOGIN,
            )
        ]
    body = json.dumps(seen.login_json[0]).encode() if seen.login_json else b""
    session = Session(jar, Response(200, httpx.Headers(), body), cookie.name)
    session.csrf = csrf_values[0] if csrf_values else None
    ctx.sessions.append(session)
    out: list[Finding] = []
    if ctx.cannot("protected") is None and not await ctx.is_alive(
        session, step="does the browser's session sign in?"
    ):
        out.append(
            Finding(
                "warn",
                "browser_login_failed",
                "the login through the page did not sign in (the protected URL refuses the "
                "browser's cookies)",
                _FIX_LOGIN,
            )
        )
    if session.alive and ctx.target.logout is not None:
        try:
            answer = await ctx.logout(session, step="clean up: log out the browser's session")
        except AuditError as exc:
            notes.append(Note(f"could not log out the browser's session yet: {exc}"))
        else:
            if not answer.ok:
                notes.append(Note(f"logging out the browser's session answered {answer.status}"))
    return out
