"""C1: the session cookie (and any other auth-looking cookie the login sets) has safe flags.

``judge_cookie`` is pure: a parsed Set-Cookie header in, findings out.
"""

from __future__ import annotations

import re
from datetime import datetime

from revocable.audit.context import AuditContext
from revocable.audit.cookies import SetCookie, clean
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["check_cookie_flags", "judge_cookie"]

_AUTHISH = re.compile(r"sess|sid|auth|token|jwt|access|refresh|remember|login", re.IGNORECASE)
_DAY = 86_400
_LONG = 30 * _DAY
_BROWSER_CAP = 400 * _DAY

_FIX_HTTPONLY = "Set HttpOnly on the session cookie so scripts (and XSS) cannot read it."
_FIX_SECURE = "Set Secure on the session cookie (and serve the app over HTTPS only)."
_FIX_SAMESITE = "Set SameSite=Lax (or Strict) on the session cookie."
_FIX_PREFIX = "A __Host- cookie needs Secure, Path=/ and no Domain; browsers drop it otherwise."
_FIX_DOMAIN = "Drop the Domain attribute: a host-only cookie is not sent to subdomains."
_FIX_LONG = "Keep the session's absolute lifetime short (days, not months)."


def judge_cookie(cookie: SetCookie, *, now: datetime) -> list[Finding]:
    """What is wrong (fail, warn) or worth knowing (info) about one auth cookie."""
    name = clean(cookie.name, 60)
    out: list[Finding] = []
    if not cookie.http_only:
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
    judged = [session] + [c for c in cookies if c is not session and _AUTHISH.search(c.name)]
    findings: list[Finding] = []
    evidence: list[Evidence] = list(ctx.first_evidence)
    for cookie in judged:
        findings += judge_cookie(cookie, now=now)
        evidence.append(Note(_flags(cookie, now)))
    others = [clean(c.name, 40) for c in cookies if c not in judged]
    if others:
        evidence.append(Note("also set by the login, not judged: " + ", ".join(others)))
    bad = [f for f in findings if f.severity != "info"]
    summary = "; ".join(f.message for f in bad) if bad else _flags(session, now)
    return CheckResult.from_findings("C1", summary, findings, evidence)
