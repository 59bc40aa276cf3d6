"""Results, the JSON schema CI reads, exit codes, and the table for people."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from revocable.audit.report import render
from revocable.audit.result import CHECKLIST, AuditReport, CheckResult, Exchange, Finding, Note


def result(check_id: str, *findings: Finding) -> CheckResult:
    return CheckResult.from_findings(check_id, f"summary of {check_id}", findings)


def report(**statuses: Finding) -> AuditReport:
    results = tuple(result(c, statuses[c]) if c in statuses else result(c) for c, _ in CHECKLIST)
    return AuditReport("http://app.test", "0.1.0", results, "2026-01-01T00:00:00Z", 1.5, 42)


FAIL = Finding("fail", "session_survives_logout", "still signed in", "Revoke it server-side.")
WARN = Finding("warn", "cookie_long_lived", "lives 90 days", "Shorten it.")


def test_status_code_and_fix_come_from_the_worst_finding() -> None:
    """fail beats warn beats info; info alone is a pass with code ok and no fix."""
    assert result("C3").status == "pass"
    info = Finding("info", "cookie_no_host_prefix", "advice")
    assert (result("C1", info).status, result("C1", info).code) == ("pass", "ok")
    mixed = result("C3", info, WARN, FAIL)
    assert (mixed.status, mixed.code, mixed.fix) == ("fail", FAIL.code, FAIL.fix)
    assert result("C1", WARN).status == "warn"
    na = CheckResult.not_applicable("C2", "no browser", code="not_implemented")
    assert (na.status, na.code, na.title) == ("n/a", "not_implemented", CHECKLIST[1][1])


def test_json_has_the_documented_shape() -> None:
    """tool, version, schema, target, counts, and one result per item C1..C9 in order."""
    data = json.loads(json.dumps(report(C3=FAIL).to_json()))
    assert data["tool"] == "revocable-audit"
    assert data["schema"] == 1
    assert data["target"] == "http://app.test"
    assert data["counts"] == {"pass": 8, "fail": 1, "warn": 0, "n/a": 0}
    assert [r["id"] for r in data["results"]] == [f"C{i}" for i in range(1, 10)]
    c3 = data["results"][2]
    assert set(c3) == {"id", "title", "status", "code", "summary", "fix", "findings", "evidence"}
    assert c3["findings"] == [
        {"severity": "fail", "code": "session_survives_logout", "message": "still signed in"}
    ]


def test_evidence_serialises_with_its_kind() -> None:
    """Exchanges and notes carry a kind, and the exchange's fields as documented."""
    exchange = Exchange("log out", "POST", "/logout", 403, ("Origin: x",), (), "csrf_token_missing")
    assert exchange.to_json() == {
        "kind": "exchange",
        "step": "log out",
        "method": "POST",
        "path": "/logout",
        "status": 403,
        "sent": ["Origin: x"],
        "received": [],
        "error": "csrf_token_missing",
    }
    assert Note("n").to_json() == {"kind": "note", "text": "n"}
    assert exchange.line() == "log out: POST /logout -> 403 csrf_token_missing  [Origin: x]"


def test_exit_codes() -> None:
    """0 with no failure; 1 with one; warnings count only with fail_on='warn'."""
    assert report().exit_code() == 0
    assert report(C3=FAIL).exit_code() == 1
    assert report(C1=WARN).exit_code() == 0
    assert report(C1=WARN).exit_code("warn") == 1


def test_a_report_holds_every_item_in_order() -> None:
    """A report missing an item, or out of order, is refused."""
    results = tuple(result(c) for c, _ in CHECKLIST)
    with pytest.raises(ValueError, match=r"C1\.\.C9"):
        AuditReport("http://x", "0", results[1:], "", 0.0, 0)
    with pytest.raises(ValueError, match=r"C1\.\.C9"):
        AuditReport("http://x", "0", results[::-1], "", 0.0, 0)


def test_the_table_has_one_line_per_item_and_no_markup_injection() -> None:
    """Nine rows of one line each; a summary holding rich markup is printed as text."""
    text = "[bold red]x[/] " + "long " * 60
    hostile = CheckResult.from_findings(
        "C1", text, [Finding("fail", "cookie_not_httponly", text, "Fix.")]
    )
    results = tuple(hostile if c == "C1" else result(c) for c, _ in CHECKLIST)
    out = io.StringIO()
    render(
        AuditReport("http://app.test", "0", results, "", 0.0, 0),
        Console(file=out, width=100, color_system=None),
    )
    lines = out.getvalue().splitlines()
    rows = [line for line in lines if line.startswith("│ C")]
    assert [row[2:4] for row in rows] == [f"C{i}" for i in range(1, 10)]
    assert "[bold red]x[/]" in out.getvalue()
    assert "C1 fix: Fix." in out.getvalue()
    assert all(len(line) <= 100 for line in lines)


def test_verbose_shows_findings_and_evidence() -> None:
    """-v prints each item's findings and evidence lines."""
    failing = CheckResult.from_findings(
        "C3", "s", [FAIL], [Exchange("replay", "GET", "/me", 200), Note("a note")]
    )
    results = tuple(failing if c == "C3" else result(c) for c, _ in CHECKLIST)
    out = io.StringIO()
    render(
        AuditReport("http://x", "0", results, "", 0.0, 0),
        Console(file=out, width=120, color_system=None),
        verbose=True,
    )
    text = out.getvalue()
    assert "fail: session_survives_logout: still signed in" in text
    assert "replay: GET /me -> 200" in text
    assert "a note" in text


def test_among_equal_findings_the_one_with_a_fix_sets_it() -> None:
    """Two warnings, the first without a fix: the fix shown is the second's."""
    bare = Finding("warn", "too_few_samples", "few")
    mixed = result("C9", bare, WARN)
    assert (mixed.code, mixed.fix) == (WARN.code, WARN.fix)
