"""C1: the session cookie (and any other auth-looking cookie the login sets) has safe flags.

A double-submit CSRF cookie (the target's ``[csrf]`` cookie, the ``[tokens]``
refresh CSRF cookie, or any cookie named like csrf/xsrf, never the session
cookie) must be readable by the page's script, which echoes it in a header:
it is exempt from HttpOnly, and only from HttpOnly. Secure, SameSite, the
prefix rules, Domain and lifetime apply to it as to any auth cookie.

``judge_cookie`` is pure: a parsed Set-Cookie header in, findings out.
"""

from __future__ import annotations

import re
from datetime import datetime

from revocable.audit.context import AuditContext
from revocable.audit.cookies import SetCookie, clean
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["check_cookie_flags", "csrf_cookie_names", "judge_cookie"]

_AUTHISH = re.compile(r"sess|sid|auth|token|jwt|access|refresh|remember|login", re.IGNORECASE)
_CSRFISH = re.compile(r"csrf|xsrf", re.IGNORECASE)
_DAY = 86_400
_LONG = 30 * _DAY
_BROWSER_CAP = 400 * _DAY

_FIX_HTTPONLY = "Set HttpOnly on the session cookie so scripts (and XSS) cannot read it."
_FIX_SECURE = "Set Secure on the session cookie (and serve the app over HTTPS only)."
_FIX_SAMESITE = "Set SameSite=Lax (or Strict) on the session cookie."
_FIX_PREFIX = "A __Host- cookie needs Secure, Path=/ and no Domain; browsers drop it otherwise."
_FIX_DOMAIN = "Drop the Domain attribute: a host-only cookie is not sent to subdomains."
_FIX_LONG = "Keep the session's absolute lifetime short (days, not months)."


def judge_cookie(cookie: SetCookie, *, now: datetime, csrf: bool = False) -> list[Finding]:
    """What is wrong (fail, warn) or worth knowing (info) about one auth cookie.

    ``csrf``: a double-submit CSRF cookie, which scripts must read: no HttpOnly is fine.
    """
    name = clean(cookie.name, 60)
    out: list[Finding] = []
    if csrf:
        out.append(
            Finding(
                "info",
                "csrf_cookie_readable",
                f"{name} is a double-submit CSRF cookie: the page's script must read it, so it "
                "is exempt from HttpOnly (still judged on Secure and SameSite)",
            )
        )
    elif not cookie.http_only:
        out.append(
            Finding(
                "fail",
                "cookie_not_httponly",
                f"{name} lacks HttpOnly: JavaScript can read it",
                _FIX_HTTPONLY,
            )
        )
    if not cookie.secure:
        out.append(
            Finding(
                "fail",
                "cookie_not_secure",
                f"{name} lacks Secure: it also travels over plain http",
                _FIX_SECURE,
            )
        )
    same_site = cookie.same_site
    if same_site is None:
        out.append(
            Finding(
                "fail",
                "cookie_samesite_missing",
                f"{name} has no SameSite: browsers differ in what they assume",
                _FIX_SAMESITE,
            )
        )
    elif same_site == "none":
        out.append(
            Finding(
                "fail",
                "cookie_samesite_none",
                f"{name} is SameSite=None: sent with every cross-site request",
                _FIX_SAMESITE,
            )
        )
    elif same_site not in ("lax", "strict"):
        out.append(
            Finding(
                "fail",
                "cookie_samesite_invalid",
                f"{name} has SameSite={clean(same_site, 20)}, which browsers ignore",
                _FIX_SAMESITE,
            )
        )
    if cookie.name.startswith("__Host-"):
        if not cookie.secure or cookie.path != "/" or cookie.domain is not None:
            out.append(
                Finding(
                    "fail",
                    "cookie_prefix_invalid",
                    f"{name} breaks the __Host- rules (Secure, Path=/, no Domain)",
                    _FIX_PREFIX,
                )
            )
    elif cookie.name.startswith("__Secure-"):
        if not cookie.secure:
            out.append(
                Finding(
                    "fail",
                    "cookie_prefix_invalid",
                    f"{name} is __Secure- without Secure",
                    _FIX_PREFIX,
                )
            )
    else:
        out.append(
            Finding(
                "info",
                "cookie_no_host_prefix",
                f"advice: name it __Host-{name} to pin it to this host, Path=/ and Secure",
            )
        )
    if cookie.domain is not None:
        out.append(
            Finding(
                "warn",
                "cookie_domain_wide",
                f"{name} has Domain={clean(cookie.domain, 60)}: every subdomain receives it",
                _FIX_DOMAIN,
            )
        )
    if cookie.path is None:
        out.append(
            Finding("info", "cookie_no_path", f"{name} has no Path: it defaults to the login's")
        )
    lifetime = cookie.lifetime(now)
    if lifetime is None:
        out.append(
            Finding("info", "cookie_browser_session", f"{name} lasts until the browser closes")
        )
    elif lifetime > _LONG:
        capped = " (browsers cap it at 400 days)" if lifetime > _BROWSER_CAP else ""
        out.append(
            Finding(
                "warn",
                "cookie_long_lived",
                f"{name} lives {lifetime / _DAY:.0f} days{capped}",
                _FIX_LONG,
            )
        )
    return out


