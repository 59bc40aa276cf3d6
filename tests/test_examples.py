"""The examples run as the README shows them (they are part of the documentation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from examples.fastapi_app import build_app

from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.service import ServiceTokens, ServiceTokenVerifier
from revocable.stores.memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
USER = {"username": "alice", "password": "correct horse battery"}


def test_quickstart_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "q.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "two sessions for alice" in result.stdout


async def test_fastapi_example_takes_every_credential_it_promises() -> None:
    """Session cookie, Bearer token and access cookie on /api/orders; only the session on
    /api/profile; only a service token for audience "billing" on /internal/charge."""
    ring = KeyRing([SigningKey.generate()])
    verifier = ServiceTokenVerifier(ring, audience="billing", issuers=["orders"])
    app = build_app(MemoryStore(), hasher=PasswordHasher.for_testing(), services=verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as client:
        assert (await client.post("/auth/register", json=USER)).status_code == 201
        login = await client.post("/auth/login", json=USER)
        session = {"cookie": login.headers["set-cookie"].split(";")[0]}
        client.cookies.clear()  # each credential travels alone, by hand
        native = await client.post("/auth/token", json={**USER, "token_transport": "body"})
        bearer = {"authorization": f"Bearer {native.json()['access_token']}"}
        browser = await client.post("/auth/token", json=USER)
        access = {"cookie": browser.headers.get_list("set-cookie")[0].split(";")[0]}
        client.cookies.clear()

        for headers, via in ((session, "session"), (bearer, "bearer"), (access, "cookie")):
            response = await client.get("/api/orders", headers=headers)
            assert response.json()["via"] == via
        assert (await client.get("/api/profile", headers=session)).status_code == 200
        assert (await client.get("/api/profile", headers=bearer)).status_code == 401

        service = ServiceTokens(ring, issuer="orders").mint("billing")
        charged = await client.post(
            "/internal/charge", headers={"authorization": f"Bearer {service}"}
        )
        assert charged.json() == {"caller": "orders"}
        refused = await client.post("/internal/charge", headers=bearer)
        assert refused.status_code == 401
