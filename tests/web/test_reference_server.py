"""The reference server's HTTP contract (SPEC.md), over real HTTP (uvicorn), on every store."""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from revocable.core.ratelimit import RateLimit
from revocable.events import SecurityEvent, SecurityEvents
from revocable.passwords import PasswordHasher
from revocable.server.app import create_app
from revocable.stores.base import SessionStore, Store
from revocable.stores.redis import RedisStore
from tests.servers import PrivateRedis, Serve

COOKIE = "__Host-session"
PASSWORD = "correct horse battery"


@pytest.fixture(name="client")
async def _client(store: SessionStore, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    app = reference_app(store, login_limit=None)  # the rate limit has tests of its own
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        yield client


@pytest.fixture(name="name")
def _name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def reference_app(store: SessionStore, **options: Any) -> Any:
    """The reference app on ``store`` with a fresh CSRF key and a fast (test-only) hasher."""
    return create_app(
        cast(Store, store),
        [secrets.token_bytes(32)],
        hasher=PasswordHasher.for_testing(),
        **options,
    )


def token_of(response: httpx.Response) -> str:
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    [value] = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith(COOKIE + "=")]
    return value


class Browser:
    """One signed-in client: its session cookie and CSRF token."""

    def __init__(self, client: httpx.AsyncClient, token: str, csrf: str) -> None:
        self.client, self.token, self.csrf = client, token, csrf

    def headers(self, csrf: bool = True) -> dict[str, str]:
        out = {"cookie": f"{COOKIE}={self.token}"}
        return {**out, "x-csrf-token": self.csrf} if csrf else out

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=self.headers(csrf=False))

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, headers=self.headers(), **kwargs)


