"""The auditor: ``revocable audit URL`` checks a running web app against the pre-ship checklist.

It checks what the app *does* (replays a cookie after logout, logs in twice and
logs out everywhere, sends forged cross-site requests, samples session ids),
not only which headers it sends. Each checklist item (C1-C9, see ``result``)
becomes one :class:`~revocable.audit.result.CheckResult`: pass, fail, warn or
n/a, with redacted evidence and a one-line fix.

Modules, one job each::

    target.py    what to audit: a frozen description from TOML, flags or a preset
    cookies.py   Set-Cookie parsing, a tiny cookie jar, redaction (no I/O)
    entropy.py   statistics over sampled session ids (no I/O)
    signed.py    signed-payload cookies (JWTs, itsdangerous) told from random ids (no I/O)
    leaks.py     whether a value a script can read holds a credential (no I/O)
    result.py    CheckResult, the report and its JSON schema, exit codes
    client.py    the HTTP client: one origin, bounded requests and rate
    browser.py   headless Chromium for C2 (Playwright, imported when it runs): one origin too
    context.py   logging in and out as the target describes; cleanup
    checks/      one module per checklist item or group
    runner.py    runs the checks in a safe order
    report.py    the rich table for people
    html_report.py  the same as one self-contained HTML file (--html)
    cli.py       the click command (imports httpx only when it runs)

Importing this package imports no HTTP client and no browser driver: ``httpx`` and
``playwright`` are the ``audit`` extra.
"""
