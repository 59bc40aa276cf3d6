"""The HTML report (--html): one self-contained file, one row per item, everything escaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from revocable.audit.html_report import render_html
from revocable.audit.result import CHECKLIST, AuditReport, CheckResult, Exchange, Finding, Note
from revocable.audit.runner import AuditOptions, run_audit
from revocable.audit.target import target_from_mapping
from tests.audit.broken_apps import TARGET, Faults, make_app
from tests.servers import Serve

HOSTILE = '<script>alert("x")</script><img src=https://evil.example/x onerror=alert(1)>'


@dataclass
class Row:
    id: str
    css: str
    text: list[str] = field(default_factory=list)
    details: int = 0
    evidence: int = 0


class Page(HTMLParser):
    """Tags, attributes, the result rows and all text of a report."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[Row] = []
        self.text: list[str] = []
        self._row: Row | None = None
        self._in_evidence = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "tr" and found.get("id"):
            self._row = Row(str(found["id"]), str(found.get("class")))
            self.rows.append(self._row)
        elif tag == "details" and self._row is not None:
            self._row.details += 1
        elif tag == "ol" and found.get("class") == "evidence":
            self._in_evidence = True
        elif tag == "li" and self._in_evidence and self._row is not None:
            self._row.evidence += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        elif tag == "ol":
            self._in_evidence = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None:
            self._row.text.append(data)


def hostile_report() -> AuditReport:
    results = []
    for check_id, _ in CHECKLIST:
        if check_id == "C3":
            results.append(
                CheckResult.from_findings(
                    "C3",
                    f"the target said {HOSTILE}",
                    [Finding("fail", "session_survives_logout", HOSTILE, f"fix {HOSTILE}")],
                    [
                        Exchange("replay", "GET", "/me?x=<b>", 200, ('Origin: "a&b"',)),
                        Note(HOSTILE),
                    ],
                )
            )
        else:
            results.append(CheckResult.not_applicable(check_id, "not here"))
    return AuditReport(
        target="http://127.0.0.1:1",
        version="0.1.0",
        results=tuple(results),
        started_at="2026-01-01T12:00:00Z",
        duration_s=1.5,
        requests=7,
        user="<b>ann</b>",
        notes=(HOSTILE,),
    )


def test_the_report_is_self_contained_and_escapes_everything() -> None:
    """No script, no external resource, a CSP that forbids both; the target's words appear
    as text, never as markup."""
    document = render_html(hostile_report())
    page = Page(document)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed", "form", "base"}
    assert all(
        not {"src", "href", "action", "onerror", "onload"} & set(attrs) for _, attrs in page.tags
    )
    assert "style" in tags
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
    ]
    assert HOSTILE not in document
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 4  # summary, finding, fix, evidence note, run note
    assert "<b>ann</b>" in text
    assert '/me?x=<b> -> 200  [Origin: "a&b"]' in text


def test_one_row_per_item_with_status_fix_and_evidence() -> None:
    """C1..C9 in order, the row's class is its status, a failed item shows its fix and
    its evidence in <details>; n/a items have no details."""
    page = Page(render_html(hostile_report()))
    assert [r.id for r in page.rows] == [c for c, _ in CHECKLIST]
    assert [r.css for r in page.rows] == ["na", "na", "fail", *["na"] * 6]
    c3 = page.rows[2]
    assert (c3.details, c3.evidence) == (1, 2)
    assert "FAIL" in c3.text
    assert f"Fix: fix {HOSTILE}" in "".join(c3.text)
    assert page.rows[0].details == 0


async def test_a_broken_app_report(serve: Serve) -> None:
    """For a real run against a broken app the rows carry the run's statuses, the failed
    items their fix, and every item with evidence a <details> listing it."""
    url = await serve(make_app(Faults(logout_clears_only=True, get_logout=True)))
    options = AuditOptions(rate=5000, samples=30, create_test_user=True)
    report = await run_audit(target_from_mapping(TARGET, url), options)
    page = Page(render_html(report))
    css = {"pass": "pass", "fail": "fail", "warn": "warn", "n/a": "na"}
    assert [(r.id, r.css) for r in page.rows] == [(r.id, css[r.status]) for r in report.results]
    assert {r.id for r in page.rows if r.css == "fail"} == {"C3", "C5"}
    for row, result in zip(page.rows, report.results, strict=True):
        assert row.evidence == len(result.evidence)
        if result.status == "fail":
            assert result.fix in "".join(row.text)
    text = "".join(page.text)
    assert f"revocable audit of {url}" in text
    assert "2 failed" in text
    assert report.started_at in text
