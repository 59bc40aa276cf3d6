"""C6: a state-changing request forged from another site is refused, and changes nothing.

The probe is a request whose effect the auditor can see from the same browser:
logout by default (accepted, the session ends; refused, it signs in as before),
or the target's ``csrf_probe``. Each variant is sent from a signed-in browser,
then the auditor checks whether the session survived:

* forged: a foreign ``Origin``, ``Sec-Fetch-Site: cross-site`` and no CSRF token,
  as a hostile page would send it. Accepted is a **fail**: no defence at all.
* one defence at a time, each with everything else correct: a foreign
  ``Origin`` (token included); ``Sec-Fetch-Site: cross-site`` (token included, no
  Origin); no token (own Origin, only if the target uses a token). Each must be
  refused too: accepted is a **fail** naming the missing defence (the Origin
  check, the Fetch-Metadata check, the token), even though the others still
  stop the fully forged request.
* control: the same request done properly must change state, else the
  refusals prove nothing (**warn**).

The cookie is attached every time, as a browser that ignores SameSite (or a
same-site attacker on a sibling subdomain) would: SameSite is C1's subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from revocable.audit.context import OWN_ORIGIN, AuditContext, Session
from revocable.audit.result import CheckResult, Evidence, Finding, Note

__all__ = ["FOREIGN_ORIGIN", "check_csrf"]

FOREIGN_ORIGIN = "https://cross-site.audit.invalid"
"""A foreign origin that can never resolve (RFC 2606 ``.invalid``)."""

_FIX_FORGED = (
    "Refuse cross-site state changes: a CSRF token bound to the session, checked on every "
    "POST/PUT/PATCH/DELETE, plus an Origin / Sec-Fetch-Site check."
)


@dataclass(frozen=True)
class _Variant:
    name: str
    origin: str | None
    fetch_site: str | None
    token: bool
    missing: str
    code: str
    fix: str


_VARIANTS = (
    _Variant(
        "a forged cross-site request (foreign Origin, Sec-Fetch-Site: cross-site, no token)",
        FOREIGN_ORIGIN,
        "cross-site",
        False,
        "no CSRF defence at all",
        "csrf_unprotected",
        _FIX_FORGED,
    ),
    _Variant(
        "a foreign Origin (with the token)",
        FOREIGN_ORIGIN,
        None,
        True,
        "the Origin check is missing",
        "csrf_origin_not_checked",
        "Refuse state-changing requests whose Origin is not your own.",
    ),
    _Variant(
        "Sec-Fetch-Site: cross-site (with the token, no Origin)",
        None,
        "cross-site",
        True,
        "the Fetch-Metadata (Sec-Fetch-Site) check is missing",
        "csrf_fetch_metadata_ignored",
        "Refuse state-changing requests that say Sec-Fetch-Site: cross-site.",
    ),
    _Variant(
        "no CSRF token (own Origin)",
        OWN_ORIGIN,
        None,
        False,
        "the CSRF token is not enforced",
        "csrf_token_not_enforced",
        "Require the CSRF token on every cookie-authenticated state-changing request.",
    ),
)


async def check_csrf(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login", "protected")
    probe = ctx.target.probe
    if why or probe is None:
        return CheckResult.not_applicable(
            "C6", why or "no state-changing endpoint to probe (no logout and no csrf_probe)"
        )
    mark = ctx.client.mark()
    findings: list[Finding] = []
    notes: list[Note] = []
    session: Session | None = None
    refused = 0
    for variant in _VARIANTS:
        if not variant.token and variant.origin == OWN_ORIGIN and ctx.target.csrf is None:
            notes.append(Note("no CSRF token in the target description: the no-token case is moot"))
            continue
        if session is None or not session.alive:
            session = await ctx.login("log in (C6)")
        answer = await ctx.send(
            probe,
            session,
            step=f"send {probe} with {variant.name}",
            csrf=variant.token,
            origin=variant.origin,
            sec_fetch_site=variant.fetch_site,
        )
        if await ctx.is_alive(session, step="does the session still sign in?"):
            refused += 1
            notes.append(Note(f"refused: {variant.name} ({answer.status}), session intact"))
            continue
        findings.append(
            Finding(
                "fail",
                variant.code,
                f"{probe} with {variant.name} was accepted ({answer.status}), the session "
                f"ended: {variant.missing}",
                variant.fix,
            )
        )
    if session is None or not session.alive:
        session = await ctx.login("log in (C6 control)")
    control = await ctx.send(probe, session, step=f"control: send {probe} properly")
    if await ctx.is_alive(session, step="did the proper request change state?"):
        findings.append(
            Finding(
                "warn",
                "csrf_probe_unobservable",
                f"the proper {probe} (with the token) did not end the session either "
                f"({control.status}); the refusals prove nothing",
                "Name a csrf_probe whose effect shows on the protected URL (e.g. logout).",
            )
        )
    evidence: list[Evidence] = [*ctx.client.since(mark), *notes]
    bad = [f for f in findings if f.severity != "info"]
    summary = (
        "; ".join(f.message for f in bad)
        if bad
        else f"{refused} forged variants of {probe} refused, the session intact each time; "
        "the proper request works"
    )
    return CheckResult.from_findings("C6", summary, findings, evidence)
