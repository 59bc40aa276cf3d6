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

The summary says one root cause once: when the fully forged request goes
through, the single-defence variants that went through too are named in the
same sentence, not as three more failures (each keeps its own finding and code).
A target without a CSRF token is never said to send one.

The cookie is attached every time, as a browser that ignores SameSite (or a
same-site attacker on a sibling subdomain) would: SameSite is C1's subject.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    short: str
    """The variant in a list: "a foreign Origin"."""

    def label(self, has_token: bool) -> str:
        """The name, saying "with the token" only when the target has a token to send."""
        return self.name.format(
            token="with the token, " if has_token else "",
            with_token=" (with the token)" if has_token else "",
        )


_VARIANTS = (
    _Variant(
        "a forged cross-site request (foreign Origin, Sec-Fetch-Site: cross-site, no token)",
        FOREIGN_ORIGIN,
        "cross-site",
        False,
        "no CSRF defence at all",
        "csrf_unprotected",
        _FIX_FORGED,
        "forged",
    ),
    _Variant(
        "a foreign Origin{with_token}",
        FOREIGN_ORIGIN,
        None,
        True,
        "the Origin check is missing",
        "csrf_origin_not_checked",
        "Refuse state-changing requests whose Origin is not your own.",
        "a foreign Origin",
    ),
    _Variant(
        "Sec-Fetch-Site: cross-site ({token}no Origin)",
        None,
        "cross-site",
        True,
        "the Fetch-Metadata (Sec-Fetch-Site) check is missing",
        "csrf_fetch_metadata_ignored",
        "Refuse state-changing requests that say Sec-Fetch-Site: cross-site.",
        "Sec-Fetch-Site: cross-site",
    ),
    _Variant(
        "no CSRF token (own Origin)",
        OWN_ORIGIN,
        None,
        False,
        "the CSRF token is not enforced",
        "csrf_token_not_enforced",
        "Require the CSRF token on every cookie-authenticated state-changing request.",
        "no CSRF token",
    ),
)


def _and(items: Iterable[str]) -> str:
    """``a, b and c``."""
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _summary(probe: str, accepted: list[tuple[_Variant, int]]) -> str:
    """One sentence for every accepted variant: one root cause is said once."""
    forged = next((status for v, status in accepted if v.code == "csrf_unprotected"), None)
    others = [v for v, _ in accepted if v.code != "csrf_unprotected"]
    if forged is not None:
        also = (
            f" ({_and(v.short for v in others)} {'was' if len(others) == 1 else 'were each'}"
            " accepted alone too)"
            if others
            else ""
        )
        return (
            f"{probe} was accepted from a forged cross-site request ({forged}), the session "
            f"ended: no CSRF defence at all{also}"
        )
    return (
        f"{probe} was accepted with "
        + _and(f"{v.short} ({status})" for v, status in accepted)
        + ", the session ended: "
        + "; ".join(v.missing for v, _ in accepted)
    )


async def check_csrf(ctx: AuditContext) -> CheckResult:
    why = ctx.cannot("login", "protected")
    probe = ctx.target.probe
    if why or probe is None:
        return CheckResult.not_applicable(
            "C6", why or "no state-changing endpoint to probe (no logout and no csrf_probe)"
        )
    has_token = ctx.target.csrf is not None
    mark = ctx.client.mark()
    findings: list[Finding] = []
    notes: list[Note] = []
    accepted: list[tuple[_Variant, int]] = []
    session: Session | None = None
    refused = 0
    for variant in _VARIANTS:
        if not variant.token and variant.origin == OWN_ORIGIN and not has_token:
            notes.append(Note("no CSRF token in the target description: the no-token case is moot"))
            continue
        name = variant.label(has_token)
        if session is None or not session.alive:
            session = await ctx.login("log in (C6)")
        answer = await ctx.send(
            probe,
            session,
            step=f"send {probe} with {name}",
            csrf=variant.token,
            origin=variant.origin,
            sec_fetch_site=variant.fetch_site,
        )
        if await ctx.is_alive(session, step="does the session still sign in?"):
            refused += 1
            notes.append(Note(f"refused: {name} ({answer.status}), session intact"))
            continue
        accepted.append((variant, answer.status))
        findings.append(
            Finding(
                "fail",
                variant.code,
                f"{probe} with {name} was accepted ({answer.status}), the session "
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
                f"the proper {probe}"
                + (" (with the token)" if has_token else "")
                + f" did not end the session either ({control.status}); the refusals prove "
                "nothing",
                "Name a csrf_probe whose effect shows on the protected URL (e.g. logout).",
            )
        )
    evidence: list[Evidence] = [*ctx.client.since(mark), *notes]
    if accepted:
        summary = _summary(str(probe), accepted)
    elif findings:
        summary = "; ".join(f.message for f in findings if f.severity != "info")
    else:
        summary = (
            f"{refused} forged variants of {probe} refused, the session intact each time; "
            "the proper request works"
        )
    return CheckResult.from_findings("C6", summary, findings, evidence)
