"""Apps with a login page for C2: ``broken_apps.make_app`` plus a page that signs in with fetch().

``make_page_app(store, faults)`` serves the API app of ``broken_apps`` (so C1, C3-C6
and C9 behave exactly as there) and, at ``/``, a page whose script posts the login
form to ``/login`` as JSON, keeps the CSRF token in sessionStorage (allowed: a
script has to send it) and then, by ``store``:

* ``"nothing"``: stores nothing else (C2 passes);
* ``"local"``: puts the session id (the ``token`` field of the login answer) in
  localStorage (C2 fails: ``session_id_in_storage``);
* ``"session"``: puts a JWT (the ``access_token`` field) in sessionStorage (C2
  fails: ``jwt_in_storage``).

With ``Faults(cookie_flags=True)`` the session cookie lacks HttpOnly, so
``document.cookie`` reads it: C1 and C2 both fail. With ``form=False`` the page
has no ``<form>``: two inputs and a clickable ``<span>`` that the target must
name (``SCRIPTED_TARGET``).

The login answer carries ``token`` and ``access_token`` because a small ASGI
wrapper adds them, as apps that hand tokens to their pages do. The page also
asks another origin for an image and a fetch: the auditor's browser must block
both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from revocable.audit.browser import unavailable
from revocable.starlette import Message, Receive, Scope, Send
from tests.audit.broken_apps import TARGET, Faults, make_app
from tests.servers import missing

Store = Literal["nothing", "local", "session"]

PAGE_TARGET: dict[str, Any] = {**TARGET, "browser": {"page": "/"}}
"""The target description of every app here: ``broken_apps.TARGET`` and the page."""

_STORE = {
    "nothing": "",
    "local": 'localStorage.setItem("token", body.token);',
    "session": 'sessionStorage.setItem("auth", JSON.stringify({jwt: body.access_token}));',
}

SCRIPTED_TARGET: dict[str, Any] = {
    **TARGET,
    "browser": {"page": "/", "username": "#user", "password": "#pw", "submit": "#go"},
}
"""The target of ``make_page_app(form=False)``: no form, so the fields are named."""

_FORM = """<form id="login">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password"></label>
<button>Sign in</button>
</form>"""
_SUBMIT = """document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await signIn(form.get("username"), form.get("password"));
});"""
_SCRIPTED = """<div><input id="user"> <input id="pw" type="password">
<span id="go" role="button">Sign in</span></div>"""
_CLICK = """document.getElementById("go").addEventListener("click", () => signIn(
  document.getElementById("user").value, document.getElementById("pw").value));"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in</h1>
FORM
<p id="status"></p>
<img src="https://cdn.audit-test.invalid/pixel.png" alt="">
<script>
fetch("https://api.audit-test.invalid/track", {mode: "no-cors"}).catch(() => {});
async function signIn(username, password) {
  const answer = await fetch("/login", {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({username, password}),
  });
  const body = await answer.json();
  if (answer.ok) {
    sessionStorage.setItem("csrf", body.csrf_token);
    STORE
  }
  document.getElementById("status").textContent = answer.ok ? "Signed in" : "Try again";
}
SUBMIT
</script>
</body></html>
"""


def require_browser() -> None:
    """Fail on CI, skip elsewhere, when Playwright or chromium is missing (C2 would be n/a)."""
    why = unavailable()
    if why:
        missing(why)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(subject: str, key: bytes) -> str:
    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": subject, "iat": now, "exp": now + 600}).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


class TokensInLoginAnswer:
    """ASGI: add ``token`` (the session id) and ``access_token`` (a JWT) to /login's JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.key = secrets.token_bytes(32)
        self.issued: list[str] = []
        """Every token added to an answer (tests look for them in reports)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/login":
            await self.app(scope, receive, send)
            return
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in started["headers"] if k != b"content-length"]
            cookies = [v.decode() for k, v in headers if k == b"set-cookie"]
            sid = next((c.split(";")[0].split("=", 1)[1] for c in cookies), "")
            if started["status"] == 200 and sid:
                data = json.loads(body)
                data["token"] = sid
                data["access_token"] = _jwt(str(data.get("user")), self.key)
                self.issued += [sid, data["access_token"]]
                body = json.dumps(data).encode()
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**started, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)


def make_page_app(
    store: Store = "nothing", faults: Faults | None = None, *, form: bool = True
) -> Starlette:
    api = make_app(faults)
    script = (
        PAGE.replace("STORE", _STORE[store])
        .replace("FORM", _FORM if form else _SCRIPTED)
        .replace("SUBMIT", _SUBMIT if form else _CLICK)
    )

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(script)

    wrapper = TokensInLoginAnswer(api)
    app = Starlette(routes=[Route("/", page), Mount("/", app=wrapper)])
    app.state.auth = api.state.auth
    app.state.tokens = wrapper
    return app