async def register(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/auth/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(client: httpx.AsyncClient, name: str, **headers: str) -> Browser:
    response = await client.post(
        "/auth/login", json={"username": name, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    return Browser(client, token_of(response), response.json()["csrf_token"])


async def test_register_login_me_logout(client: httpx.AsyncClient, name: str) -> None:
    """Register (201), log in (cookie + CSRF token), /api/me, logout kills the session."""
    user = await register(client, name)
    assert user == {"id": user["id"], "username": name}
    browser = await sign_in(client, name)
    me = await browser.get("/api/me")
    assert me.json() == user
    out = await browser.post("/auth/logout")
    assert out.status_code == 200
    assert (await browser.get("/api/me")).status_code == 401


async def test_register_refuses_taken_names_and_short_passwords(
    client: httpx.AsyncClient, name: str
) -> None:
    """409 for a taken name (any case), 422 for a short or missing password."""
    await register(client, name)
    taken = await client.post(
        "/auth/register", json={"username": name.upper(), "password": PASSWORD}
    )
    assert (taken.status_code, taken.json()["error"]) == (409, "username_taken")
    for body in ({"username": "x" + name, "password": "short"}, {"username": "y" + name}):
        response = await client.post("/auth/register", json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_input"


async def test_wrong_name_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, name: str
) -> None:
    """Unknown user and wrong password: the same 401 body, in about the same time."""
    await register(client, name)
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    bodies = set()
    for _ in range(5):
        for kind, username in (("unknown", "nobody-" + name), ("wrong", name)):
            started = time.perf_counter()
            response = await client.post(
                "/auth/login", json={"username": username, "password": "not the password"}
            )
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 401
            bodies.add(response.text)
    assert len(bodies) == 1
    unknown, wrong = sorted(timings["unknown"])[2], sorted(timings["wrong"])[2]
    assert 0.5 < unknown / wrong < 2.0  # both run one argon2 verification


async def test_log_out_all_devices_and_keep_current(client: httpx.AsyncClient, name: str) -> None:
    """logout-all?keep_current=1 ends the other sessions; plain logout-all ends all."""
    await register(client, name)
    a, b, c = [await sign_in(client, name) for _ in range(3)]
    kept = await a.post("/auth/logout-all?keep_current=1")
    assert kept.json() == {"revoked": 2}
    assert (await a.get("/api/me")).status_code == 200
    assert (await b.get("/api/me")).status_code == 401
    assert (await c.get("/api/me")).status_code == 401
    everything = await a.post("/auth/logout-all")
    assert everything.json() == {"revoked": 1}
    assert (await a.get("/api/me")).status_code == 401


async def test_sessions_list_and_revoke_one(client: httpx.AsyncClient, name: str) -> None:
    """The devices list marks the current session; DELETE revokes one, only the owner's."""
    await register(client, name)
    phone = await sign_in(client, name, **{"user-agent": "Mozilla/5.0 (iPhone)"})
    laptop = await sign_in(client, name)
    listed = (await laptop.get("/auth/sessions")).json()
    assert [s["current"] for s in listed] == [False, True]
    assert set(listed[0]) == {"handle", "created_at", "last_seen", "ip", "user_agent", "current"}
    assert listed[0]["user_agent"] == "Mozilla/5.0 (iPhone)"
    assert listed[0]["ip"] == "127.0.0.1"
    assert phone.token not in str(listed)
    assert laptop.token not in str(listed)
    other_name = "other-" + name
    await register(client, other_name)
    mallory = await sign_in(client, other_name)
    handle = listed[0]["handle"]
    stolen = await mallory.client.delete(f"/auth/sessions/{handle}", headers=mallory.headers())
    assert stolen.status_code == 404
    gone = await laptop.client.delete(f"/auth/sessions/{handle}", headers=laptop.headers())
    assert gone.status_code == 204
    assert (await phone.get("/api/me")).status_code == 401


async def test_password_change_ends_other_sessions(client: httpx.AsyncClient, name: str) -> None:
    """Changing the password needs the current one, ends every other session, rotates this one."""
    await register(client, name)
    here, there = await sign_in(client, name), await sign_in(client, name)
    wrong = await here.post(
        "/auth/password", json={"current_password": "nope", "new_password": "n" * 12}
    )
    assert wrong.status_code == 401
    changed = await here.post(
        "/auth/password", json={"current_password": PASSWORD, "new_password": "n" * 12}
    )
    assert changed.status_code == 200
    assert changed.json()["revoked"] == 1
    assert (await there.get("/api/me")).status_code == 401
    assert (await here.get("/api/me")).status_code == 401  # the old token was rotated out
    here.token, here.csrf = token_of(changed), changed.json()["csrf_token"]
    assert (await here.get("/api/me")).status_code == 200
    old = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/auth/login", json={"username": name, "password": "n" * 12})
    assert new.status_code == 200


async def test_login_replaces_the_session_the_client_had(
    client: httpx.AsyncClient, name: str
) -> None:
    """A login presented with a live session cookie revokes that session (fixation defence)."""
    await register(client, name)
    first = await sign_in(client, name)
    again = await client.post(
        "/auth/login", json={"username": name, "password": PASSWORD}, headers=first.headers()
    )
    assert again.status_code == 200
    assert (await first.get("/api/me")).status_code == 401


async def test_csrf_and_methods_on_state_changing_paths(
    client: httpx.AsyncClient, name: str
) -> None:
    """Without the token, with a wrong one or a foreign Origin: 403; GET on them: 405."""
    await register(client, name)
    browser = await sign_in(client, name)
    for path in ("/auth/logout", "/auth/logout-all", "/auth/password"):
        missing = await client.post(path, headers=browser.headers(csrf=False), json={})
        assert (missing.status_code, missing.json()["error"]) == (403, "csrf_token_missing")
        foreign = await client.post(
            path, headers={**browser.headers(), "origin": "https://evil.example"}, json={}
        )
        assert (foreign.status_code, foreign.json()["error"]) == (403, "csrf_origin_mismatch")
        wrong = await client.post(path, headers={**browser.headers(), "x-csrf-token": "A" * 43})
        assert wrong.json()["error"] == "csrf_token_invalid"
    for path in ("/auth/register", "/auth/login", "/auth/logout", "/auth/logout-all"):
        got = await browser.get(path)
        assert (got.status_code, got.json()["error"]) == (405, "method_not_allowed")
    cross = await client.post(
        "/auth/login",
        json={"username": name, "password": PASSWORD},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403  # login CSRF
    assert (await browser.get("/api/me")).status_code == 200


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed_json"),
        (b'["list"]', {"content-type": "application/json"}, 422, "invalid_input"),
        (b'{"username": 5}', {"content-type": "application/json"}, 422, "invalid_input"),
        (b"username=a", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"", {}, 415, "unsupported_media_type"),
        (b'{"a": "' + b"x" * 20000 + b'"}', {"content-type": "application/json"}, 413, None),
        (
            b'{"username": "a\\u0000b", "password": "long enough"}',
            {"content-type": "application/json"},
            422,
            "invalid_input",
        ),
        (b"\xff\xfe", {"content-type": "application/x-www-form-urlencoded"}, 303, None),
    ],
    ids=["malformed", "list", "non-string", "text", "no-type", "oversized", "nul", "bad-utf8-form"],
)
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    """Malformed bodies get a 4xx with a JSON error code (forms: a redirect with the code)."""
    response = await client.post("/auth/register", content=content, headers=headers)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"] == code
    if status == 303:
        assert response.headers["location"].startswith("/?error=")


async def test_non_ascii_names_work_and_hostile_cookies_are_401(
    client: httpx.AsyncClient, name: str
) -> None:
    """Non-ASCII usernames register and sign in; garbage and 8 KB cookies are just signed out."""
    unicode_name = f"Zoë-李-{name}"
    await register(client, unicode_name)
    browser = await sign_in(client, unicode_name)
    assert (await browser.get("/api/me")).json()["username"] == unicode_name
    for cookie in (f"{COOKIE}=garbage", f"{COOKIE}=" + "A" * 8200, f"{COOKIE}=\x7f"):
        response = await client.get("/api/me", headers={"cookie": cookie})
        assert response.status_code == 401
        assert response.json()["error"] == "not_authenticated"


async def test_html_page_flow_with_plain_forms(client: httpx.AsyncClient, name: str) -> None:
    """The page signs in and revokes with plain forms carrying csrf_token; no script runs."""
    page = await client.get("/")
    assert "Sign in" in page.text
    assert "<script" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'
    form = {"username": name, "password": PASSWORD}
    registered = await client.post("/auth/register", data=form)
    assert (registered.status_code, registered.headers["location"]) == (303, "/?registered=1")
    other = await sign_in(client, name)
    signed_in = await client.post("/auth/login", data=form)
    assert signed_in.status_code == 303
    me = Browser(client, token_of(signed_in), "")
    home = await me.get("/")
    assert name in home.text
    assert me.token not in home.text  # the page never shows the cookie's token
    csrf = home.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    handle = (await me.get("/auth/sessions")).json()[0]["handle"]
    assert f"/auth/sessions/{handle}/revoke" in home.text
    revoke = await client.post(
        f"/auth/sessions/{handle}/revoke", headers=me.headers(csrf=False), data={"csrf_token": csrf}
    )
    assert (revoke.status_code, revoke.headers["location"]) == (303, "/")
    assert (await other.get("/api/me")).status_code == 401
    bad = await client.post("/auth/login", data={"username": name, "password": "wrong pass"})
    assert bad.headers["location"] == "/?error=invalid_credentials"


async def test_security_events_for_failed_logins_and_csrf(
    store: SessionStore, serve: Serve, name: str
) -> None:
    """Failed logins and CSRF rejections reach the event hook, with no credential in them."""
    seen: list[SecurityEvent] = []
    app = reference_app(store, events=SecurityEvents(seen.append))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        await client.post("/auth/login", json={"username": name, "password": "wrong password"})
        browser = await sign_in(client, name)
        await client.post("/auth/logout", headers=browser.headers(csrf=False))
        await browser.post("/auth/logout")
    kinds = [e.event for e in seen]
    assert kinds == [
        "login.failed",
        "session.created",
        "csrf.rejected",
        "session.revoked",
    ]
    assert seen[2].reason == "csrf_token_missing"
    assert seen[0].ip == "127.0.0.1"
    text = repr([e.as_dict() for e in seen])
    assert browser.token not in text
    assert PASSWORD not in text


async def test_login_attempts_are_rate_limited_per_username(
    store: SessionStore, serve: Serve, name: str
) -> None:
    """Past the limit a login gets 429 with Retry-After, even with the right password."""
    seen: list[SecurityEvent] = []
    app = reference_app(store, events=SecurityEvents(seen.append), login_limit=RateLimit(3, 60))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        for _ in range(3):
            wrong = await client.post("/auth/login", json={"username": name, "password": "x" * 9})
            assert wrong.status_code == 401
        limited = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        other = "other-" + name
        await register(client, other)
        assert (
            await client.post("/auth/login", json={"username": other, "password": PASSWORD})
        ).status_code == 200
    assert seen[-2].event == "login.rate_limited"
    assert seen[-2].reason == "login-user"


async def test_rate_limit_off(store: SessionStore, serve: Serve, name: str) -> None:
    """With the limit off (load tests), logins are never refused for their number."""
    app = reference_app(store, login_limit=None)
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        for _ in range(12):
            await sign_in(client, name)


async def test_reauthentication_rotates_and_refreshes_the_proof(
    client: httpx.AsyncClient, name: str
) -> None:
    """POST /auth/reauth needs the password; it rotates the session and keeps it signed in."""
    await register(client, name)
    browser = await sign_in(client, name)
    wrong = await browser.post("/auth/reauth", json={"password": "not it at all"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_credentials")
    right = await browser.post("/auth/reauth", json={"password": PASSWORD})
    assert right.status_code == 200
    assert (await browser.get("/api/me")).status_code == 401  # the old token was rotated out
    browser.token = token_of(right)
    assert (await browser.get("/api/me")).status_code == 200


@pytest.mark.parametrize(
    ("trusted", "shown"), [((), "127.0.0.1"), (("127.0.0.1",), "198.51.100.7")]
)
async def test_client_ip_through_trusted_proxies_only(
    store: SessionStore, serve: Serve, name: str, trusted: tuple[str, ...], shown: str
) -> None:
    """X-Forwarded-For is believed only from a configured proxy."""
    app = reference_app(store, login_limit=None, trusted_proxies=trusted)
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        browser = await sign_in(client, name, **{"x-forwarded-for": "6.6.6.6, 198.51.100.7"})
        [listed] = (await browser.get("/auth/sessions")).json()
    assert listed["ip"] == shown


async def test_access_log_has_request_ids_and_no_credentials(
    client: httpx.AsyncClient, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each answer carries X-Request-ID; the log line names it, never a cookie or query."""
    await register(client, name)
    with caplog.at_level(logging.INFO, logger="revocable.access"):
        browser = await sign_in(client, name)
        me = await client.get(
            "/api/me?password=hunter2",
            headers={**browser.headers(csrf=False), "x-request-id": "trace-42"},
        )
        odd = await client.get("/", headers={"x-request-id": "bad id\x7f" * 20})
    assert me.headers["x-request-id"] == "trace-42"
    assert len(odd.headers["x-request-id"]) == 16  # ours, not the malformed one
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "revocable.access"]
    [me_line] = [line for line in lines if line["request_id"] == "trace-42"]
    assert me_line["path"] == "/api/me"
    assert me_line["status"] == 200
    assert me_line["user_id"] is not None
    text = caplog.text
    assert browser.token not in text
    assert "hunter2" not in text
    assert PASSWORD not in text


async def test_proxy_added_forwarded_for_lines_are_read_together(
    store: SessionStore, serve: Serve, name: str
) -> None:
    """A trusted proxy that adds its own X-Forwarded-For line still wins over the client's."""
    app = reference_app(store, login_limit=None, trusted_proxies=("127.0.0.1",))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        body = {"username": name, "password": PASSWORD}
        lines = [("x-forwarded-for", "203.0.113.66"), ("x-forwarded-for", "198.51.100.7")]
        response = await client.post("/auth/login", json=body, headers=lines)
        browser = Browser(client, token_of(response), response.json()["csrf_token"])
        [listed] = (await browser.get("/auth/sessions")).json()
        assert listed["ip"] == "198.51.100.7"
        zoned = await client.post(
            "/auth/login", json=body, headers={"x-forwarded-for": "fe80::1%eth0"}
        )
        assert zoned.status_code == 200  # a forged zone id is ignored, never a 500


async def test_reauth_and_password_changes_are_rate_limited(
    store: SessionStore, serve: Serve, name: str
) -> None:
    """Signed-in password checks count too: a stolen cookie cannot guess without limit."""
    app = reference_app(store, login_limit=RateLimit(3, 60))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        browser = await sign_in(client, name)
        statuses = [
            (await browser.post("/auth/reauth", json={"password": f"guess {i} pw"})).status_code
            for i in range(3)
        ]
        statuses.append(
            (
                await browser.post(
                    "/auth/password", json={"current_password": "guess", "new_password": "x" * 9}
                )
            ).status_code
        )
    assert statuses == [401, 401, 401, 429]


async def test_reauth_renews_the_csrf_token(client: httpx.AsyncClient, name: str) -> None:
    """After re-authentication the old CSRF token no longer works; the new one does."""
    await register(client, name)
    browser = await sign_in(client, name)
    old_csrf = browser.csrf
    right = await browser.post("/auth/reauth", json={"password": PASSWORD})
    browser.token, browser.csrf = token_of(right), right.json()["csrf_token"]
    assert browser.csrf != old_csrf
    stale = await client.post(
        "/auth/logout-all?keep_current=1", headers={**browser.headers(), "x-csrf-token": old_csrf}
    )
    assert stale.json()["error"] == "csrf_token_invalid"
    assert (await browser.post("/auth/logout-all?keep_current=1")).status_code == 200


@pytest.mark.parametrize(
    "content",
    [b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"username": "\\ud800x"}'],
    ids=["deep", "lone-surrogate"],
)
async def test_hostile_json_is_4xx_not_500(client: httpx.AsyncClient, content: bytes) -> None:
    """Deeply nested JSON and lone surrogates get a 4xx, never a 500 or a false outage."""
    for path in ("/auth/login", "/auth/register"):
        response = await client.post(
            path, content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 413, 422), response.text


async def test_behind_a_tls_proxy_the_public_origin_is_ours(
    store: SessionStore, serve: Serve, name: str
) -> None:
    """With public_origin set, browsers posting from https://app.example pass the Origin check."""
    app = reference_app(store, login_limit=None, public_origin="https://app.example")
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        body = {"username": name, "password": PASSWORD}
        ours = await client.post(
            "/auth/register", json=body, headers={"origin": "https://app.example"}
        )
        assert ours.status_code == 201
        plain = await client.post(
            "/auth/login", json=body, headers={"origin": str(client.base_url).rstrip("/")}
        )
        assert plain.json()["error"] == "csrf_origin_mismatch"


async def test_store_outage_inside_a_route_is_503(
    redis_server: PrivateRedis, serve: Serve, name: str
) -> None:
    """A store failure in login or register answers 503 store_unavailable, never 500."""
    store = await RedisStore.open(redis_server.url, timeout=0.3)
    app = create_app(store, [secrets.token_bytes(32)], hasher=PasswordHasher.for_testing())
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        await register(client, name)
        redis_server.kill()
        for path in ("/auth/login", "/auth/register"):
            response = await client.post(path, json={"username": name, "password": PASSWORD})
            assert (response.status_code, response.json()["error"]) == (503, "store_unavailable")
            assert response.headers["retry-after"] == "1"
    await store.close()
