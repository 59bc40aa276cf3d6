"""The reference server's HTML page in a real headless Chromium, driven by Playwright.

Everything goes through the page's own forms, as a person would: register, sign
in, revoke another device, log out. Along the way the browser's own view is
checked: the session cookie is HttpOnly, Secure and SameSite=Lax, and no
credential is reachable from the page (storage, ``document.cookie``, the HTML).

Playwright cannot download its own browser here, so it drives Debian's
chromium (``.ci/install-browser`` installs it). The page is opened on
``http://localhost``: Chromium counts loopback as a secure context, so it keeps
the ``Secure`` ``__Host-`` cookie over plain http there (Chromium 156 does on
``http://127.0.0.1`` as well; localhost is the name browsers agree on).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from revocable.audit.browser import CHROMIUM, CHROMIUM_ARGS  # the auditor's own launch
from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.server.app import create_app
from revocable.stores.sqlite import SQLiteStore
from tests.servers import Serve, missing

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

COOKIE = "__Host-session"
PASSWORD = "correct horse battery"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REGISTER = 'form[action="/auth/register"]'
LOGIN = 'form[action="/auth/login"]'
LOGOUT = 'form[action="/auth/logout"]'

# What the page holds that a script could read: storage, document.cookie, the markup.
READABLE = """() => ({
    localStorage: Object.entries(localStorage),
    sessionStorage: Object.entries(sessionStorage),
    cookie: document.cookie,
})"""


@pytest.fixture(name="sqlite")
async def _sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "browser.db")
    yield store
    await store.close()


@pytest.fixture(name="site")
async def _site(sqlite: SQLiteStore, serve: Serve) -> str:
    """The reference app's base URL, on localhost (a secure context for Chromium)."""
    app = create_app(
        sqlite,
        [secrets.token_bytes(32)],
        hasher=PasswordHasher.for_testing(),
        signing_keys=KeyRing([SigningKey.generate()]),
        refresh_key=secrets.token_bytes(32),
    )
    url = await serve(app)
    assert url.startswith("http://127.0.0.1:")
    return url.replace("127.0.0.1", "localhost", 1)


@pytest.fixture(name="chromium")
async def _chromium() -> AsyncIterator[Browser]:
    """Debian's headless chromium under Playwright; fails on CI, skips elsewhere, if missing."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is not installed; install it with .ci/install-browser")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("playwright is not installed; install it with .venv/bin/pip install playwright")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            await browser.close()


async def fill_and_submit(page: Page, form: str, name: str) -> None:
    await page.fill(f'{form} input[name="username"]', name)
    await page.fill(f'{form} input[name="password"]', PASSWORD)
    await page.click(f"{form} button")


async def sign_in(page: Page, site: str, name: str) -> None:
    """Sign in through the page's form and wait for the signed-in page."""
    from playwright.async_api import expect

    await page.goto(f"{site}/")
    await fill_and_submit(page, LOGIN, name)
    await expect(page).to_have_url(f"{site}/")
    await expect(page.locator("p", has_text="Signed in as")).to_have_text(f"Signed in as {name}.")


async def shows_sign_in_form(page: Page) -> None:
    from playwright.async_api import expect

    await expect(page.locator(LOGIN)).to_be_visible()
    await expect(page.get_by_role("heading", name="Your sessions")).to_have_count(0)


async def me_status(context: BrowserContext, site: str) -> int:
    """GET /api/me as the browser itself would (its own cookie jar), in a fresh tab."""
    status, _ = await get_me(context, site)
    return status


async def get_me(context: BrowserContext, site: str) -> tuple[int, str]:
    """GET /api/me in a fresh tab of ``context``: the status and the Cookie header it sent."""
    page = await context.new_page()
    try:
        response = await page.goto(f"{site}/api/me")
        assert response is not None
        sent = await response.request.all_headers()
        return response.status, sent.get("cookie", "")
    finally:
        await page.close()


def session_cookie(cookies: list[dict[str, object]]) -> dict[str, object] | None:
    found = [c for c in cookies if c.get("name") == COOKIE]
    assert len(found) <= 1, found
    return found[0] if found else None


