"""Target descriptions: the revocable preset, TOML files, flags, and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from revocable.audit.target import (
    BrowserLogin,
    Csrf,
    Endpoint,
    Target,
    TargetError,
    load_target,
    preset,
    target_from_mapping,
    with_overrides,
    with_tokens,
    without_logout_all,
)
from revocable.errors import ConfigurationError

FULL = """
base_url = "https://app.example/"
session_cookie = "sid"
signed_in_status = [200, 204]
openapi = ""
logout = "/accounts/logout"
logout_all = { path = "/accounts/logout-all", keeps_current = true }
protected = "/accounts/me"
csrf_probe = { path = "/settings/theme", method = "PUT" }
state_changing = ["/account/delete", { path = "/items/1", method = "DELETE" }]

[login]
path = "/accounts/login"
body = "form"
username_field = "email"
password_field = "pass"
extra = { remember = "1" }

[register]
path = "/accounts/signup"


[csrf]
source = "form"
name = "csrfmiddlewaretoken"
field = "csrfmiddlewaretoken"
page = "/accounts/login"

[tokens]
token = "/oauth/token"
refresh = "/oauth/refresh"

[browser]
page = "/"
"""


def test_revocable_preset_is_the_reference_server_contract() -> None:
    """--preset revocable: register, JSON login, csrf_token in the body, X-CSRF-Token, /api/me."""
    target = preset("revocable", "http://127.0.0.1:8000")
    assert target.login is not None
    assert target.login.endpoint == Endpoint("/auth/login")
    assert target.login.body == "json"
    assert target.register == Endpoint("/auth/register")
    assert target.logout == Endpoint("/auth/logout")
    assert target.logout_all == Endpoint("/auth/logout-all")
    assert target.protected == Endpoint("/api/me", "GET")
    assert target.csrf == Csrf("json", "csrf_token", header="X-CSRF-Token")
    assert target.probe == target.logout
    assert target.token == Endpoint("/auth/token")
    assert target.openapi == "/openapi.json"


def test_a_full_target_file_loads(tmp_path: Path) -> None:
    """Every key of the documented format is read, and the URL argument wins."""
    path = tmp_path / "target.toml"
    path.write_text(FULL)
    target = load_target(path)
    assert target.base_url == "https://app.example"
    assert target.origin == "https://app.example"
    assert target.login is not None
    assert (target.login.body, target.login.username_field, target.login.password_field) == (
        "form",
        "email",
        "pass",
    )
    assert target.login.extra == {"remember": "1"}
    assert target.logout_all == Endpoint("/accounts/logout-all")
    assert target.logout_all_keeps_current
    assert target.signed_in_status == (200, 204)
    assert target.openapi is None
    assert target.probe == Endpoint("/settings/theme", "PUT")
    assert target.state_changing == (Endpoint("/account/delete"), Endpoint("/items/1", "DELETE"))
    assert target.csrf == Csrf(
        "form", "csrfmiddlewaretoken", field="csrfmiddlewaretoken", page="/accounts/login"
    )
    assert target.refresh == Endpoint("/oauth/refresh")
    assert target.browser_page == "/"
    assert load_target(path, "http://localhost:9000").base_url == "http://localhost:9000"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('base_url = "http://x"\nlogn = {}', "unknown keys \\['logn'\\]"),
        ('base_url = "http://x"\n[login]\npath = "/l"\nbody = "xml"', "login.body"),
        ('base_url = "http://x"\n[login]\npaht = "/l"', "\\[login\\]: unknown keys"),
        ('base_url = "http://x"\nlogout = "logout"', "starting with '/'"),
        ('base_url = "http://x"\nlogout = "//evil.example/x"', "starting with '/'"),
        ('base_url = "http://x"\n[csrf]\nsource = "json"\nname = "t"', "exactly one of header"),
        (
            'base_url = "http://x"\n[csrf]\nsource = "form"\nname = "t"\nfield = "t"',
            "needs csrf.page",
        ),
        ('base_url = "http://x"\nprotected = { path = "/me", method = "POST" }', "with GET"),
        ('base_url = "http://x"\nsigned_in_status = [999]', "signed_in_status"),
        ("logout = '/x'", "no target URL"),
        ('base_url = "ftp://x"', "http\\(s\\)://"),
        ('base_url = "http://user:pw@x"', "must not hold credentials"),
        ('base_url = "http://x/?a=1"', "query"),
        ("not toml [", "not valid TOML"),
        ('base_url = "http://x"\nlogout_all = true', "or false when the app has no log-out-all"),
    ],
)
def test_bad_target_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    """Typos, bad paths and bad URLs are TargetErrors naming the key, never a crash later."""
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=message):
        load_target(path)


def test_a_missing_file_is_a_target_error(tmp_path: Path) -> None:
    """An unreadable file is a TargetError (a ConfigurationError with its own code)."""
    with pytest.raises(TargetError, match="cannot read") as caught:
        load_target(tmp_path / "nope.toml")
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.code == "invalid_target"


def test_unknown_preset() -> None:
    """An unknown preset names the known ones."""
    with pytest.raises(TargetError, match="known: revocable"):
        preset("django", "http://x")


def test_flags_override_a_preset() -> None:
    """CLI flags replace single pieces; None leaves the preset's."""
    target = with_overrides(
        preset("revocable", "http://x"), logout=Endpoint("/bye"), protected=None
    )
    assert target.logout == Endpoint("/bye")
    assert target.protected == Endpoint("/api/me", "GET")


