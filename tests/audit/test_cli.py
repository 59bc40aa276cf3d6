"""`revocable audit URL` as a user runs it: the table, the JSON file, and exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from revocable.cli import main
from revocable.core.ratelimit import RateLimit
from tests.audit.broken_apps import Faults, make_app
from tests.audit.broken_browser_apps import require_browser
from tests.audit.conftest import reference_app
from tests.servers import Serve, free_port


async def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The command in a worker thread: it runs its own event loop, the servers run in ours."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, main, ["audit", *args, "--rate", "5000"], env=env, catch_exceptions=False
    )


async def test_the_reference_server_passes_and_the_json_is_written(
    reference_url: str, tmp_path: Path
) -> None:
    """Exit 0, a table naming each item, a JSON file with C1..C9 and an HTML report."""
    require_browser()
    report, page = tmp_path / "audit.json", tmp_path / "audit.html"
    result = await run(
        reference_url, "--preset", "revocable", "--create-test-user", "--json", str(report),
        "--html", str(page), "--grace-wait", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cookie flags" in result.output
    assert "9 passed, 0 failed, 0 warned, 0 not applicable" in result.output
    assert "created the throwaway test user revocable-audit-" in result.output
    data = json.loads(report.read_text())
    assert data["tool"] == "revocable-audit"
    assert [r["status"] for r in data["results"]] == ["pass"] * 9
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    assert html.count('<tr class="pass"') == 9


async def test_a_broken_app_exits_1_and_json_can_go_to_stdout(serve: Serve, tmp_path: Path) -> None:
    """With --json - stdout holds only the JSON; a failed item makes the exit code 1."""
    url = await serve(make_app(Faults(no_csrf=True)))
    target = tmp_path / "target.toml"
    target.write_text(
        '[login]\npath = "/login"\n[register]\npath = "/register"\n'
        '[csrf]\nsource = "json"\nname = "csrf_token"\nheader = "X-CSRF-Token"\n'
    )
    result = await run(
        url, "--target", str(target), "--logout", "/logout", "--logout-all", "/logout-all",
        "--protected", "/me", "--json", "-", "--samples", "30", "--create-test-user",
    )  # fmt: skip
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    statuses = {r["id"]: r["status"] for r in data["results"]}
    assert statuses["C6"] == "fail"
    assert statuses["C3"] == "pass"


async def test_no_logout_all_fails_c4_where_unsaid_is_not_applicable(
    serve: Serve, tmp_path: Path
) -> None:
    """--no-logout-all says the app has none: C4 fails (no_logout_all) with a fix; a target
    that does not describe log-out-all leaves C4 n/a."""
    url = await serve(make_app())
    target = tmp_path / "target.toml"
    target.write_text(
        '[login]\npath = "/login"\n[register]\npath = "/register"\n'
        '[csrf]\nsource = "json"\nname = "csrf_token"\nheader = "X-CSRF-Token"\n'
    )
    common = (
        url, "--target", str(target), "--logout", "/logout", "--protected", "/me",
        "--json", "-", "--samples", "20", "--create-test-user", "--no-browser",
    )  # fmt: skip
    said, unsaid = await run(*common, "--no-logout-all"), await run(*common)
    c4 = json.loads(said.stdout)["results"][3]
    assert (c4["status"], c4["code"]) == ("fail", "no_logout_all")
    assert 'Add "log out all devices"' in c4["fix"]
    assert said.exit_code == 1
    c4 = json.loads(unsaid.stdout)["results"][3]
    assert (c4["status"], c4["code"]) == ("n/a", "not_applicable")
    assert "log-out-all is not described" in c4["summary"]
    assert unsaid.exit_code == 0, unsaid.stdout


async def test_given_credentials_are_used_and_never_printed(reference_url: str) -> None:
    """--username with the password from the environment: the password appears nowhere."""
    password = "correct horse battery staple"
    async with httpx.AsyncClient(base_url=reference_url) as client:
        created = await client.post(
            "/auth/register", json={"username": "cli-user", "password": password}
        )
        assert created.status_code == 201
    result = await run(
        reference_url, "--preset", "revocable", "--username", "cli-user", "-v", "--samples", "30",
        "--grace-wait", "1", env={"REVOCABLE_AUDIT_PASSWORD": password},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert password not in result.output
    assert "revocable-audit-" not in result.output  # no throwaway user was registered


async def test_fail_on_warn(serve: Serve) -> None:
    """--fail-on warn turns a warning (here: fewer samples than asked) into exit code 1."""
    url = await serve(reference_app(login_limit=RateLimit(10, 60.0)))
    quick = ("--preset", "revocable", "--create-test-user", "--no-browser", "--grace-wait", "1")
    plain = await run(url, *quick)
    assert plain.exit_code == 0, plain.output
    url = await serve(reference_app(login_limit=RateLimit(10, 60.0)))
    strict = await run(url, *quick, "--fail-on", "warn")
    assert strict.exit_code == 1


async def test_bad_usage_exits_2() -> None:
    """A bad URL, a bad target file, --preset with --target: one error line, exit code 2."""
    for args in (
        ["ftp://x"],
        ["http://x", "--target", "/nonexistent.toml"],
        ["http://x", "--preset", "revocable", "--target", "t.toml"],
        ["http://x", "--username", "alone"],
        ["http://x", "--preset", "revocable"],  # no credentials, and no --create-test-user
        ["http://x", "--preset", "revocable", "--create-test-user", "--username", "u"],
        ["http://x", "--login", "/l", "--username", "u", "--password", "p", "--register"],
        ["http://x", "--refresh", "/auth/refresh"],  # a refresh endpoint needs --token
        ["http://x", "--token", "auth/token"],
        ["http://x", "--logout-all", "/all", "--no-logout-all"],
    ):
        result = await run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "revocable audit: error:" in result.output


async def test_an_unreachable_target_exits_3() -> None:
    """Nothing listening: exit code 3 and a line saying so."""
    result = await run(
        f"http://127.0.0.1:{free_port()}", "--preset", "revocable", "--create-test-user"
    )
    assert result.exit_code == 3
    assert "no answer" in result.output
