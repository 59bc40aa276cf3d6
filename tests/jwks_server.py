"""A real JWKS endpoint for tests: served by uvicorn on loopback, counting its requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from revocable.keys import KeyRing
from tests.servers import Serve


class JWKSServer:
    """``/jwks.json`` answers ``document`` with ``status`` after ``delay`` seconds.

    ``/moved`` redirects to it on the same origin, ``/away`` to another host name
    (``localhost`` rather than ``127.0.0.1``). Every request to any path is counted.
    """

    def __init__(self) -> None:
        self.document = b'{"keys": []}'
        self.status = 200
        self.delay = 0.0
        self.chunked = False
        self.requests = 0
        self.app = Starlette(
            routes=[
                Route("/jwks.json", self.jwks),
                Route("/moved", self.moved),
                Route("/away", self.away),
            ]
        )

    def publish(self, *rings: KeyRing, extra: list[dict[str, Any]] | None = None) -> None:
        """Serve the public keys of ``rings`` (plus any ``extra`` JWK entries)."""
        keys: list[Any] = [jwk for ring in rings for jwk in ring.jwks()["keys"]]
        self.document = json.dumps({"keys": keys + (extra or [])}).encode()

    async def jwks(self, request: Request) -> Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.chunked:  # no Content-Length: the client must count while it reads

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(self.document), 4096):
                    yield self.document[start : start + 4096]

            return StreamingResponse(chunks(), self.status, media_type="application/json")
        return Response(self.document, self.status, media_type="application/json")

    async def moved(self, request: Request) -> Response:
        self.requests += 1
        return RedirectResponse("/jwks.json", status_code=307)

    async def away(self, request: Request) -> Response:
        self.requests += 1
        return RedirectResponse(f"http://localhost:{request.url.port}/jwks.json", status_code=307)


@pytest.fixture(name="jwks_server")
async def jwks_server_fixture(serve: Serve) -> tuple[JWKSServer, str]:
    """A running JWKS server and its base URL."""
    server = JWKSServer()
    return server, await serve(server.app)