def test_missing_pieces_are_named() -> None:
    """missing() gives the first absent piece as a sentence, for the n/a reason."""
    target = Target("http://x")
    assert target.missing("login") is not None
    assert "log-out-all is not described" in (target.missing("logout_all") or "")
    assert preset("revocable", "http://x").missing("login", "logout", "protected") is None


def test_logout_all_false_says_the_app_has_none() -> None:
    """``logout_all = false`` (or --no-logout-all over a preset) means the app has none: a
    different thing from leaving it out, which describes nothing."""
    said = target_from_mapping({"logout_all": False}, "http://x")
    assert (said.logout_all, said.no_logout_all) == (None, True)
    unsaid = target_from_mapping({}, "http://x")
    assert (unsaid.logout_all, unsaid.no_logout_all) == (None, False)
    flagged = without_logout_all(preset("revocable", "http://x"))
    assert (flagged.logout_all, flagged.no_logout_all) == (None, True)
    with pytest.raises(TargetError, match="not both"):
        Target("http://x", logout_all=Endpoint("/all"), no_logout_all=True)


def test_endpoints_validate_themselves() -> None:
    """An endpoint needs a path and a known method."""
    with pytest.raises(TargetError):
        Endpoint("/x", "TRACE")
    with pytest.raises(TargetError):
        Endpoint("/a b")
    assert str(Endpoint("/x")) == "POST /x"


def test_a_bare_url_is_a_valid_target() -> None:
    """Only the URL is required; everything else is optional."""
    target = target_from_mapping({}, "http://127.0.0.1:8000/app/")
    assert target.base_url == "http://127.0.0.1:8000/app"
    assert target.login is None
    assert target.probe is None


def test_the_documented_example_parses() -> None:
    """The TOML in the target module's docstring is a valid target file."""
    import revocable.audit.target as module

    doc = module.__doc__ or ""
    block = doc.split("::", 1)[1].split("The auditor logs in only", 1)[0]
    text = "\n".join(line[4:] for line in block.splitlines())
    target = target_from_mapping(tomllib.loads(text))
    assert target.base_url == "https://app.example"
    assert target.csrf is not None
    assert target.browser == BrowserLogin("/", "form#login", "email", "password", "button.primary")
    assert (target.username, target.password) == ("audit-bot", "...")


def test_browser_and_credentials_tables() -> None:
    """[browser] needs a page (selectors optional); [credentials] names the test user, and
    the password never shows in the target's repr."""
    target = target_from_mapping(
        {"browser": {"page": "/login"}, "credentials": {"username": "u", "password": "s3cret!"}},
        "http://x",
    )
    assert target.browser == BrowserLogin("/login")
    assert target.browser_page == "/login"
    assert (target.username, target.password) == ("u", "s3cret!")
    assert "s3cret!" not in repr(target)
    assert target_from_mapping({}, "http://x").browser_page is None
    cases: list[tuple[dict[str, Any], str]] = [
        ({"browser": {"form": "form"}}, "browser.page"),
        ({"browser": {"page": "/", "submit": "  "}}, "browser.submit"),
        ({"browser": {"page": "/", "button": "#go"}}, "unknown keys"),
        ({"credentials": {"user": "u"}}, "unknown keys"),
        ({"credentials": {"password": 1}}, "credentials.password must be a string"),
    ]
    for bad, message in cases:
        with pytest.raises(TargetError, match=message):
            target_from_mapping(bad, "http://x")


