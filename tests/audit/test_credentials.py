"""Whose account the auditor uses: only the credentials it is given; it registers nothing
unless told (--register registers the given user, --create-test-user a throwaway one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from revocable.audit.runner import NO_CREDENTIALS, AuditOptions, run_audit
from revocable.audit.target import target_from_mapping
from revocable.cli import main
from tests.audit.broken_apps import TARGET, make_app
from tests.servers import Serve

PASSWORD = "a long test password"
LOGIN_ITEMS = ("C1", "C3", "C4", "C6", "C9")


async def run(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke,
        main,
        ["audit", *args, "--rate", "5000", "--samples", "20", "--no-browser"],
        env=env,
        catch_exceptions=False,
    )


async def test_without_credentials_nothing_is_registered(serve: Serve) -> None:
    """No credentials and no --create-test-user: the login items are n/a saying how to give
    them, C5 still runs, and no account appears on the target."""
    app = make_app()
    url = await serve(app)
    report = await run_audit(target_from_mapping(TARGET, url), AuditOptions(rate=5000))
    for result in report.results:
        if result.id in LOGIN_ITEMS:
            assert (result.status, result.summary) == ("n/a", NO_CREDENTIALS)
    assert report.results[4].status == "pass"
    assert report.user is None
    assert app.state.auth.users == {}


async def test_given_credentials_only_log_in(serve: Serve) -> None:
    """Given credentials: the auditor logs in as that user and registers nobody else."""
    app = make_app()
    app.state.auth.users["ann"] = PASSWORD
    url = await serve(app)
    options = AuditOptions(rate=5000, samples=20, username="ann", password=PASSWORD)
    report = await run_audit(target_from_mapping(TARGET, url), options)
    assert {r.status for r in report.results if r.id in LOGIN_ITEMS} == {"pass"}
    assert report.user == "ann"
    assert list(app.state.auth.users) == ["ann"]
    assert not any("regist" in note for note in report.notes)


async def test_register_registers_the_given_user_once(serve: Serve) -> None:
    """--register on a fresh instance registers the given user; on a second run the name is
    taken, which is fine: it logs in as before."""
    app = make_app()
    url = await serve(app)
    options = AuditOptions(rate=5000, samples=20, username="ann", password=PASSWORD, register=True)
    first = await run_audit(target_from_mapping(TARGET, url), options)
    assert "registered the test user ann (--register)" in first.notes
    assert app.state.auth.users == {"ann": PASSWORD}
    again = await run_audit(target_from_mapping(TARGET, url), options)
    assert "the test user ann was registered already (--register)" in again.notes
    assert {r.status for r in again.results if r.id in LOGIN_ITEMS} == {"pass"}


async def test_create_test_user_is_explicit_and_said(serve: Serve) -> None:
    """--create-test-user generates and registers one throwaway user and says so."""
    app = make_app()
    url = await serve(app)
    options = AuditOptions(rate=5000, samples=20, create_test_user=True)
    report = await run_audit(target_from_mapping(TARGET, url), options)
    (name,) = app.state.auth.users
    assert name.startswith("revocable-audit-")
    assert report.user == name
    assert any(n.startswith(f"created the throwaway test user {name}") for n in report.notes)


async def test_credentials_from_the_target_file(serve: Serve, tmp_path: Path) -> None:
    """[credentials] in the target file, the password from the environment winning over it."""
    app = make_app()
    app.state.auth.users["bob"] = PASSWORD
    url = await serve(app)
    target = tmp_path / "target.toml"
    target.write_text(
        '[login]\npath = "/login"\n[credentials]\nusername = "bob"\npassword = "wrong one"\n'
    )
    result = await run(
        url, "--target", str(target), "--logout", "/logout", "--protected", "/me",
        env={"REVOCABLE_AUDIT_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cookie flags" in result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--preset", "revocable"), "no credentials: give --username and --password"),
        (("--preset", "revocable", "--username", "ann"), "give the test user's --password"),
        (("--preset", "revocable", "--password", "x"), "give the test user's --username"),
        (("--login", "/l", "--username", "a", "--password", "p", "--register"), "--register-path"),
        (("--login", "/l", "--create-test-user"), "needs a register endpoint"),
        (("--preset", "revocable", "--create-test-user", "--register"), "--create-test-user"),
    ],
    ids=["none", "no-password", "no-username", "register-nowhere", "create-nowhere", "both"],
)
async def test_missing_or_conflicting_credentials_are_usage_errors(
    args: tuple[str, ...], message: str
) -> None:
    """Missing or conflicting credentials: exit 2 and one line saying what to give."""
    result = await run("http://127.0.0.1:9", *args, env={"REVOCABLE_AUDIT_PASSWORD": ""})
    assert result.exit_code == 2, result.output
    assert "revocable audit: error:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
