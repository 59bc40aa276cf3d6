"""The auditor's headless browser (C2): Debian's chromium driven by Playwright, held to one origin.

:func:`visit` opens the target's login page, signs in through the page's own
form as a person would, waits until the network is quiet, and reads what a
script on that origin could read: localStorage, sessionStorage,
``document.cookie``, IndexedDB (names and records), plus the cookies the browser
keeps. It returns a :class:`Visit`; judging it is ``checks.web_storage``'s job.

Safety, as for the HTTP client: every request the page makes to another origin
is aborted (and counted), websockets to another origin are closed, service
workers are blocked, at most ``max_requests`` requests reach the target, and
each step has a timeout (a hostile page cannot hang the audit).

Playwright is imported only inside :func:`visit`, so ``revocable audit`` runs
without it; :func:`unavailable` says what is missing and how to install it.
Playwright cannot download its own browser here: it drives the chromium at
``CHROMIUM`` (``.ci/install-browser`` installs Debian's).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from revocable.audit.client import AuditError
from revocable.audit.cookies import clean
from revocable.audit.target import BrowserLogin

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Locator, Page, Route, WebSocketRoute

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "STEPS",
    "BrowserCookie",
    "BrowserFailed",
    "BrowserUnavailable",
    "NoLoginForm",
    "StorageItem",
    "Visit",
    "unavailable",
    "visit",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
STEPS = 5
"""Progress steps of a visit: start, page open, signed in, storage read, closed."""

_USERNAME = (
    'input[autocomplete~="username"], input[autocomplete~="email"], input[type="email"], '
    'input[type="text"], input:not([type])'
)
_PASSWORD_INPUT = 'input[type="password"]'  # noqa: S105 - a CSS selector, not a password
_SUBMIT = 'button[type="submit"], input[type="submit"], button:not([type])'
_MAX_ITEMS = 200  # per storage area / IndexedDB store
_MAX_VALUE = 64 * 1024  # characters of one value looked at
_MAX_HTML = 1 << 20
_QUIET = 0.5  # seconds without a request in flight: the login has settled

# sessionStorage and document.cookie are per page; the rest comes from storage_state().
_READ = """([maxItems, maxValue]) => {
    const out = [];
    for (let i = 0; i < Math.min(sessionStorage.length, maxItems); i++) {
        const key = sessionStorage.key(i);
        out.push([key, String(sessionStorage.getItem(key)).slice(0, maxValue)]);
    }
    return {session: out, cookie: String(document.cookie).slice(0, maxValue)};
}"""


class BrowserUnavailable(AuditError):
    """Playwright or chromium is missing, or chromium would not start."""

    code = "browser_unavailable"


class BrowserFailed(AuditError):
    """The visit stopped part way (a timeout, a page error); ``visit`` holds what was seen."""

    code = "browser_failed"

    def __init__(self, message: str, visit: Visit) -> None:
        super().__init__(message)
        self.visit = visit


class NoLoginForm(BrowserFailed):
    """The page has no login form the auditor can find (or the one described is not there)."""

    code = "no_login_form"


@dataclass(frozen=True)
class StorageItem:
    """One entry a script can read: ``area`` is localStorage, sessionStorage, document.cookie
    or ``IndexedDB db/store``."""

    area: str
    key: str
    value: str = field(repr=False)

    def where(self) -> str:
        return f"{self.area}[{clean(self.key, 60)!r}]"


@dataclass(frozen=True)
class BrowserCookie:
    """A cookie as the browser keeps it for the target."""

    name: str
    value: str = field(repr=False)
    http_only: bool = True
    secure: bool = True
    same_site: str = ""
    path: str = "/"


@dataclass
class Visit:
    """What the browser saw: the steps taken, the storage, the cookies, the traffic."""

    steps: list[str] = field(default_factory=list)
    items: list[StorageItem] = field(default_factory=list)
    cookies: list[BrowserCookie] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    login_json: list[Any] = field(default_factory=list, repr=False)
    """JSON bodies of the target's answers to the page's non-GET requests (a CSRF token)."""
    html: str = field(default="", repr=False)
    """The page the login landed on (a hidden CSRF field)."""
    requests: int = 0
    over_budget: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    """Requests aborted, by the origin they were for."""


def unavailable(chromium: str = CHROMIUM) -> str | None:
    """Why no browser can run here (which piece is missing and how to get it), or None."""
    if importlib.util.find_spec("playwright") is None:
        return (
            "Playwright is not installed: pip install 'revocable[audit]' "
            "(and chromium: .ci/install-browser)"
        )
    if not os.access(chromium, os.X_OK):
        return (
            f"no chromium at {chromium}: install Debian's with .ci/install-browser "
            "(apt-get install chromium), or name another with --chromium"
        )
    return None


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port


def _shown_origin(url: str) -> str:
    parts = urlsplit(url)
    return clean(f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme + ":", 80)


def _field(spec: str | None, default: str) -> str:
    """A field name (``email``) as a selector; a CSS selector (``#email``) as it is."""
    if spec is None:
        return default
    if any(c in spec for c in "#.[]:> ="):
        return spec
    return f'[name="{spec}"]'


class _Guard:
    """Lets the page reach the target's origin only, a bounded number of times."""

    def __init__(self, origin: tuple[str, str, int], seen: Visit, max_requests: int) -> None:
        self.origin = origin
        self.seen = seen
        self.max_requests = max_requests
        self.inflight: set[object] = set()
        self.last_busy = time.monotonic()

    async def route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")):
            await route.continue_()
        elif _origin(url) != self.origin:
            self.seen.blocked[_shown_origin(url)] += 1
            await route.abort("blockedbyclient")
        elif self.seen.requests >= self.max_requests:
            self.seen.over_budget += 1
            await route.abort("blockedbyclient")
        else:
            self.seen.requests += 1
            await route.continue_()

    async def websocket(self, ws: WebSocketRoute) -> None:
        if _origin(ws.url) == self.origin:
            ws.connect_to_server()
        else:
            self.seen.blocked[_shown_origin(ws.url)] += 1
            await ws.close()

    def started(self, request: object) -> None:
        self.inflight.add(request)
        self.last_busy = time.monotonic()

    def ended(self, request: object) -> None:
        self.inflight.discard(request)
        self.last_busy = time.monotonic()

    async def settle(self, limit: float) -> bool:
        """Wait until no request has been in flight for a moment; False if that never came."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not self.inflight and time.monotonic() - self.last_busy >= _QUIET:
                return True
            await asyncio.sleep(0.05)
        return False


async def _find(scope: Page | Locator, selector: str, what: str, seen: Visit) -> Locator:
    found = scope.locator(selector).first
    if await found.count() == 0:
        raise NoLoginForm(f"no {what} ({clean(selector, 80)}) in the login form", seen)
    return found


async def _sign_in(
    page: Page, login: BrowserLogin, username: str, password: str, seen: Visit, timeout: float
) -> None:
    """Fill the form and submit it as a person would; wait for the target's answer."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    scope: Page | Locator = page
    form: Locator | None = None
    if login.form is not None:
        form = page.locator(login.form).first
    elif login.username is None and login.password is None:
        form = page.locator("form", has=page.locator(_PASSWORD_INPUT)).first
    if form is not None:
        try:
            await form.wait_for(state="visible", timeout=timeout * 1000)
        except PlaywrightTimeout:
            where = f"form {clean(login.form, 80)}" if login.form else "form with a password field"
            raise NoLoginForm(f"no {where} on {login.page}", seen) from None
        scope = form
    user = await _find(scope, _field(login.username, _USERNAME), "username field", seen)
    secret = await _find(scope, _field(login.password, _PASSWORD_INPUT), "password field", seen)
    await user.fill(username)
    await secret.fill(password)
    submit = scope.locator(login.submit or _SUBMIT).first
    origin = _origin(page.url)

    def is_answer(response: Any) -> bool:
        request = response.request
        return _origin(response.url) == origin and (
            request.method != "GET" or request.is_navigation_request()
        )

    clicked = await submit.count() > 0
    seen.steps.append(
        "filled the username and password fields, "
        + ("clicked submit" if clicked else "pressed Enter (no submit button)")
    )
    try:
        async with page.expect_response(is_answer, timeout=timeout * 1000) as answer:
            await (submit.click() if clicked else secret.press("Enter"))
        response = await answer.value
    except PlaywrightTimeout:
        raise BrowserFailed(
            f"submitting the login form sent nothing to the target within {timeout:.0f} s", seen
        ) from None
    request = response.request
    seen.steps.append(
        f"the form sent {request.method} {clean(urlsplit(response.url).path, 80)}: "
        f"{response.status}"
    )


async def _read(context: BrowserContext, page: Page, seen: Visit, origin: str) -> None:
    """Everything a script on ``origin`` could read, and the cookies the browser keeps."""
    state: Any = await context.storage_state(indexed_db=True)
    here = _origin(origin)
    host = here[1] if here else ""
    for cookie in state.get("cookies", []):
        domain = str(cookie.get("domain", "")).lstrip(".").lower()
        if host == domain or host.endswith("." + domain):
            seen.cookies.append(
                BrowserCookie(
                    str(cookie.get("name", "")),
                    str(cookie.get("value", "")),
                    bool(cookie.get("httpOnly")),
                    bool(cookie.get("secure")),
                    str(cookie.get("sameSite", "")),
                    str(cookie.get("path", "/")),
                )
            )
    for entry in state.get("origins", []):
        if _origin(str(entry.get("origin", ""))) != here:
            continue
        for item in entry.get("localStorage", [])[:_MAX_ITEMS]:
            seen.items.append(
                StorageItem(
                    "localStorage", str(item.get("name")), str(item.get("value"))[:_MAX_VALUE]
                )
            )
        for db in entry.get("indexedDB", []) or []:
            name = str(db.get("name", ""))
            seen.databases.append(name)
            for store in db.get("stores", []):
                area = f"IndexedDB {clean(name, 40)}/{clean(str(store.get('name', '')), 40)}"
                for index, record in enumerate(store.get("records", [])[:_MAX_ITEMS]):
                    text = json.dumps(record, default=str)[:_MAX_VALUE]
                    seen.items.append(StorageItem(area, f"record {index + 1}", text))
    page_state: Any = await page.evaluate(_READ, [_MAX_ITEMS, _MAX_VALUE])
    for key, value in page_state.get("session", []):
        seen.items.append(StorageItem("sessionStorage", str(key), str(value)))
    for pair in str(page_state.get("cookie", "")).split(";"):
        name, eq, value = pair.strip().partition("=")
        if name or eq:
            seen.items.append(StorageItem("document.cookie", name, value))
    seen.html = (await page.content())[:_MAX_HTML]


async def visit(
    origin: str,
    url: str,
    login: BrowserLogin,
    username: str,
    password: str,
    *,
    chromium: str = CHROMIUM,
    timeout: float = 30.0,
    max_requests: int = 100,
    on_step: Callable[[int], None] = lambda step: None,
) -> Visit:
    """Sign in through the page at ``url`` and read the browser's storage for ``origin``.

    ``BrowserUnavailable`` if no browser runs; ``BrowserFailed`` (``NoLoginForm``) with
    what was seen so far if the visit stops part way.
    """
    why = unavailable(chromium)
    if why:
        raise BrowserUnavailable(why)
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    seen = Visit()
    here = _origin(origin)
    if here is None:
        raise BrowserFailed(f"not an http(s) origin: {clean(origin)!r}", seen)
    guard = _Guard(here, seen, max_requests)
    on_step(0)
    try:
        async with asyncio.timeout(timeout * 6), async_playwright() as playwright:
            try:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=list(CHROMIUM_ARGS), timeout=timeout * 1000
                )
            except PlaywrightError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise BrowserUnavailable(
                    f"chromium at {chromium} did not start: {clean(str(first), 160)}"
                ) from None
            try:
                context = await browser.new_context(service_workers="block")
                context.set_default_timeout(timeout * 1000)
                await context.route("**/*", guard.route)
                await context.route_web_socket(lambda _: True, guard.websocket)
                context.on("request", guard.started)
                context.on("requestfinished", guard.ended)
                context.on("requestfailed", guard.ended)
                page = await context.new_page()

                async def remember(response: Any) -> None:
                    if response.request.method == "GET" or _origin(response.url) != here:
                        return
                    with contextlib.suppress(Exception):  # not JSON, or a redirect's empty body
                        seen.login_json.append(await response.json())

                page.on("response", remember)
                opened = await page.goto(url, wait_until="load")
                status = opened.status if opened is not None else None
                seen.steps.append(f"opened {clean(urlsplit(url).path or '/', 80)}: {status}")
                if status is None or status >= 400:
                    raise NoLoginForm(f"the login page {login.page} answered {status}", seen)
                on_step(1)
                await _sign_in(page, login, username, password, seen, timeout)
                if not await guard.settle(timeout):
                    seen.steps.append(
                        f"the page still had requests in flight after {timeout:.0f} s"
                    )
                await page.wait_for_load_state("load")
                await guard.settle(timeout)
                landed = page.url
                seen.steps.append(f"landed on {clean(urlsplit(landed).path or '/', 80)}")
                on_step(2)
                if _origin(landed) != here:
                    seen.steps.append(f"left the target's origin; reopened {login.page} to read")
                    await page.goto(url, wait_until="load")
                await _read(context, page, seen, origin)
                on_step(3)
            finally:
                await browser.close()
    except TimeoutError:
        raise BrowserFailed(
            f"the browser did not finish within {timeout * 6:.0f} s", seen
        ) from None
    except PlaywrightError as exc:
        text = str(exc).strip().splitlines()
        message = clean(text[0] if text else type(exc).__name__, 200)
        raise BrowserFailed(f"the browser stopped: {message}", seen) from None
    on_step(4)
    return seen