def test_the_preset_describes_both_token_transports() -> None:
    """--preset revocable: token, refresh and revoke endpoints, body and cookie transports."""
    tokens = preset("revocable", "http://x").tokens
    assert tokens is not None
    assert (tokens.token, tokens.refresh, tokens.revoke) == (
        Endpoint("/auth/token"),
        Endpoint("/auth/refresh"),
        Endpoint("/auth/token/revoke"),
    )
    assert tokens.transports == ("body", "cookie")
    assert tokens.transport_field == "token_transport"
    assert (tokens.access_field, tokens.refresh_field) == ("access_token", "refresh_token")
    assert tokens.grace_wait == 6.0


def test_a_tokens_table_with_one_transport() -> None:
    """transport may be one string; cookie names, fields, extra and grace_wait are read."""
    target = target_from_mapping(
        {
            "tokens": {
                "token": "/login",
                "refresh": {"path": "/refresh", "method": "PUT"},
                "transport": "cookie",
                "access_cookie": "access_token_cookie",
                "refresh_cookie": "refresh_token_cookie",
                "refresh_csrf_cookie": "csrf_refresh_token",
                "refresh_csrf_header": "X-CSRF-TOKEN",
                "body": "form",
                "extra": {"client_id": "audit"},
                "grace_wait": 2,
            }
        },
        "http://x",
    )
    tokens = target.tokens
    assert tokens is not None
    assert target.token == Endpoint("/login")
    assert target.refresh == Endpoint("/refresh", "PUT")
    assert tokens.revoke is None
    assert tokens.transports == ("cookie",)
    assert (tokens.access_cookie, tokens.refresh_cookie) == (
        "access_token_cookie",
        "refresh_token_cookie",
    )
    assert (tokens.refresh_csrf_cookie, tokens.refresh_csrf_header) == (
        "csrf_refresh_token",
        "X-CSRF-TOKEN",
    )
    assert (tokens.body, tokens.extra, tokens.grace_wait) == ("form", {"client_id": "audit"}, 2.0)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ({"refresh": "/r"}, "needs token"),
        ({"token": "/t", "transport": "header"}, "tokens.transport"),
        ({"token": "/t", "transport": ["body", "cookie"]}, "transport_field"),
        ({"token": "/t", "transport": ["body", "body"], "transport_field": "t"}, "once"),
        ({"token": "/t", "grace_wait": 120}, "0 to 30"),
        ({"token": "/t", "grace_wait": "6"}, "a number of seconds"),
        ({"token": "/t", "access_field": ""}, "must not be empty"),
        ({"token": "/t", "extra": {"n": 1}}, "tokens.extra"),
        ({"token": "/t", "refersh": "/r"}, "unknown keys \\['refersh'\\]"),
        ({"token": "/t", "refresh_csrf_header": "X-CSRF"}, "needs refresh_csrf_cookie"),
    ],
)
def test_bad_tokens_tables_say_what_to_fix(tokens: dict[str, object], message: str) -> None:
    """Typos and impossible token descriptions are TargetErrors naming the key."""
    with pytest.raises(TargetError, match=message):
        target_from_mapping({"tokens": tokens}, "http://x")


def test_token_flags_override_or_create_the_tokens_table() -> None:
    """--token alone describes a body-transport token endpoint; --grace-wait keeps the rest."""
    bare = with_tokens(Target("http://x"), token="/oauth/token", refresh="/oauth/refresh")
    assert bare.tokens is not None
    assert bare.tokens.transports == ("body",)
    assert bare.refresh == Endpoint("/oauth/refresh")
    waited = with_tokens(preset("revocable", "http://x"), grace_wait=1.5)
    assert waited.tokens is not None
    assert (waited.tokens.grace_wait, waited.tokens.transports) == (1.5, ("body", "cookie"))
    assert with_tokens(bare) is bare
    with pytest.raises(TargetError, match="need --token"):
        with_tokens(Target("http://x"), refresh="/r")
