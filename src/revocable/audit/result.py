"""Audit results: one :class:`CheckResult` per checklist item, the report, its JSON and exit code.

JSON document (``schema`` 1; keys are only ever added, never renamed)::

    {
      "tool": "revocable-audit",
      "version": "0.1.0",            # revocable's version
      "schema": 1,
      "target": "https://app.example",
      "user": "revocable-audit-3f9c…", # the test user's name (never a password), or null
      "started_at": "2026-01-01T12:00:00Z",
      "duration_s": 4.2,
      "requests": 512,                # requests sent, cleanup included
      "counts": {"pass": 6, "fail": 0, "warn": 0, "n/a": 3},
      "notes": ["…"],                 # run-level remarks (cleanup, test user left behind)
      "results": [                    # always C1..C9, in order
        {
          "id": "C3",
          "title": "logout invalidates server-side state, not just the client cookie",
          "status": "pass" | "fail" | "warn" | "n/a",
          "code": "ok" | "<machine code of the worst finding>",
          "summary": "one sentence",
          "fix": "one line" | "",
          "findings": [{"severity": "fail" | "warn" | "info", "code": "…", "message": "…"}],
          "evidence": [
            {"kind": "exchange", "step": "replay the cookie after logout",
             "method": "GET", "path": "/api/me", "status": 401,
             "sent": ["Cookie: __Host-session=<46 chars>"],
             "received": ["Set-Cookie: …"], "error": "not_authenticated" | null},
            {"kind": "note", "text": "…"}
          ]
        }
      ]
    }

Credentials never appear: cookie values, tokens and CSRF tokens are shown as
their length only (``<46 chars>``), passwords not at all.

Exit codes (``exit_code``): 0 nothing failed; 1 a check failed (or warned, with
``fail_on="warn"``). The CLI adds 2 for bad usage and 3 when the target cannot
be reached at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CHECKLIST",
    "SCHEMA_VERSION",
    "AuditReport",
    "CheckResult",
    "Evidence",
    "Exchange",
    "Finding",
    "Note",
    "Severity",
    "Status",
    "title_of",
]

Status = Literal["pass", "fail", "warn", "n/a"]
Severity = Literal["fail", "warn", "info"]
SCHEMA_VERSION = 1

CHECKLIST: tuple[tuple[str, str], ...] = (
    ("C1", "auth cookies are HttpOnly, Secure, SameSite=Lax or Strict"),
    ("C2", "no token, session id or credential in localStorage / sessionStorage"),
    ("C3", "logout invalidates server-side state, not just the client cookie"),
    ("C4", '"log out all devices" works'),
    ("C5", "state-changing endpoints are POST/PUT/PATCH/DELETE, never GET"),
    ("C6", "CSRF is handled (SameSite plus a token for sensitive actions)"),
    ("C7", "JWT access-token lifetime is minutes, not hours"),
    ("C8", "refresh tokens rotate on use, with reuse detection that kills the family"),
    ("C9", "session ids come from a CSPRNG with at least 128 bits of entropy"),
)
_TITLES = dict(CHECKLIST)
_RANK: dict[str, int] = {"info": 0, "warn": 1, "fail": 2}


def title_of(check_id: str) -> str:
    """The checklist item's title; ``KeyError`` for an unknown id."""
    return _TITLES[check_id]


@dataclass(frozen=True)
class Finding:
    """One observation: ``fail`` and ``warn`` set the check's status, ``info`` does not."""

    severity: Severity
    code: str
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Exchange:
    """One request and what came back, already redacted (see ``client``)."""

    step: str
    method: str
    path: str
    status: int | None
    sent: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "exchange",
            "step": self.step,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "sent": list(self.sent),
            "received": list(self.received),
            "error": self.error,
        }

    def line(self) -> str:
        """``step: METHOD /path -> 403 csrf_token_missing [Origin: …]`` for the verbose table."""
        status = "no answer" if self.status is None else str(self.status)
        error = f" {self.error}" if self.error else ""
        extra = "; ".join((*self.sent, *self.received))
        return f"{self.step}: {self.method} {self.path} -> {status}{error}" + (
            f"  [{extra}]" if extra else ""
        )


@dataclass(frozen=True)
class Note:
    """Evidence that is not a request: a computed figure, a skipped step and why."""

    text: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "note", "text": self.text}

    def line(self) -> str:
        return self.text


Evidence = Exchange | Note


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one checklist item."""

    id: str
    title: str
    status: Status
    summary: str
    code: str
    fix: str = ""
    findings: tuple[Finding, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def from_findings(
        cls,
        check_id: str,
        summary: str,
        findings: Iterable[Finding],
        evidence: Iterable[Evidence] = (),
    ) -> CheckResult:
        """Status, code and fix come from the worst finding (the first of the worst that has
        a fix); no fail or warn means pass."""
        found = tuple(findings)
        worst = max(found, key=lambda f: (_RANK[f.severity], bool(f.fix)), default=None)
        if worst is None or worst.severity == "info":
            status: Status = "pass"
            code, fix = "ok", ""
        else:
            status = worst.severity
            code, fix = worst.code, worst.fix
        return cls(check_id, title_of(check_id), status, summary, code, fix, found, tuple(evidence))

    @classmethod
    def not_applicable(
        cls,
        check_id: str,
        reason: str,
        code: str = "not_applicable",
        evidence: Iterable[Evidence] = (),
    ) -> CheckResult:
        """An item the auditor could not check here; ``reason`` says why (never a pass)."""
        return cls(check_id, title_of(check_id), "n/a", reason, code, "", (), tuple(evidence))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "summary": self.summary,
            "fix": self.fix,
            "findings": [f.to_json() for f in self.findings],
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class AuditReport:
    """Every result of one run, in checklist order, and how the run went."""

    target: str
    version: str
    results: tuple[CheckResult, ...]
    started_at: str
    duration_s: float
    requests: int
    user: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        ids = [r.id for r in self.results]
        if ids != [c for c, _ in CHECKLIST]:
            raise ValueError(f"a report holds one result per item C1..C9 in order, got {ids}")

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "warn": 0, "n/a": 0}
        for result in self.results:
            out[result.status] += 1
        return out

    def exit_code(self, fail_on: Literal["fail", "warn"] = "fail") -> int:
        """1 if any check failed (or warned, with ``fail_on="warn"``), else 0."""
        bad: Sequence[str] = ("fail",) if fail_on == "fail" else ("fail", "warn")
        return 1 if any(r.status in bad for r in self.results) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "revocable-audit",
            "version": self.version,
            "schema": SCHEMA_VERSION,
            "target": self.target,
            "user": self.user,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "counts": self.counts(),
            "notes": list(self.notes),
            "results": [r.to_json() for r in self.results],
        }