async def test_page_in_a_real_browser(site: str, chromium: Browser, tmp_path: Path) -> None:
    """Register, sign in, revoke another device and log out, all through the page's forms."""
    from playwright.async_api import expect

    name = f"user-{uuid.uuid4().hex[:10]}"
    async with await chromium.new_context() as laptop:
        page = await laptop.new_page()
        problems: list[str] = []  # CSP violations, script errors, failed loads
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        await page.goto(f"{site}/")
        await shows_sign_in_form(page)
        await fill_and_submit(page, REGISTER, name)
        await expect(page).to_have_url(f"{site}/?registered=1")
        await expect(page.get_by_text("Registered. Sign in below.")).to_be_visible()
        await sign_in(page, site, name)

        # The cookie as the browser keeps it: HttpOnly, Secure, Lax, host-only, Path=/.
        cookie = session_cookie([dict(c) for c in await laptop.cookies()])
        assert cookie is not None, "Chromium did not keep the session cookie"
        token = cookie["value"]
        assert isinstance(token, str)
        assert len(token) >= 32
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Lax")
        assert (cookie["domain"], cookie["path"]) == ("localhost", "/")

        # Nothing a script could read holds the credential.
        readable = await page.evaluate(READABLE)
        assert readable == {"localStorage": [], "sessionStorage": [], "cookie": ""}
        assert COOKIE not in readable["cookie"]
        assert token not in json.dumps(readable)
        assert token not in await page.content()

        shot = tmp_path / "signed-in.png"
        await page.screenshot(path=shot, full_page=True)
        assert shot.stat().st_size > len(PNG_SIGNATURE)
        assert shot.read_bytes().startswith(PNG_SIGNATURE)

        # A second device signs in; the first one revokes it from its devices table.
        async with await chromium.new_context(user_agent=PHONE) as phone:
            phone_page = await phone.new_page()
            await sign_in(phone_page, site, name)
            phone_cookie = session_cookie([dict(c) for c in await phone.cookies()])
            assert phone_cookie is not None
            phone_token = phone_cookie["value"]
            assert phone_token != token
            assert await get_me(phone, site) == (200, f"{COOKIE}={phone_token}")

            await page.reload()
            rows = page.locator("tr", has_text="Safari on iPhone")
            await expect(rows).to_have_count(1)
            await expect(page.get_by_role("button", name="Revoke")).to_have_count(1)
            async with page.expect_response(lambda r: r.url.endswith("/revoke")) as revoked:
                await rows.get_by_role("button", name="Revoke").click()
            assert (await revoked.value).status == 303
            await expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
            await expect(page.locator("tr", has_text="this device")).to_have_count(1)
            assert await me_status(laptop, site) == 200

            await phone_page.reload()
            await shows_sign_in_form(phone_page)
            # The session is gone, and the server told the browser to drop the dead cookie.
            assert session_cookie([dict(c) for c in await phone.cookies()]) is None
            assert await get_me(phone, site) == (401, "")

        # Log out: back to the sign-in form, the cookie cleared and its session dead.
        await page.click(f"{LOGOUT} button")
        await expect(page).to_have_url(f"{site}/")
        await shows_sign_in_form(page)
        assert session_cookie([dict(c) for c in await laptop.cookies()]) is None
        assert await me_status(laptop, site) == 401
        # Dead on the server too: the old token, put back in the jar, signs nobody in.
        await laptop.add_cookies(
            [{"name": COOKIE, "value": token, "domain": "localhost", "path": "/", "secure": True}]
        )
        assert await get_me(laptop, site) == (401, f"{COOKIE}={token}")
        assert problems == []


TOKEN_CLIENT = """async ([name, password]) => {
    const post = (path, body, headers = {}) => fetch(path, {
        method: "POST",
        headers: {"content-type": "application/json", ...headers},
        body: body === null ? undefined : JSON.stringify(body),
    });
    await post("/auth/register", {username: name, password});
    const login = await (await post("/auth/token", {username: name, password})).json();
    const me = (await fetch("/api/me")).status;
    const refreshed = await fetch("/auth/refresh", {method: "POST"});
    return {login, me, refreshed: refreshed.status, readable: {
        localStorage: Object.entries(localStorage),
        sessionStorage: Object.entries(sessionStorage),
        cookie: document.cookie,
    }};
}"""


async def test_cookie_transport_in_a_real_browser(site: str, chromium: Browser) -> None:
    """Chromium itself signs in with the cookie transport (fetch from the app's origin): it
    keeps the access cookie (HttpOnly, Strict, Path=/) and the refresh cookie (Path=/auth/
    refresh), sends the refresh cookie only to the refresh path, no script can read either,
    and revoking the family with the CSRF token clears both."""
    name = f"spa-{uuid.uuid4().hex[:10]}"
    # The page's CSP forbids scripts (as it should); the test's own script needs a way in.
    async with await chromium.new_context(bypass_csp=True) as context:
        page = await context.new_page()
        sent: dict[str, str] = {}

        async def record(request: object) -> None:
            from playwright.async_api import Request

            assert isinstance(request, Request)
            sent[request.url.removeprefix(site)] = (await request.all_headers()).get("cookie", "")

        page.on("request", record)
        await page.goto(f"{site}/")
        result = await page.evaluate(TOKEN_CLIENT, [name, PASSWORD])
        assert (result["me"], result["refreshed"]) == (200, 200)
        assert set(result["login"]) == {"user", "csrf_token", "token_type", "expires_in"}
        assert result["readable"] == {"localStorage": [], "sessionStorage": [], "cookie": ""}

        jar = {c["name"]: dict(c) for c in await context.cookies()}
        access, refresh = jar["__Host-access"], jar["__Secure-refresh"]
        assert (access["httpOnly"], access["secure"], access["sameSite"]) == (True, True, "Strict")
        assert (access["path"], refresh["path"]) == ("/", "/auth/refresh")
        assert (refresh["httpOnly"], refresh["secure"], refresh["sameSite"]) == (
            True,
            True,
            "Strict",
        )
        assert "__Secure-refresh" in sent["/auth/refresh"]
        assert "__Host-access" in sent["/api/me"]
        assert "__Secure-refresh" not in sent["/api/me"]
        assert "__Secure-refresh" not in sent["/auth/token"]
        assert str(access["value"]) not in await page.content()

        revoke = """async (csrf) => (await fetch("/auth/token/revoke", {method: "POST",
            headers: {"content-type": "application/json", "x-csrf-token": csrf},
            body: "{}"})).json()"""
        assert await page.evaluate(revoke, result["login"]["csrf_token"]) == {"revoked": True}
        names = {c["name"] for c in await context.cookies()}
        assert not names & {"__Host-access", "__Secure-refresh"}
        assert await page.evaluate('async () => (await fetch("/api/me")).status') == 401
