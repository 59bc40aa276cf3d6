"""The cookie transport of the hybrid tokens, over real HTTP (uvicorn), on every store.

Browsers keep the access token in an HttpOnly cookie (SameSite=Strict) and the
refresh token in one only sent to /auth/refresh; state-changing requests that
the access cookie authenticates carry the CSRF token, Bearer requests need none.
httpx keeps no Secure cookie over plain http, so the tests carry cookies by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from revocable.tokenauth import TokenCookies
from tests.servers import Serve
from tests.web.conftest import PASSWORD, token_app

ACCESS, REFRESH = "__Host-access", "__Secure-refresh"


@pytest.fixture(name="client")
async def _client(store: Any, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=await serve(token_app(store))) as client:
        yield client


@pytest.fixture(name="name")
async def _name(client: httpx.AsyncClient) -> str:
    name = f"browser-{uuid.uuid4().hex[:10]}"
    registered = await client.post("/auth/register", json={"username": name, "password": PASSWORD})
    assert registered.status_code == 201
    return name


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookie name -> the whole Set-Cookie line, for every cookie the response sets."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


class Browser:
    """The cookies a browser would hold after a cookie-transport login."""

    def __init__(self, response: httpx.Response) -> None:
        cookies = set_cookies(response)
        self.access = value(cookies[ACCESS])
        self.refresh = value(cookies[REFRESH])
        self.csrf: str = response.json()["csrf_token"]

    def to_api(self, **extra: str) -> dict[str, str]:
        """Headers for any path but the refresh path (the refresh cookie is not sent there)."""
        return {"cookie": f"{ACCESS}={self.access}", **extra}

    def to_refresh(self, **extra: str) -> dict[str, str]:
        return {"cookie": f"{ACCESS}={self.access}; {REFRESH}={self.refresh}", **extra}

    def take(self, response: httpx.Response) -> None:
        cookies = set_cookies(response)
        self.access, self.refresh = value(cookies[ACCESS]), value(cookies[REFRESH])


async def sign_in(client: httpx.AsyncClient, name: str) -> Browser:
    response = await client.post("/auth/token", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Browser(response)


async def test_cookie_transport_is_the_default_and_keeps_tokens_out_of_the_body(
    client: httpx.AsyncClient, name: str
) -> None:
    """POST /auth/token without a transport sets two HttpOnly Strict cookies, answers the user,
    a CSRF token and the lifetime, and never a token in the body."""
    response = await client.post("/auth/token", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "csrf_token", "token_type", "expires_in"}
    assert (body["user"]["username"], body["token_type"], body["expires_in"]) == (
        name,
        "cookie",
        600,
    )
    cookies = set_cookies(response)
    assert set(cookies) == {ACCESS, REFRESH}
    access, refresh = cookies[ACCESS], cookies[REFRESH]
    assert access.endswith("; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Strict")
    assert "; Path=/auth/refresh; Secure; HttpOnly; SameSite=Strict" in refresh
    max_age = int(refresh.split("Max-Age=")[1].split(";")[0])
    assert 30 * 86400 - 5 <= max_age <= 30 * 86400
    assert value(access) not in response.text
    assert value(refresh) not in response.text
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/me", headers={"cookie": f"{ACCESS}={value(access)}"})
    assert me.json()["username"] == name


async def test_access_cookie_requests_need_the_csrf_token_bearer_ones_do_not(
    client: httpx.AsyncClient, name: str
) -> None:
    """A state-changing request authenticated by the access cookie is refused without the CSRF
    token, with a foreign Origin or cross-site Fetch Metadata; the same request by Bearer is
    not a CSRF risk and passes."""
    browser = await sign_in(client, name)
    refused = {
        "csrf_token_missing": browser.to_api(),
        "csrf_token_invalid": browser.to_api(**{"x-csrf-token": "x" * 43}),
        "csrf_origin_mismatch": browser.to_api(
            origin="https://evil.example", **{"x-csrf-token": browser.csrf}
        ),
        "csrf_cross_site": browser.to_api(
            **{"sec-fetch-site": "cross-site", "x-csrf-token": browser.csrf}
        ),
    }
    for code, headers in refused.items():
        response = await client.post("/auth/token/revoke", json={}, headers=headers)
        assert (response.status_code, response.json()["error"]) == (403, code)
    assert (await client.get("/api/me", headers=browser.to_api())).status_code == 200

    native = await client.post(
        "/auth/token", json={"username": name, "password": PASSWORD, "token_transport": "body"}
    )
    bearer = {"authorization": f"Bearer {native.json()['access_token']}"}
    revoked = await client.post("/auth/token/revoke", json={}, headers=bearer)
    assert revoked.json() == {"revoked": True}
    assert "set-cookie" not in revoked.headers


async def test_refresh_by_cookie_rotates_both_cookies_and_keeps_the_csrf_token(
    client: httpx.AsyncClient, name: str
) -> None:
    """POST /auth/refresh with only the refresh cookie (no body) rotates it; the CSRF token is
    bound to the family, so it survives; the new access cookie works."""
    browser = await sign_in(client, name)
    old_refresh, old_csrf = browser.refresh, browser.csrf
    response = await client.post("/auth/refresh", headers=browser.to_refresh())
    assert response.status_code == 200, response.text
    assert response.json()["csrf_token"] == old_csrf
    assert "access_token" not in response.json()
    browser.take(response)
    assert browser.refresh != old_refresh
    assert (await client.get("/api/me", headers=browser.to_api())).json()["username"] == name
    ok = await client.post(
        "/auth/logout-all?keep_current=1",
        headers=browser.to_api(**{"x-csrf-token": old_csrf}),
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
    ],
)
async def test_refresh_cookie_from_another_site_is_refused(
    client: httpx.AsyncClient, name: str, headers: dict[str, str]
) -> None:
    """The refresh cookie rides along by itself: a cross-site refresh is 403 and rotates
    nothing (the same cookie still refreshes afterwards)."""
    browser = await sign_in(client, name)
    refused = await client.post("/auth/refresh", headers=browser.to_refresh(**headers))
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("csrf_")
    assert (await client.post("/auth/refresh", headers=browser.to_refresh())).status_code == 200


async def test_reused_refresh_cookie_kills_the_family_and_clears_cookies(
    client: httpx.AsyncClient, name: str
) -> None:
    """An old refresh cookie after the grace window: 401, both cookies cleared, and the
    current (rotated) refresh cookie is dead too."""
    browser = await sign_in(client, name)
    stolen = browser.refresh
    browser.take(await client.post("/auth/refresh", headers=browser.to_refresh()))
    await asyncio.sleep(0.4)  # the test app's grace window is 0.3 s
    replay = await client.post("/auth/refresh", headers={"cookie": f"{REFRESH}={stolen}"})
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_refresh_token")
    cleared = set_cookies(replay)
    assert {ACCESS, REFRESH} <= set(cleared)
    assert all("Max-Age=0" in line for line in cleared.values())
    victim = await client.post("/auth/refresh", headers=browser.to_refresh())
    assert victim.status_code == 401


async def test_refresh_without_any_token_is_401(client: httpx.AsyncClient) -> None:
    """No body and no cookie, a garbage cookie, or a garbage body token: 401, never a 500."""
    for headers in ({}, {"cookie": f"{REFRESH}=garbage"}):
        response = await client.post("/auth/refresh", headers=headers)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_refresh_token")
    body = await client.post("/auth/refresh", json={"refresh_token": "a" * 10_000})
    assert body.status_code == 401


async def test_logout_with_the_access_cookie_revokes_the_family(
    client: httpx.AsyncClient, name: str
) -> None:
    """POST /auth/logout from a cookie-transport browser ends its refresh family server-side
    and clears both cookies (the auditor's C3 for token apps)."""
    browser = await sign_in(client, name)
    out = await client.post(
        "/auth/logout", json={}, headers=browser.to_api(**{"x-csrf-token": browser.csrf})
    )
    assert out.status_code == 200
    assert {ACCESS, REFRESH} <= set(set_cookies(out))
    assert (await client.post("/auth/refresh", headers=browser.to_refresh())).status_code == 401


async def test_families_are_listed_beside_sessions_and_revocable_by_handle(
    client: httpx.AsyncClient, name: str
) -> None:
    """GET /auth/families shows each token login by a public handle (never the family id);
    DELETE by handle kills it; another user's handle or an unknown one is 404."""
    phone, laptop = await sign_in(client, name), await sign_in(client, name)
    login = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    session = {"cookie": login.headers["set-cookie"].split(";")[0]}
    csrf = login.json()["csrf_token"]
    families = (await client.get("/auth/families", headers=session)).json()
    assert len(families) == 2
    assert {f["current"] for f in families} == {False}
    assert all(phone.refresh.split(".")[0] not in str(f) for f in families)
    mine = (await client.get("/auth/families", headers=phone.to_api())).json()
    (current,) = [f for f in mine if f["current"]]
    page = await client.get("/", headers=session)
    assert current["handle"] in page.text
    assert "Apps signed in with tokens" in page.text

    gone = await client.delete(
        f"/auth/families/{current['handle']}", headers={**session, "x-csrf-token": csrf}
    )
    assert gone.status_code == 204
    assert (await client.post("/auth/refresh", headers=phone.to_refresh())).status_code == 401
    assert (await client.post("/auth/refresh", headers=laptop.to_refresh())).status_code == 200
    again = await client.delete(
        f"/auth/families/{current['handle']}", headers={**session, "x-csrf-token": csrf}
    )
    assert (again.status_code, again.json()["error"]) == (404, "family_not_found")

    other = f"other-{uuid.uuid4().hex[:10]}"
    await client.post("/auth/register", json={"username": other, "password": PASSWORD})
    intruder = await sign_in(client, other)
    (laptop_family,) = (await client.get("/auth/families", headers=session)).json()
    foreign = await client.delete(
        f"/auth/families/{laptop_family['handle']}",
        headers=intruder.to_api(**{"x-csrf-token": intruder.csrf}),
    )
    assert foreign.status_code == 404
    assert (await client.post("/auth/refresh", headers=laptop.to_refresh())).status_code == 200


async def test_log_out_all_devices_by_token_keeps_only_the_callers_family(
    client: httpx.AsyncClient, name: str
) -> None:
    """logout-all?keep_current=1 from a token browser ends every session and every other
    family; the caller refreshes and carries on."""
    caller, other = await sign_in(client, name), await sign_in(client, name)
    login = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    session = {"cookie": login.headers["set-cookie"].split(";")[0]}
    await asyncio.sleep(1.05)  # "not before" has whole-second resolution against iat
    done = await client.post(
        "/auth/logout-all?keep_current=1",
        headers=caller.to_api(**{"x-csrf-token": caller.csrf}),
    )
    assert done.json() == {"revoked": 1}
    assert (await client.get("/api/me", headers=session)).status_code == 401
    assert (await client.post("/auth/refresh", headers=other.to_refresh())).status_code == 401
    assert (await client.get("/api/me", headers=caller.to_api())).status_code == 401
    renewed = await client.post("/auth/refresh", headers=caller.to_refresh())
    assert renewed.status_code == 200
    caller.take(renewed)
    assert (await client.get("/api/me", headers=caller.to_api())).status_code == 200


async def test_access_cookie_can_be_lax(store: Any, serve: Serve) -> None:
    """SameSite=Lax is a documented option for the access cookie; the refresh cookie stays
    Strict whatever is chosen."""
    app = token_app(store, token_cookies=TokenCookies(access_same_site="lax"))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        name = f"lax-{uuid.uuid4().hex[:10]}"
        await client.post("/auth/register", json={"username": name, "password": PASSWORD})
        response = await client.post("/auth/token", json={"username": name, "password": PASSWORD})
    cookies = set_cookies(response)
    assert cookies[ACCESS].endswith("SameSite=Lax")
    assert cookies[REFRESH].endswith("SameSite=Strict")
