"""The report for people: a rich table, one line per checklist item; ``verbose`` adds evidence."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revocable.audit.result import AuditReport, CheckResult

__all__ = ["SHORT", "STYLES", "render"]

STYLES = {"pass": "bold green", "fail": "bold red", "warn": "bold yellow", "n/a": "dim"}
SHORT = {
    "C1": "cookie flags",
    "C2": "no credentials in web storage",
    "C3": "logout revokes server-side",
    "C4": "log out all devices",
    "C5": "no state-changing GET",
    "C6": "CSRF refused",
    "C7": "short access tokens",
    "C8": "refresh rotation, reuse kills",
    "C9": "session id entropy",
}
"""Table labels that fit one line; the full checklist wording is in the JSON and with -v."""


def _row(result: CheckResult) -> tuple[Text, Text, Text, Text]:
    # Text(), never markup strings: summaries quote what the target sent.
    return (
        Text(result.id),
        Text(result.status.upper(), style=STYLES[result.status]),
        Text(SHORT[result.id]),
        Text(result.summary, style="dim" if result.status == "n/a" else ""),
    )


def render(report: AuditReport, console: Console, *, verbose: bool = False) -> None:
    """Print the table, the fixes for what failed or warned, and (verbose) the evidence."""
    counts = report.counts()
    title = Text(f"revocable audit of {report.target}")
    table = Table(title=title, show_lines=False, expand=False)
    label = max(map(len, SHORT.values()))
    table.add_column("", no_wrap=True, min_width=2)
    table.add_column("status", no_wrap=True, min_width=6)
    table.add_column("checklist item", no_wrap=True, min_width=label)
    # One line per item: the full summary is in -v and the JSON.
    room = max(20, console.width - label - 2 - 6 - 13)  # the other columns, padding, borders
    table.add_column(
        "what the auditor found",
        no_wrap=not verbose,
        overflow="ellipsis",
        max_width=None if verbose else room,
    )
    for result in report.results:
        table.add_row(*_row(result))
    console.print(table)
    for result in report.results:
        if result.fix and result.status in ("fail", "warn"):
            line = Text(f"{result.id} fix: ", style=STYLES[result.status])
            line.append(result.fix)
            console.print(line)
    if verbose:
        for result in report.results:
            console.print(Text(f"\n{result.id} {result.title} [{result.status}]", style="bold"))
            for finding in result.findings:
                console.print(Text(f"  {finding.severity}: {finding.code}: {finding.message}"))
            for item in result.evidence:
                console.print(Text(f"  - {item.line()}", style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    summary = Text(
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warned, "
        f"{counts['n/a']} not applicable; {report.requests} requests in {report.duration_s:.1f} s"
    )
    console.print(summary)