def csrf_cookie_names(ctx: AuditContext) -> set[str]:
    """The double-submit CSRF cookies the target names ([csrf] source = "cookie", [tokens]
    refresh_csrf_cookie)."""
    names: set[str] = set()
    csrf, tokens = ctx.target.csrf, ctx.target.tokens
    if csrf is not None and csrf.source == "cookie":
        names.add(csrf.name)
    if tokens is not None and tokens.refresh_csrf_cookie:
        names.add(tokens.refresh_csrf_cookie)
    return names


def _flags(cookie: SetCookie, now: datetime) -> str:
    parts = [clean(cookie.name, 60) + ":"]
    parts += [
        flag for flag, on in (("HttpOnly", cookie.http_only), ("Secure", cookie.secure)) if on
    ]
    if cookie.same_site:
        parts.append(f"SameSite={clean(cookie.same_site, 20).capitalize()}")
    if cookie.path:
        parts.append(f"Path={clean(cookie.path, 40)}")
    lifetime = cookie.lifetime(now)
    if lifetime is not None:
        parts.append(
            f"{lifetime / _DAY:.0f} days" if lifetime >= _DAY else f"{lifetime / 60:.0f} minutes"
        )
    return " ".join(parts)


async def check_cookie_flags(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login")
    if why or ctx.first is None:
        return CheckResult.not_applicable("C1", why or "no login was possible")
    login = ctx.first.login
    now = login.date
    cookies = [c for c in login.cookies if not c.is_deletion(now)]
    session = next(c for c in cookies if c.name == ctx.first.cookie_name)
    named = csrf_cookie_names(ctx)

    def is_csrf(cookie: SetCookie) -> bool:
        return cookie is not session and (
            cookie.name in named or bool(_CSRFISH.search(cookie.name))
        )

    judged = [session] + [
        c for c in cookies if c is not session and (_AUTHISH.search(c.name) or is_csrf(c))
    ]
    findings: list[Finding] = []
    evidence: list[Evidence] = list(ctx.first_evidence)
    for cookie in judged:
        csrf = is_csrf(cookie)
        findings += judge_cookie(cookie, now=now, csrf=csrf)
        evidence.append(
            Note(
                _flags(cookie, now)
                + (" (a double-submit CSRF cookie: exempt from HttpOnly only)" if csrf else "")
            )
        )
    others = [clean(c.name, 40) for c in cookies if c not in judged]
    if others:
        evidence.append(Note("also set by the login, not judged: " + ", ".join(others)))
    bad = [f for f in findings if f.severity != "info"]
    summary = "; ".join(f.message for f in bad) if bad else _flags(session, now)
    return CheckResult.from_findings("C1", summary, findings, evidence)
