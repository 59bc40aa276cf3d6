"""C5: no state-changing GET (or HEAD): a link, an <img> or a prefetch must never change state.

Two sources:

* the app's ``/openapi.json``, if it publishes one: GET operations whose path,
  operationId or summary holds a state-changing verb fail; a description that
  does only warns (descriptions are prose). ``state_changing_gets`` is pure.
* behaviour: GET and HEAD on every state-changing endpoint the target names
  (login, register, logout, log-out-all, the CSRF probe, ``state_changing``),
  sent from a signed-in browser without any CSRF token, as a link would be. A
  refusal (4xx) is fine. Otherwise the auditor checks what changed: the
  sessions still sign in; GET login with the throwaway user's credentials in
  the query did not sign in; GET register did not create an account.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from revocable.audit.context import AuditContext, Credentials, LoginFailed, Session
from revocable.audit.cookies import Jar, clean
from revocable.audit.result import CheckResult, Evidence, Finding, Note
from revocable.audit.target import Endpoint

__all__ = ["STATE_VERBS", "check_state_changing_gets", "state_changing_gets", "words"]

# fmt: off
STATE_VERBS = frozenset({
    "logout", "logoff", "signout", "delete", "del", "remove", "revoke", "update", "create",
    "transfer", "reset", "change", "set", "add", "cancel", "pay", "send", "disable", "enable",
    "destroy", "purge", "subscribe", "unsubscribe", "activate", "deactivate", "register",
    "signup", "edit", "modify", "write", "insert", "drop", "clear", "kill", "terminate", "ban",
    "unban", "unblock", "grant", "withdraw", "deposit", "publish", "upload", "rename",
    "restore", "invalidate", "expire", "rotate", "refresh", "approve", "reject", "confirm",
    "verify", "unlink", "unfollow", "buy", "checkout", "impersonate", "promote", "demote",
})
"""Words that name a state change; a GET operation named with one is flagged. Words that
are nouns as often as verbs in paths (order, archive, block, link, like, vote) are left out."""
# fmt: on
_PAIRS = {("log", "out"), ("sign", "out"), ("log", "off"), ("sign", "up")}
_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_FIX = "Serve state changes only on POST/PUT/PATCH/DELETE; answer GET and HEAD there with 405."


def words(text: str) -> list[str]:
    """``deleteUser``, ``delete_user``, ``/users/{id}/delete`` -> lower-case words."""
    return [w.lower() for w in _SPLIT.findall(text)]


def _verb(text: str, *, prose: bool = False) -> str | None:
    """The first state-changing verb in ``text``; ``prose`` also reads "revokes", "deleted"."""
    found = words(text)
    for word in found:
        forms = {word}
        if prose:
            forms |= {word[:-1], word[:-2], word[:-3], word[:-3] + "e"}
        hit = forms & STATE_VERBS
        if hit:
            return min(hit)
    for pair in itertools.pairwise(found):
        if pair in _PAIRS:
            return "".join(pair)
    return None


def state_changing_gets(document: object) -> list[Finding]:
    """Findings for GET operations in an OpenAPI document whose names say they change state."""
    if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
        return []
    out: list[Finding] = []
    for path, operations in document["paths"].items():
        if not isinstance(path, str) or not isinstance(operations, Mapping):
            continue
        for method in ("get", "head"):
            op: Any = operations.get(method)
            if not isinstance(op, Mapping):
                continue
            label = f"{method.upper()} {clean(path, 80)}"
            named = " ".join(
                v for v in (path, op.get("operationId"), op.get("summary")) if isinstance(v, str)
            )
            verb = _verb(named)
            if verb:
                out.append(
                    Finding(
                        "fail",
                        "state_changing_get",
                        f"the OpenAPI document declares {label}, named like a state change "
                        f"({verb!r})",
                        _FIX,
                    )
                )
                continue
            described = op.get("description")
            verb = _verb(described, prose=True) if isinstance(described, str) else None
            if verb:
                out.append(
                    Finding(
                        "warn",
                        "state_changing_get_described",
                        f"the OpenAPI document describes {label} with {verb!r}; check it changes "
                        "nothing",
                        _FIX,
                    )
                )
    return out


class _Probe:
    """The behavioural half of C5, with two devices of the test user to watch."""

    def __init__(self, ctx: AuditContext) -> None:
        self.ctx = ctx
        self.devices: list[Session] = []
        self.findings: list[Finding] = []

    async def _devices(self) -> list[Session]:
        for index in range(2):
            if index >= len(self.devices) or not self.devices[index].alive:
                session = await self.ctx.login(f"log in (C5 device {'AB'[index]})")
                if index < len(self.devices):
                    self.devices[index] = session
                else:
                    self.devices.append(session)
        return self.devices

    async def session_endpoint(self, endpoint: Endpoint, method: str) -> None:
        label = f"{method} {endpoint.path}"
        if self.ctx.cannot("login", "protected"):
            answer = await self.ctx.client.request(method, endpoint.path, step=f"try {label}")
            if answer.status < 400:
                self.findings.append(
                    Finding(
                        "warn",
                        "state_changing_get_unverified",
                        f"{label} answered {answer.status}; without a login the auditor cannot "
                        "tell whether it changes state",
                        _FIX,
                    )
                )
            return
        first, second = await self._devices()
        answer = await self.ctx.send(
            endpoint,
            first,
            step=f"try {label} (no CSRF token)",
            csrf=False,
            origin=None,
            method=method,
        )
        if answer.status >= 400:
            return
        ended = []
        for name, device in (("A", first), ("B", second)):
            if not await self.ctx.is_alive(device, step=f"does device {name} still sign in?"):
                ended.append(name)
        if ended:
            self.findings.append(
                Finding(
                    "fail",
                    "state_changing_get",
                    f"{label} answered {answer.status} and ended the session of device "
                    f"{' and '.join(ended)}",
                    _FIX,
                )
            )
        else:
            self.findings.append(
                Finding(
                    "info",
                    "get_changed_nothing",
                    f"{label} answered {answer.status} and both sessions still sign in",
                )
            )

    async def login_endpoint(self, endpoint: Endpoint, method: str) -> None:
        ctx, login, creds = self.ctx, self.ctx.target.login, self.ctx.credentials
        label = f"{method} {endpoint.path}"
        params = None
        if login is not None and creds is not None and creds.created:
            # Only a throwaway user's password may travel in a URL (and so into access logs).
            params = {login.username_field: creds.username, login.password_field: creds.password}
        answer = await ctx.client.request(method, endpoint.path, step=f"try {label}", params=params)
        if answer.status >= 400 or params is None or ctx.cannot("protected"):
            return
        jar = Jar()
        jar.update(answer.cookies, endpoint.path, answer.date)
        protected = ctx.target.protected
        cookie = jar.header_for(protected.path) if protected is not None else None
        if cookie is None:
            return
        check = await ctx.check_signed_in(cookie, step=f"does the cookie from {label} sign in?")
        if ctx.signed_in(check):
            names = [c.name for c in answer.cookies if c.value]
            ctx.sessions.append(Session(jar, answer, names[0] if names else ""))
            self.findings.append(
                Finding(
                    "fail",
                    "state_changing_get",
                    f"{label} with the credentials in the query signed in (login CSRF, and "
                    "passwords in URLs and logs)",
                    _FIX,
                )
            )

    async def register_endpoint(self, endpoint: Endpoint, method: str) -> None:
        ctx, login, creds = self.ctx, self.ctx.target.login, self.ctx.credentials
        label = f"{method} {endpoint.path}"
        if login is None or creds is None or not creds.created:
            await ctx.client.request(method, endpoint.path, step=f"try {label}")
            return  # only with a throwaway user does the auditor create accounts
        other = Credentials.throwaway()
        params = {login.username_field: other.username, login.password_field: other.password}
        answer = await ctx.client.request(method, endpoint.path, step=f"try {label}", params=params)
        if answer.status >= 400:
            return
        try:
            await ctx.login(f"log in as the user {label} named", credentials=other)
        except LoginFailed:
            return
        self.findings.append(
            Finding(
                "fail",
                "state_changing_get",
                f"{label} created an account ({clean(other.username, 40)})",
                _FIX,
            )
        )


async def check_state_changing_gets(ctx: AuditContext) -> CheckResult:
    target = ctx.target
    mark = ctx.client.mark()
    findings: list[Finding] = []
    notes: list[Note] = []
    if target.openapi is not None:
        answer = await ctx.client.request("GET", target.openapi, step="read the OpenAPI document")
        document = answer.json() if answer.status == 200 else None
        if isinstance(document, dict) and isinstance(document.get("paths"), dict):
            found = state_changing_gets(document)
            findings += found
            notes.append(
                Note(f"OpenAPI: {len(document['paths'])} paths read, {len(found)} flagged")
            )
        else:
            notes.append(Note(f"no OpenAPI document at {target.openapi} ({answer.status})"))

    probe = _Probe(ctx)
    seen: set[str] = set()
    roles: list[tuple[str, Endpoint | None]] = [
        ("login", target.login.endpoint if target.login else None),
        ("register", target.register),
        ("session", target.logout),
        ("session", target.logout_all),
        ("session", target.csrf_probe),
        *(("session", e) for e in target.state_changing),
    ]
    tried = 0
    for role, endpoint in roles:
        if endpoint is None or endpoint.path in seen:
            continue
        seen.add(endpoint.path)
        if "{" in endpoint.path:
            notes.append(Note(f"skipped {clean(endpoint.path, 80)}: it has a path parameter"))
            continue
        for method in ("GET", "HEAD"):
            tried += 1
            if role == "login":
                await probe.login_endpoint(endpoint, method)
            elif role == "register":
                await probe.register_endpoint(endpoint, method)
            else:
                await probe.session_endpoint(endpoint, method)
    findings += probe.findings
    evidence: list[Evidence] = [*ctx.client.since(mark), *notes]
    if not tried and target.openapi is None:
        return CheckResult.not_applicable(
            "C5", "the target names no state-changing endpoint and no OpenAPI document"
        )
    bad = [f for f in findings if f.severity != "info"]
    summary = (
        "; ".join(f.message for f in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        if bad
        else f"GET and HEAD refused or harmless on {len(seen)} state-changing endpoints"
        + (
            "; no GET in the OpenAPI document changes state"
            if notes and "OpenAPI:" in notes[0].text
            else ""
        )
    )
    return CheckResult.from_findings("C5", summary, findings, evidence)
