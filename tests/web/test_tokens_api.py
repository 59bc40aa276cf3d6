"""The token endpoints for native clients, over real HTTP (uvicorn), on every store."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import jwt
import pytest

from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshPolicy
from revocable.server.app import create_app
from revocable.stores.base import SessionStore, Store
from tests.web.conftest import Serve

PASSWORD = "correct horse battery"


@pytest.fixture(name="client")
async def _client(store: SessionStore, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        cast(Store, store),
        [secrets.token_bytes(32)],
        hasher=PasswordHasher.for_testing(),
        login_limit=None,
        signing_keys=KeyRing([SigningKey.generate()]),
        refresh_key=secrets.token_bytes(32),
        refresh_policy=RefreshPolicy(grace=0.3),
    )
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        yield client


@pytest.fixture(name="name")
async def _name(client: httpx.AsyncClient) -> str:
    name = f"native-{uuid.uuid4().hex[:10]}"
    registered = await client.post("/auth/register", json={"username": name, "password": PASSWORD})
    assert registered.status_code == 201
    return name


async def tokens(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post(
        "/auth/token", json={"username": name, "password": PASSWORD, "token_transport": "body"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(access_token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {access_token}"}


async def test_token_response_is_oauth_shaped_and_short_lived(
    client: httpx.AsyncClient, name: str
) -> None:
    """POST /auth/token answers access and refresh tokens, Bearer, minutes-long, with a kid."""
    body = await tokens(client, name)
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["typ"] == "at+jwt"
    assert claims["exp"] - claims["iat"] == 600
    assert {"sub", "iss", "aud", "iat", "exp", "jti", "fid"} <= set(claims)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in [key["kid"] for key in jwks["keys"]]
    assert all("d" not in key for key in jwks["keys"])
    me = await client.get("/api/me", headers=bearer(body["access_token"]))
    assert me.json()["username"] == name


async def test_refresh_rotates_and_reuse_kills_the_family(
    client: httpx.AsyncClient, name: str
) -> None:
    """Each refresh rotates; replaying an old refresh token after the grace kills the family."""
    first = await tokens(client, name)
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    await asyncio.sleep(0.4)  # past the grace window
    reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (reused.status_code, reused.json()["error"]) == (401, "invalid_refresh_token")
    dead = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert dead.status_code == 401


async def test_revoke_and_log_out_all_devices_end_refresh_families(
    client: httpx.AsyncClient, name: str
) -> None:
    """Revoking a family, or logging out all devices, makes its refresh token useless."""
    one, two = await tokens(client, name), await tokens(client, name)
    revoked = await client.post("/auth/token/revoke", json={"refresh_token": one["refresh_token"]})
    assert revoked.json() == {"revoked": True}
    assert (
        await client.post("/auth/refresh", json={"refresh_token": one["refresh_token"]})
    ).status_code == 401
    login = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    cookie = login.headers["set-cookie"].split(";")[0]
    csrf = login.json()["csrf_token"]
    await client.post("/auth/logout-all", headers={"cookie": cookie, "x-csrf-token": csrf})
    assert (
        await client.post("/auth/refresh", json={"refresh_token": two["refresh_token"]})
    ).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer"],
)
async def test_bad_bearer_tokens_are_401(client: httpx.AsyncClient, authorization: str) -> None:
    """Malformed or foreign Authorization headers get 401 with a JSON error, never a 500."""
    response = await client.get("/api/me", headers={"authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_wrong_password_and_cookie_transport(client: httpx.AsyncClient, name: str) -> None:
    """A wrong password is 401; the cookie transport is not available yet (422)."""
    wrong = await client.post("/auth/token", json={"username": name, "password": "nope nope"})
    assert wrong.status_code == 401
    cookie = await client.post(
        "/auth/token", json={"username": name, "password": PASSWORD, "token_transport": "cookie"}
    )
    assert (cookie.status_code, cookie.json()["error"]) == (422, "unsupported_transport")


async def test_log_out_all_devices_refuses_outstanding_access_tokens(
    client: httpx.AsyncClient, name: str
) -> None:
    """After "log out all devices", access tokens issued before it fail on /api/me."""
    before = await tokens(client, name)
    assert (await client.get("/api/me", headers=bearer(before["access_token"]))).status_code == 200
    await asyncio.sleep(1.05)  # iat has whole-second resolution
    login = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    cookie = login.headers["set-cookie"].split(";")[0]
    headers = {"cookie": cookie, "x-csrf-token": login.json()["csrf_token"]}
    assert (await client.post("/auth/logout-all", headers=headers)).status_code == 200
    refused = await client.get("/api/me", headers=bearer(before["access_token"]))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    await asyncio.sleep(1.05)
    after = await tokens(client, name)
    assert (await client.get("/api/me", headers=bearer(after["access_token"]))).status_code == 200
