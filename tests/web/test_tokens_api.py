"""The token endpoints for native clients, over real HTTP (uvicorn), on every store."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from revocable.events import SecurityEvent, SecurityEvents
from revocable.refresh import RefreshPolicy
from revocable.stores.base import SessionStore
from tests.servers import Serve
from tests.web.conftest import PASSWORD, token_app


@pytest.fixture(name="client")
async def _client(store: SessionStore, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    app = token_app(store)
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


async def test_wrong_password_and_unknown_transport(client: httpx.AsyncClient, name: str) -> None:
    """A wrong password is 401 with no token; an unknown transport is 422."""
    wrong = await client.post("/auth/token", json={"username": name, "password": "nope nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_credentials")
    assert "set-cookie" not in wrong.headers
    odd = await client.post(
        "/auth/token", json={"username": name, "password": PASSWORD, "token_transport": "url"}
    )
    assert (odd.status_code, odd.json()["error"]) == (422, "invalid_input")


async def test_concurrent_refreshes_within_grace_all_get_the_same_successor(
    store: SessionStore, serve: Serve
) -> None:
    """Ten requests refreshing one token at once (two tabs, a retry): all 200, one successor,
    and the family lives on. With the default grace (5 s): the 0.3 s of the other tests is
    shorter than ten queued rotations can take on a loaded two-core machine (a pool of four)."""
    seen: list[SecurityEvent] = []
    events = SecurityEvents()
    events.subscribe(seen.append)
    app = token_app(store, events=events, refresh_policy=RefreshPolicy())
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        name = f"tabs-{uuid.uuid4().hex[:10]}"
        await client.post("/auth/register", json={"username": name, "password": PASSWORD})
        first = await tokens(client, name)
        answers = await asyncio.gather(
            *(
                client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
                for _ in range(10)
            )
        )
        assert [a.status_code for a in answers] == [200] * 10, [e.as_dict() for e in seen]
        successors = {a.json()["refresh_token"] for a in answers}
        assert len(successors) == 1
        (successor,) = successors
        after = await client.post("/auth/refresh", json={"refresh_token": successor})
        assert after.status_code == 200


async def test_concurrent_refreshes_outside_grace_have_one_winner_and_reuse_kills(
    store: SessionStore, serve: Serve
) -> None:
    """With no grace window, of ten concurrent refreshes of one token exactly one wins, the
    rest are reuse: the family dies (the winner's token too) and a reuse event names it."""
    seen: list[SecurityEvent] = []
    events = SecurityEvents()
    events.subscribe(seen.append)
    app = token_app(store, events=events, refresh_policy=RefreshPolicy(grace=0.0))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        name = f"race-{uuid.uuid4().hex[:10]}"
        await client.post("/auth/register", json={"username": name, "password": PASSWORD})
        first = await tokens(client, name)
        answers = await asyncio.gather(
            *(
                client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
                for _ in range(10)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes.count(200) == 1, codes
        assert codes.count(401) == 9, codes
        (winner,) = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
        dead = await client.post("/auth/refresh", json={"refresh_token": winner})
        assert dead.status_code == 401
    reuse = [e for e in seen if e.event == "refresh.reuse"]
    assert reuse, seen
    assert {e.reason for e in reuse} <= {"outside_grace", "stale_ancestor", "unknown_family"}
    family_id = first["refresh_token"].split(".")[0]
    assert all(e.session != family_id for e in reuse), "events name a handle, not the family id"
    for event in seen:
        assert first["refresh_token"] not in json.dumps(event.as_dict())


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
