"""SessionMiddleware and the FastAPI dependencies, over real HTTP (uvicorn), on every store."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Form, Request, Response

from revocable import SessionManager
from revocable.config import WebPolicy
from revocable.core.cookies import CookiePolicy
from revocable.core.sessions import SessionRecord
from revocable.fastapi import SessionDependencies, install_error_handlers
from revocable.starlette import SessionMiddleware, login, logout, request_session
from revocable.stores.base import SessionStore
from revocable.stores.redis import RedisStore
from revocable.web import SessionAuth
from tests.servers import PrivateRedis, Serve

COOKIE = "__Host-session"


def make_app(store: SessionStore, policy: WebPolicy | None = None) -> FastAPI:
    """A small app using the middleware, the dependencies and the login/logout helpers."""
    auth = SessionAuth(SessionManager(store), policy or WebPolicy([secrets.token_bytes(32)]))
    deps = SessionDependencies(auth)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, auth=auth)
    install_error_handlers(app)

    @app.post("/login")
    async def do_login(request: Request, response: Response, body: dict[str, str]) -> Any:
        await login(request, response, body["user"])
        return {"csrf_token": request_session(request).csrf_token}

    @app.post("/logout")
    async def do_logout(
        request: Request, response: Response, _: SessionRecord = Depends(deps.required)
    ) -> Any:
        return {"revoked": await logout(request, response)}

    @app.get("/api/me")
    async def me(session: SessionRecord = Depends(deps.required)) -> Any:
        return {"id": session.user_id}

    @app.get("/maybe")
    async def maybe(session: SessionRecord | None = Depends(deps.optional)) -> Any:
        return {"id": session.user_id if session else None}

    @app.post("/action")
    async def action(_: SessionRecord = Depends(deps.required)) -> Any:
        return {"ok": True}

    @app.post("/form")
    async def form(note: str = Form(), _: SessionRecord = Depends(deps.required)) -> Any:
        return {"note": note}

    return app


def session_cookie(response: httpx.Response) -> str:
    """The session token from a response's Set-Cookie, checking every safe attribute."""
    [header] = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    pair, *attributes = header.split("; ")
    name, _, value = pair.partition("=")
    assert name == COOKIE
    assert set(attributes) == {"Max-Age=604800", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"}
    return value


@pytest.fixture(name="client")
async def _client(store: SessionStore, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    base = await serve(make_app(store))
    async with httpx.AsyncClient(base_url=base) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, user: str = "alice") -> tuple[str, str]:
    """Log in; answers (session token, CSRF token)."""
    response = await client.post("/login", json={"user": user})
    assert response.status_code == 200
    return session_cookie(response), response.json()["csrf_token"]


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={token}"}


async def test_login_sets_a_safe_cookie_and_no_token_in_the_body(
    client: httpx.AsyncClient,
) -> None:
    """Login sets a __Host-, Secure, HttpOnly, SameSite=Lax cookie; the body holds no token."""
    response = await client.post("/login", json={"user": "alice"})
    token = session_cookie(response)
    assert token not in response.text
    assert set(response.json()) == {"csrf_token"}
    me = await client.get("/api/me", headers=cookie(token))
    assert me.json() == {"id": "alice"}


async def test_cookie_header_split_over_lines_is_joined(client: httpx.AsyncClient) -> None:
    """A Cookie header split over several lines (HTTP/2 proxies do) is read as one: the
    session cookie is found in any line, and the first one named so wins."""
    token = session_cookie(await client.post("/login", json={"user": "alice"}))
    split = [("cookie", "theme=dark"), ("cookie", f"{COOKIE}={token}; lang=en")]
    assert (await client.get("/api/me", headers=split)).json() == {"id": "alice"}
    shadowed = [("cookie", f"{COOKIE}=" + "A" * 46), ("cookie", f"{COOKIE}={token}")]
    assert (await client.get("/api/me", headers=shadowed)).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        cookie("garbage"),
        cookie("A" * 46),
        {"cookie": f"{COOKIE}=" + "x" * 9000},
        {"cookie": "session=" + "A" * 46},  # the unprefixed name is not ours
    ],
    ids=["none", "garbage", "unknown", "8kb", "unprefixed"],
)
async def test_missing_or_bad_cookie_is_401_json(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """No cookie, a garbage, unknown or oversized one: 401 with a JSON error, never a 500."""
    response = await client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert (await client.get("/maybe", headers=headers)).json() == {"id": None}


async def test_state_changing_requests_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    """A cookie-authenticated POST passes only with the session's token, from our origin."""
    token, csrf = await sign_in(client)
    _, other_csrf = await sign_in(client, "mallory")
    base = cookie(token)
    cases: list[tuple[dict[str, str], int, str | None]] = [
        ({}, 403, "csrf_token_missing"),
        ({"x-csrf-token": "A" * 43}, 403, "csrf_token_invalid"),
        ({"x-csrf-token": other_csrf}, 403, "csrf_token_invalid"),
        ({"x-csrf-token": csrf, "origin": "https://evil.example"}, 403, "csrf_origin_mismatch"),
        ({"x-csrf-token": csrf, "origin": "null"}, 403, "csrf_origin_mismatch"),
        ({"x-csrf-token": csrf, "sec-fetch-site": "cross-site"}, 403, "csrf_cross_site"),
        ({"x-csrf-token": csrf}, 200, None),
        ({"x-csrf-token": csrf, "origin": str(client.base_url).rstrip("/")}, 200, None),
        ({"x-csrf-token": csrf, "sec-fetch-site": "same-origin"}, 200, None),
    ]
    for extra, status, code in cases:
        response = await client.post("/action", headers={**base, **extra})
        assert response.status_code == status, (extra, response.text)
        if code:
            assert response.json()["error"] == code


async def test_form_posts_carry_the_token_in_a_field(client: httpx.AsyncClient) -> None:
    """HTML forms send csrf_token as a field; the app still receives the whole form."""
    token, csrf = await sign_in(client)
    ok = await client.post("/form", headers=cookie(token), data={"csrf_token": csrf, "note": "hi"})
    assert ok.json() == {"note": "hi"}
    refused = await client.post("/form", headers=cookie(token), data={"note": "hi"})
    assert refused.status_code == 403
    huge = await client.post(
        "/form", headers=cookie(token), data={"csrf_token": csrf, "note": "x" * 70000}
    )
    assert huge.status_code == 413
    assert huge.json()["error"] == "body_too_large"


async def test_safe_methods_are_not_checked_and_get_on_post_routes_is_405(
    client: httpx.AsyncClient,
) -> None:
    """GETs pass without a token even cross-site; a GET on a POST route is a 405 JSON error."""
    token, _ = await sign_in(client)
    me = await client.get("/api/me", headers={**cookie(token), "sec-fetch-site": "cross-site"})
    assert me.status_code == 200
    wrong = await client.get("/action", headers=cookie(token))
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


async def test_logout_revokes_server_side_and_clears_the_cookie(
    client: httpx.AsyncClient,
) -> None:
    """After logout the old cookie is dead on the server, and the browser is told to drop it."""
    token, csrf = await sign_in(client)
    response = await client.post("/logout", headers={**cookie(token), "x-csrf-token": csrf})
    assert response.json() == {"revoked": True}
    assert response.headers["set-cookie"].startswith(f"{COOKIE}=; Max-Age=0;")
    replay = await client.get("/api/me", headers=cookie(token))
    assert replay.status_code == 401


async def test_login_replaces_the_session_the_client_had(client: httpx.AsyncClient) -> None:
    """Logging in again revokes the session presented with the request (fixation defence)."""
    first, csrf = await sign_in(client)
    response = await client.post(
        "/login", json={"user": "alice"}, headers={**cookie(first), "x-csrf-token": csrf}
    )
    second = session_cookie(response)
    assert second != first
    assert (await client.get("/api/me", headers=cookie(first))).status_code == 401
    assert (await client.get("/api/me", headers=cookie(second))).status_code == 200


async def test_openapi_declares_the_session_cookie(client: httpx.AsyncClient) -> None:
    """FastAPI's OpenAPI document lists the session cookie as the security scheme."""
    schema = (await client.get("/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["revocableSession"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": COOKIE}


async def test_store_outage_is_503_never_authenticated(
    redis_server: PrivateRedis, serve: Serve
) -> None:
    """When the store cannot answer, a request with a cookie gets 503 JSON, not a session."""
    store = await RedisStore.open(redis_server.url, timeout=0.3)
    base = await serve(make_app(store))
    async with httpx.AsyncClient(base_url=base) as client:
        token, _ = await sign_in(client)
        redis_server.kill()
        response = await client.get("/api/me", headers=cookie(token))
        assert response.status_code == 503
        assert response.json()["error"] == "store_unavailable"
        assert response.headers["retry-after"] == "1"
        public = await client.get("/maybe")  # no cookie: no store call, still served
        assert public.json() == {"id": None}
    await store.close()


async def test_insecure_development_cookie(store: SessionStore, serve: Serve) -> None:
    """With secure=False the cookie loses Secure and __Host- (plain-http development only)."""
    policy = WebPolicy([secrets.token_bytes(32)], cookie=CookiePolicy(secure=False))
    base = await serve(make_app(store, policy))
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/login", json={"user": "dev"})
    assert response.headers["set-cookie"].startswith("session=")
    assert "Secure" not in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]


async def test_a_dead_cookie_is_cleared_in_the_browser(client: httpx.AsyncClient) -> None:
    """A revoked or garbage cookie gets a deletion cookie back, so browsers stop sending it."""
    token, csrf = await sign_in(client)
    await client.post("/logout", headers={**cookie(token), "x-csrf-token": csrf})
    for dead in (token, "garbage"):
        response = await client.get("/maybe", headers=cookie(dead))
        assert response.headers["set-cookie"].startswith(f"{COOKIE}=; Max-Age=0;")
    fresh = await client.post("/login", json={"user": "alice"}, headers=cookie("garbage"))
    assert session_cookie(fresh)  # the login's own cookie, not a deletion
    assert (await client.get("/maybe")).headers.get("set-cookie") is None


async def test_recent_authentication_dependency(store: SessionStore, serve: Serve) -> None:
    """deps.recent(max_age) passes a fresh login and answers 401 reauth_required later."""
    auth = SessionAuth(SessionManager(store), WebPolicy([secrets.token_bytes(32)]))
    deps = SessionDependencies(auth)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, auth=auth)
    install_error_handlers(app)

    recent = deps.recent(0.5)

    @app.get("/sensitive")
    async def sensitive(session: SessionRecord = Depends(recent)) -> Any:
        return {"id": session.user_id}

    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        issued = await auth.sessions.create("alice")
        assert (await client.get("/sensitive", headers=cookie(issued.token))).status_code == 200
        await asyncio.sleep(0.6)
        late = await client.get("/sensitive", headers=cookie(issued.token))
        assert (late.status_code, late.json()["error"]) == (401, "reauth_required")
        assert (await client.get("/sensitive")).json()["error"] == "not_authenticated"
