"""The report as one self-contained HTML file (``--html FILE``), for people who would rather look.

Inline CSS, no JavaScript, nothing fetched: the file opens offline and from an
e-mail attachment. A Content-Security-Policy meta tag forbids scripts and
external loads as well, should anything slip through. Every string (the
target's URL, summaries quoting what the target sent, evidence) is escaped;
evidence is the same redacted lines as ``-v``: credentials appear as their
length only.
"""

from __future__ import annotations

from collections.abc import Sized
from html import escape

from revocable.audit.report import SHORT
from revocable.audit.result import AuditReport, CheckResult

__all__ = ["render_html"]

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
_STYLE = """
:root{--pass:#1b7f3b;--fail:#b00020;--warn:#8a6100;--na:#5f6368}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#202124;
max-width:72rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin-top:2rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:0 0 1rem}
dl.meta dt{color:#5f6368}dl.meta dd{margin:0;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.5rem;border-bottom:1px solid #dadce0}
tr.pass td:first-child{border-left:6px solid var(--pass)}
tr.fail td:first-child{border-left:6px solid var(--fail)}
tr.warn td:first-child{border-left:6px solid var(--warn)}
tr.na td:first-child{border-left:6px solid var(--na)}
.badge{display:inline-block;min-width:3.2rem;text-align:center;border-radius:.25rem;
padding:0 .4rem;font-weight:700;font-size:.85rem;color:#fff}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}
.badge.warn{background:var(--warn)}.badge.na{background:var(--na)}
.title{color:#5f6368;font-size:.85rem}.summary{margin:0}.fix{margin:.3rem 0 0}
details{margin-top:.3rem}summary{cursor:pointer;color:#1a73e8}
ul.findings,ol.evidence{margin:.3rem 0;padding-left:1.3rem}
ol.evidence li{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
li.fail{color:var(--fail)}li.warn{color:var(--warn)}
.counts .badge{margin-right:.4rem}footer{margin-top:2rem;color:#5f6368;font-size:.85rem}
"""
_CLASS = {"pass": "pass", "fail": "fail", "warn": "warn", "n/a": "na"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _row(result: CheckResult) -> str:
    css = _CLASS[result.status]
    fix = (
        f'<p class="fix"><strong>Fix:</strong> {_e(result.fix)}</p>'
        if result.fix and result.status in ("fail", "warn")
        else ""
    )
    findings = "".join(
        f'<li class="{_e(f.severity)}">{_e(f.severity)}: <code>{_e(f.code)}</code>: '
        f"{_e(f.message)}</li>"
        for f in result.findings
    )
    evidence = "".join(f"<li>{_e(item.line())}</li>" for item in result.evidence)
    details = ""
    if findings or evidence:
        details = (
            f"<details><summary>findings and evidence ({_count(result.findings, 'finding')}, "
            f"{_count(result.evidence, 'item')})</summary>"
            + (f'<ul class="findings">{findings}</ul>' if findings else "")
            + (f'<ol class="evidence">{evidence}</ol>' if evidence else "")
            + "</details>"
        )
    return (
        f'<tr class="{css}" id="{_e(result.id)}"><td>{_e(result.id)}</td>'
        f'<td><span class="badge {css}">{_e(result.status.upper())}</span></td>'
        f'<td>{_e(SHORT[result.id])}<div class="title">{_e(result.title)}</div></td>'
        f'<td><p class="summary">{_e(result.summary)}</p>{fix}{details}'
        f'<div class="title">code: <code>{_e(result.code)}</code></div></td></tr>\n'
    )


def render_html(report: AuditReport) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    counts = report.counts()
    labels = {"pass": "passed", "fail": "failed", "warn": "warned", "n/a": "not applicable"}
    badges = "".join(
        f'<span class="badge {_CLASS[status]}">{counts[status]} {labels[status]}</span>'
        for status in ("pass", "fail", "warn", "n/a")
    )
    meta = [
        ("target", report.target),
        ("started", report.started_at),
        ("duration", f"{report.duration_s:.1f} s"),
        ("requests", str(report.requests)),
        ("test user", report.user or "none"),
        ("exit code", f"{report.exit_code()} (with --fail-on warn: {report.exit_code('warn')})"),
    ]
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>revocable audit of {_e(report.target)}</title>\n"
        f"<style>{_STYLE}</style></head>\n<body>\n"
        f"<h1>revocable audit of {_e(report.target)}</h1>\n"
        '<dl class="meta">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
        + "</dl>\n"
        f'<p class="counts">{badges}</p>\n'
        "<table><thead><tr><th>item</th><th>status</th><th>checklist item</th>"
        "<th>what the auditor found</th></tr></thead>\n<tbody>\n"
        + "".join(_row(result) for result in report.results)
        + "</tbody></table>\n"
        + (f"<h2>Notes</h2>\n<ul>{notes}</ul>\n" if notes else "")
        + f"<footer>revocable-audit {_e(report.version)}. Credentials are shown as their "
        "length only; the JSON report (--json) holds the same results for machines.</footer>\n"
        "</body></html>\n"
    )
