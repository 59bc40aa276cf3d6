"""What to audit: a frozen description of the target app, from TOML, CLI flags or a preset.

A target file (every table optional; a missing piece makes the checks that
need it "n/a", with the reason)::

    base_url = "https://app.example"   # the URL argument wins over this
    session_cookie = "sid"             # default: the cookie the login sets
    signed_in_status = [200]           # what the protected URL answers when signed in
    openapi = "/openapi.json"          # "" to skip reading it
    logout = "/auth/logout"            # an endpoint is a path (POST), or a table:
    logout_all = { path = "/auth/logout-all", keeps_current = false }
                                       # or false: the app HAS no log-out-all (see below)
    protected = "/api/me"              # GET; answers signed_in_status when signed in
    csrf_probe = "/auth/logout"        # the state-changing request C6 forges (default: logout)
    state_changing = ["/account/delete", { path = "/items/1", method = "DELETE" }]

    [login]                            # required for everything but the openapi scan
    path = "/auth/login"
    method = "POST"
    body = "json"                      # or "form"
    username_field = "username"
    password_field = "password"
    extra = { remember = "1" }         # more fields sent with every login

    [register]                         # --register: register the given user first;
    path = "/auth/register"            # --create-test-user: register a throwaway one

    [credentials]                      # the test user (flags and the env var win)
    username = "audit-bot"
    password = "..."                   # better: $REVOCABLE_AUDIT_PASSWORD, not the file

    [csrf]
    source = "json"                    # json (a field of the login answer) | cookie | form
    name = "csrf_token"                # the field, cookie or hidden input's name
    header = "X-CSRF-Token"            # send it in this header...
    field = ""                         # ...or in this form field
    page = "/"                         # source = "form": a page holding the hidden input

    [tokens]                           # token apps: C3 replays the refresh token after logout,
                                       # C7 reads access tokens, C8 rotates refresh ones
    token = "/auth/token"              # POST with the login's username and password fields
    refresh = "/auth/refresh"          # C8 is n/a without it
    revoke = "/auth/token/revoke"      # cleanup: POST {refresh_field = the refresh token}
    transport = ["body", "cookie"]     # body: tokens in the JSON answer; cookie: Set-Cookie
    transport_field = "token_transport"  # sent with "body"/"cookie" to ask for each transport
    body = "json"                      # or "form": how token, refresh and revoke requests go
    access_field = "access_token"      # body transport: the answer's fields; refresh_field is
    refresh_field = "refresh_token"    # ...also what refresh and revoke requests send
    access_cookie = "__Host-access"    # cookie transport (default: the cookie holding a JWT)
    refresh_cookie = "__Secure-refresh"  # (default: the one scoped to the refresh path)
    refresh_csrf_cookie = ""           # a double-submit cookie the token answer sets, echoed
    refresh_csrf_header = ""           # ...in this header on refresh (default: [csrf] header)
    extra = { client_id = "audit" }    # more fields sent with the token request
    grace_wait = 6.0                   # seconds C8 waits before replaying a rotated token

    [browser]                          # C2: the app's own login page, in headless Chromium
    page = "/"                         # (--page); the rest is optional:
    form = "form#login"                # CSS; default: the first form with a password input
    username = "email"                 # a field name, or a CSS selector such as "#email"
    password = "password"              # default: the form's password input
    submit = "button.primary"          # CSS; default: the form's submit button (or Enter)

The auditor logs in only with the credentials it is given: ``--username`` and
``--password`` (or ``$REVOCABLE_AUDIT_PASSWORD``), else ``[credentials]``; it
registers nothing unless told (``--register`` registers the given user,
``--create-test-user`` a throwaway one).

Log-out-all (C4) has three cases. A path (or table) names the endpoint, and C4
logs in twice, logs out all from one device and replays both cookies. ``false``
(the flag ``--no-logout-all``) says the app has none: the checklist item is
'"log out all devices" works', so an app without it fails C4 (code
``no_logout_all``; the fix is to add one). Left out, the target simply does not
describe it and C4 is "n/a", not described: the auditor assumes nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from revocable.errors import ConfigurationError

__all__ = [
    "PRESETS",
    "BrowserLogin",
    "Csrf",
    "Endpoint",
    "Login",
    "Target",
    "TargetError",
    "Tokens",
    "load_target",
    "preset",
    "target_from_mapping",
    "with_overrides",
    "with_tokens",
    "without_logout_all",
]

BodyKind = Literal["json", "form"]
CsrfSource = Literal["json", "cookie", "form"]
Transport = Literal["body", "cookie"]
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class TargetError(ConfigurationError):
    """The target description is unusable; the message says which key and how to fix it."""

    code = "invalid_target"


def _path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        raise TargetError(f"{where}: a path on the target, starting with '/' (got {value!r})")
    if any(c in value for c in "\r\n\t #") or not value.isascii():
        raise TargetError(f"{where}: a plain ASCII path without spaces or '#' (got {value!r})")
    return value


@dataclass(frozen=True)
class Endpoint:
    """A method and a path on the target (the path may hold a query, like ``?keep_current=1``)."""

    path: str
    method: str = "POST"

    def __post_init__(self) -> None:
        _path(self.path, "endpoint")
        if self.method not in _METHODS:
            raise TargetError(f"endpoint method must be one of {sorted(_METHODS)}")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Login:
    """How to sign in: the endpoint, the body kind and the field names."""

    endpoint: Endpoint
    body: BodyKind = "json"
    username_field: str = "username"
    password_field: str = "password"  # noqa: S105 - a field name, not a password
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body not in ("json", "form"):
            raise TargetError("login.body is 'json' or 'form'")
        if not self.username_field or not self.password_field:
            raise TargetError("login.username_field and login.password_field must not be empty")


@dataclass(frozen=True)
class Csrf:
    """Where the CSRF token comes from and how a request carries it."""

    source: CsrfSource
    name: str
    header: str | None = None
    field: str | None = None
    page: str | None = None

    def __post_init__(self) -> None:
        if self.source not in ("json", "cookie", "form"):
            raise TargetError("csrf.source is 'json', 'cookie' or 'form'")
        if not self.name:
            raise TargetError("csrf.name: the JSON field, cookie or hidden input holding the token")
        if bool(self.header) == bool(self.field):
            raise TargetError("csrf: give exactly one of header (e.g. X-CSRF-Token) or field")
        if self.source == "form" and not self.page:
            raise TargetError("csrf.source = 'form' needs csrf.page, a page with the hidden input")
        if self.page is not None:
            _path(self.page, "csrf.page")


@dataclass(frozen=True)
class Tokens:
    """A token endpoint (C7) and its refresh and revoke endpoints (C8), per transport.

    ``body``: the answer's JSON holds ``access_field`` and ``refresh_field``, and refresh and
    revoke requests send ``refresh_field``. ``cookie``: the answer sets the access cookie and
    a refresh cookie, which the auditor sends only to the refresh path. ``transport_field``,
    if set, is sent with the transport's name so one endpoint can serve both.
    """

    token: Endpoint
    refresh: Endpoint | None = None
    revoke: Endpoint | None = None
    transports: tuple[Transport, ...] = ("body",)
    transport_field: str | None = None
    body: BodyKind = "json"
    access_field: str = "access_token"
    refresh_field: str = "refresh_token"
    access_cookie: str | None = None
    refresh_cookie: str | None = None
    refresh_csrf_cookie: str | None = None
    """Cookie transport: a CSRF cookie set with the refresh cookie, whose value the refresh
    request echoes in ``refresh_csrf_header`` (flask-jwt-extended's ``csrf_refresh_token``)."""
    refresh_csrf_header: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    grace_wait: float = 6.0
    """Seconds past a rotation before C8 replays the old token (beyond the app's grace)."""

    def __post_init__(self) -> None:
        if not self.transports or not set(self.transports) <= {"body", "cookie"}:
            raise TargetError("tokens.transport is 'body', 'cookie' or a list of both")
        if len(set(self.transports)) != len(self.transports):
            raise TargetError("tokens.transport names each transport once")
        if len(self.transports) > 1 and not self.transport_field:
            raise TargetError(
                "tokens.transport_field: with both transports, the field that asks for each"
            )
        if self.body not in ("json", "form"):
            raise TargetError("tokens.body is 'json' or 'form'")
        if not self.access_field or not self.refresh_field:
            raise TargetError("tokens.access_field and tokens.refresh_field must not be empty")
        if self.refresh_csrf_header and not self.refresh_csrf_cookie:
            raise TargetError("tokens.refresh_csrf_header needs refresh_csrf_cookie")
        if isinstance(self.grace_wait, bool) or not 0 <= self.grace_wait <= 30:
            raise TargetError(
                "tokens.grace_wait: seconds (0 to 30) to wait past the app's refresh grace window"
            )


@dataclass(frozen=True)
class BrowserLogin:
    """C2: the app's own login page, filled in and submitted in a headless browser.

    ``username`` and ``password`` are field names (``email``) or CSS selectors (anything
    with one of ``#.[]:> =``); ``form`` and ``submit`` are CSS selectors. Unset, the
    browser uses the first form holding a password input, its first text-like input, its
    password input and its submit button (or presses Enter).
    """

    page: str
    form: str | None = None
    username: str | None = None
    password: str | None = None
    submit: str | None = None

    def __post_init__(self) -> None:
        _path(self.page, "browser.page")
        for name in ("form", "username", "password", "submit"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or len(value) > 200):
                raise TargetError(f"browser.{name}: a CSS selector or field name (1-200 chars)")


@dataclass(frozen=True)
class Target:
    """Everything the auditor knows about the app. Only ``base_url`` is required."""

    base_url: str
    login: Login | None = None
    register: Endpoint | None = None
    logout: Endpoint | None = None
    logout_all: Endpoint | None = None
    logout_all_keeps_current: bool = False
    no_logout_all: bool = False
    """``logout_all = false``: the app has no log-out-all, which fails C4 (not "n/a")."""
    protected: Endpoint | None = None
    signed_in_status: tuple[int, ...] = (200,)
    csrf: Csrf | None = None
    session_cookie: str | None = None
    csrf_probe: Endpoint | None = None
    state_changing: tuple[Endpoint, ...] = ()
    openapi: str | None = "/openapi.json"
    tokens: Tokens | None = None
    browser: BrowserLogin | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """``[credentials]``: the test user, if the file names one (flags win)."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(
                f"the target URL must be http(s)://host[:port] (got {self.base_url!r})"
            )
        if parts.username or parts.password:
            raise TargetError("the target URL must not hold credentials; use --username/--password")
        if parts.query or parts.fragment:
            raise TargetError("the target URL must not hold a query or fragment")
        try:
            _ = parts.port
        except ValueError as exc:
            raise TargetError(f"the target URL has a bad port: {exc}") from None
        if not self.signed_in_status or not all(
            isinstance(s, int) and 100 <= s <= 599 for s in self.signed_in_status
        ):
            raise TargetError("signed_in_status: a list of HTTP status codes, like [200]")
        if self.openapi is not None:
            _path(self.openapi, "openapi")
        if self.protected is not None and self.protected.method != "GET":
            raise TargetError("protected: the auditor reads it with GET")
        if self.no_logout_all and self.logout_all is not None:
            raise TargetError(
                "logout_all: give the endpoint, or false when the app has none, not both"
            )

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def token(self) -> Endpoint | None:
        return None if self.tokens is None else self.tokens.token

    @property
    def refresh(self) -> Endpoint | None:
        return None if self.tokens is None else self.tokens.refresh

    @property
    def browser_page(self) -> str | None:
        """The login page C2 opens in the browser, if any."""
        return None if self.browser is None else self.browser.page

    @property
    def probe(self) -> Endpoint | None:
        """The state-changing request C6 forges: the one named, else logout."""
        return self.csrf_probe or self.logout

    def missing(self, *needs: str) -> str | None:
        """Why a check cannot run here (the first missing piece), or None."""
        names = {
            "login": "no login endpoint",
            "logout": "no logout endpoint",
            "logout_all": "no log-out-all endpoint",
            "protected": "no protected URL that proves 'signed in'",
        }
        for need in needs:
            if need == "logout_all" and self.logout_all is None:
                return (
                    "log-out-all is not described (logout_all = PATH in the target file, or "
                    "false if the app has none)"
                )
            if getattr(self, need) is None:
                return f"the target description has {names[need]} ([{need}] in the target file)"
        return None


def preset(name: str, base_url: str) -> Target:
    """A named target: ``revocable`` is the reference server's contract (``revocable serve``)."""
    if name not in PRESETS:
        raise TargetError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return target_from_mapping(PRESETS[name], base_url)


PRESETS: Mapping[str, Mapping[str, Any]] = {
    "revocable": {
        "login": {"path": "/auth/login", "body": "json"},
        "register": {"path": "/auth/register"},
        "logout": "/auth/logout",
        "logout_all": "/auth/logout-all",
        "protected": "/api/me",
        "csrf": {"source": "json", "name": "csrf_token", "header": "X-CSRF-Token"},
        "tokens": {
            "token": "/auth/token",
            "refresh": "/auth/refresh",
            "revoke": "/auth/token/revoke",
            "transport": ["body", "cookie"],
            "transport_field": "token_transport",
        },
        "browser": {"page": "/"},
    }
}

_TOP_KEYS = {
    "base_url",
    "session_cookie",
    "signed_in_status",
    "openapi",
    "login",
    "register",
    "logout",
    "logout_all",
    "protected",
    "csrf_probe",
    "state_changing",
    "csrf",
    "tokens",
    "browser",
    "credentials",
}


def _table(data: Mapping[str, Any], key: str, allowed: set[str]) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TargetError(f"[{key}] must be a table")
    unknown = set(value) - allowed
    if unknown:
        raise TargetError(f"[{key}]: unknown keys {sorted(unknown)}; known: {sorted(allowed)}")
    return dict(value)


def _str(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise TargetError(f"{where}.{key} must be a string")
    return value or None


def _endpoint(value: object, where: str, method: str = "POST", extra: set[str] = set()) -> Endpoint:  # noqa: B006 - never mutated
    if isinstance(value, str):
        return Endpoint(_path(value, where), method)
    if not isinstance(value, Mapping):
        raise TargetError(f"{where}: a path, or a table with path (and method)")
    unknown = set(value) - {"path", "method", *extra}
    if unknown:
        raise TargetError(f"{where}: unknown keys {sorted(unknown)}")
    chosen = value.get("method", method)
    if not isinstance(chosen, str):
        raise TargetError(f"{where}.method must be a string")
    return Endpoint(_path(value.get("path"), f"{where}.path"), chosen.upper())


_TOKEN_KEYS = {
    "token",
    "refresh",
    "revoke",
    "transport",
    "transport_field",
    "body",
    "access_field",
    "refresh_field",
    "access_cookie",
    "refresh_cookie",
    "refresh_csrf_cookie",
    "refresh_csrf_header",
    "extra",
    "grace_wait",
}


def _tokens(data: Mapping[str, Any]) -> Tokens | None:
    table = _table(data, "tokens", _TOKEN_KEYS)
    if table is None:
        return None
    if table.get("token") is None:
        if table.get("refresh") is not None or table.get("revoke") is not None:
            raise TargetError("[tokens] needs token: the endpoint that issues them (maybe login)")
        return None
    transports = table.get("transport", ["body"])
    if isinstance(transports, str):
        transports = [transports]
    if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
        raise TargetError("tokens.transport is 'body', 'cookie' or a list of both")
    extra = table.get("extra", {})
    if not isinstance(extra, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise TargetError("tokens.extra: a table of string fields")
    wait = table.get("grace_wait", 6.0)
    if isinstance(wait, bool) or not isinstance(wait, int | float):
        raise TargetError("tokens.grace_wait: a number of seconds")

    def optional(key: str) -> Endpoint | None:
        value = table.get(key)
        return None if value is None else _endpoint(value, f"tokens.{key}")

    return Tokens(
        token=_endpoint(table["token"], "tokens.token"),
        refresh=optional("refresh"),
        revoke=optional("revoke"),
        transports=cast(tuple[Transport, ...], tuple(transports)),
        transport_field=_str(table, "transport_field", "tokens"),
        body=cast(BodyKind, _str(table, "body", "tokens", "json")),
        access_field=_str(table, "access_field", "tokens", "access_token") or "",
        refresh_field=_str(table, "refresh_field", "tokens", "refresh_token") or "",
        access_cookie=_str(table, "access_cookie", "tokens"),
        refresh_cookie=_str(table, "refresh_cookie", "tokens"),
        refresh_csrf_cookie=_str(table, "refresh_csrf_cookie", "tokens"),
        refresh_csrf_header=_str(table, "refresh_csrf_header", "tokens"),
        extra=dict(extra),
        grace_wait=float(wait),
    )


def target_from_mapping(data: Mapping[str, Any], base_url: str | None = None) -> Target:
    """A Target from parsed TOML (or a preset); ``base_url`` overrides the file's."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise TargetError(f"unknown keys {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    url = base_url or data.get("base_url")
    if not isinstance(url, str):
        raise TargetError("no target URL: give it as the argument or as base_url in the file")

    login = None
    table = _table(
        data, "login", {"path", "method", "body", "username_field", "password_field", "extra"}
    )
    if table is not None:
        extra = table.get("extra", {})
        if not isinstance(extra, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            raise TargetError("login.extra: a table of string fields")
        login = Login(
            _endpoint({k: table[k] for k in ("path", "method") if k in table}, "login"),
            cast(BodyKind, _str(table, "body", "login", "json")),
            _str(table, "username_field", "login", "username") or "",
            _str(table, "password_field", "login", "password") or "",
            dict(extra),
        )
    register = None
    table = _table(data, "register", {"path", "method"})
    if table is not None:
        register = _endpoint(table, "register")

    logout_all = None
    keeps_current = False
    no_logout_all = data.get("logout_all") is False
    if data.get("logout_all") is True:
        raise TargetError(
            "logout_all: a path, a table with path (and keeps_current), or false when the app "
            "has no log-out-all"
        )
    if data.get("logout_all") is not None and not no_logout_all:
        value = data["logout_all"]
        logout_all = _endpoint(value, "logout_all", extra={"keeps_current"})
        if isinstance(value, Mapping):
            keeps_current = value.get("keeps_current", False)
            if not isinstance(keeps_current, bool):
                raise TargetError("logout_all.keeps_current is true or false")

    csrf = None
    table = _table(data, "csrf", {"source", "name", "header", "field", "page"})
    if table is not None:
        csrf = Csrf(
            cast(CsrfSource, _str(table, "source", "csrf")),
            _str(table, "name", "csrf") or "",
            _str(table, "header", "csrf"),
            _str(table, "field", "csrf"),
            _str(table, "page", "csrf"),
        )
    tokens = _tokens(data)
    browser = None
    table = _table(data, "browser", {"page", "form", "username", "password", "submit"})
    if table is not None:
        browser = BrowserLogin(
            _path(table.get("page"), "browser.page"),
            *(_str(table, key, "browser") for key in ("form", "username", "password", "submit")),
        )
    creds = _table(data, "credentials", {"username", "password"}) or {}

    extras = data.get("state_changing", [])
    if not isinstance(extras, list):
        raise TargetError("state_changing: a list of paths or {path, method} tables")
    statuses = data.get("signed_in_status", [200])
    if not isinstance(statuses, list):
        raise TargetError("signed_in_status: a list of HTTP status codes, like [200]")
    openapi = data.get("openapi", "/openapi.json")
    if not isinstance(openapi, str):
        raise TargetError('openapi: a path, or "" to skip it')

    def optional(key: str, method: str = "POST") -> Endpoint | None:
        value = data.get(key)
        return None if value is None else _endpoint(value, key, method)

    return Target(
        base_url=url.rstrip("/"),
        login=login,
        register=register,
        logout=optional("logout"),
        logout_all=logout_all,
        logout_all_keeps_current=keeps_current,
        no_logout_all=no_logout_all,
        protected=optional("protected", "GET"),
        signed_in_status=tuple(statuses),
        csrf=csrf,
        session_cookie=_str(data, "session_cookie", "target"),
        csrf_probe=optional("csrf_probe"),
        state_changing=tuple(_endpoint(v, f"state_changing[{i}]") for i, v in enumerate(extras)),
        openapi=openapi or None,
        tokens=tokens,
        browser=browser,
        username=_str(creds, "username", "credentials"),
        password=_str(creds, "password", "credentials"),
    )


def load_target(path: str | Path, base_url: str | None = None) -> Target:
    """Read a target file; ``TargetError`` names the file and what is wrong."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise TargetError(f"cannot read the target file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"the target file {str(path)!r} is not valid TOML: {exc}") from None
    try:
        return target_from_mapping(data, base_url)
    except TargetError as exc:
        raise TargetError(f"{path}: {exc}") from None


def with_overrides(target: Target, **changes: Any) -> Target:
    """The target with the given fields replaced (CLI flags over a file or preset)."""
    return replace(target, **{k: v for k, v in changes.items() if v is not None})


def without_logout_all(target: Target) -> Target:
    """The target saying its app has no log-out-all (``--no-logout-all``): C4 fails."""
    return replace(target, logout_all=None, logout_all_keeps_current=False, no_logout_all=True)


def with_tokens(
    target: Target,
    *,
    token: str | None = None,
    refresh: str | None = None,
    revoke: str | None = None,
    grace_wait: float | None = None,
) -> Target:
    """The target with token endpoints (POST paths) or C8's wait replaced (CLI flags)."""
    if token is None and refresh is None and revoke is None and grace_wait is None:
        return target
    current = target.tokens
    if current is None:
        if token is None:
            raise TargetError(
                "--refresh, --token-revoke and --grace-wait need --token (or [tokens] in a "
                "target file): the endpoint that issues the tokens, maybe the login path"
            )
        current = Tokens(Endpoint(token))
    changes: dict[str, Any] = {
        "token": Endpoint(token) if token else None,
        "refresh": Endpoint(refresh) if refresh else None,
        "revoke": Endpoint(revoke) if revoke else None,
        "grace_wait": grace_wait,
    }
    return replace(
        target, tokens=replace(current, **{k: v for k, v in changes.items() if v is not None})
    )
