"""Request ids and a structured access log that never holds a cookie, token or query string."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from revocable.starlette import SCOPE_KEY, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

access_log = logging.getLogger("revocable.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class AccessLog:
    """Gives every request an id (``X-Request-ID``) and logs one JSON line when it ends.

    The line holds the method, the path (never the query string), the status,
    the duration, the client IP and the user id when signed in. Headers are
    never logged, so no cookie or token can reach the log.
    """

    def __init__(self, app: Any, logger: logging.Logger = access_log) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        status = 500  # what the client sees if the app dies before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            session = scope.get(SCOPE_KEY)
            record = getattr(session, "record", None)
            peer = scope.get("client")
            line = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": getattr(session, "client_ip", None) or (peer[0] if peer else None),
                "user_id": getattr(record, "user_id", None),
            }
            self.logger.info(json.dumps(line, ensure_ascii=False))
