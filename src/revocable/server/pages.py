"""The reference server's one HTML page: sign in / register, or your devices.

Plain forms only, no JavaScript: the CSRF token travels in a hidden field and
no credential is ever readable by a script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from revocable.core.refresh import RefreshFamily, family_handle
from revocable.core.sessions import SessionRecord
from revocable.fastapi import SessionDependencies
from revocable.starlette import request_session
from revocable.web import SessionAuth

if TYPE_CHECKING:  # the token layer (PyJWT) is optional
    from revocable.refresh import RefreshTokens

__all__ = ["pages_router"]

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{padding:.4rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}form.inline{display:inline}.note{color:#666}
.error{color:#b00020}input{margin:.2rem 0;padding:.3rem}button{padding:.3rem .8rem}
"""


def pages_router(auth: SessionAuth, refresh: RefreshTokens | None = None) -> APIRouter:
    """``GET /``: the sign-in page, or the signed-in user's sessions (and, with ``refresh``,
    their token logins) with revoke buttons."""
    deps = SessionDependencies(auth)
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def home(
        request: Request, session: SessionRecord | None = Depends(deps.optional)
    ) -> HTMLResponse:
        message = _message(
            request.query_params.get("error"), request.query_params.get("registered") == "1"
        )
        if session is None:
            return HTMLResponse(_page("Sign in", message + _SIGNED_OUT))
        csrf = escape(request_session(request).csrf_token or "")
        records = await auth.sessions.list_sessions(session.user_id)
        rows = "".join(_row(r, current=r.handle == session.handle, csrf=csrf) for r in records)
        name = escape(str(session.data.get("username", session.user_id)))
        apps = ""
        if refresh is not None:
            families = await refresh.list_families(session.user_id)
            apps = "".join(_family_row(f, csrf=csrf) for f in families)
            apps = (
                "<h2>Apps signed in with tokens</h2>\n<table><tr><th>signed in</th>"
                f"<th>last refreshed</th><th>expires</th><th></th></tr>\n{apps}</table>"
                if apps
                else ""
            )
        body = f"""{message}<p>Signed in as <strong>{name}</strong>.</p>
<h2>Your sessions</h2>
<table><tr><th>device</th><th>IP</th><th>created</th><th>last seen</th><th></th></tr>
{rows}</table>{apps}
<p><form class="inline" method="post" action="/auth/logout-all?keep_current=1">
<input type="hidden" name="csrf_token" value="{csrf}">
<button>Log out all other devices</button></form>
<form class="inline" method="post" action="/auth/logout">
<input type="hidden" name="csrf_token" value="{csrf}">
<button>Log out</button></form></p>"""
        return HTMLResponse(_page("Your sessions", body))

    return router


_SIGNED_OUT = """
<h2>Sign in</h2>
<form method="post" action="/auth/login">
<label>Username <input name="username" autocomplete="username" required></label><br>
<label>Password <input name="password" type="password" autocomplete="current-password"
required></label><br><button>Sign in</button></form>
<h2>Register</h2>
<form method="post" action="/auth/register">
<label>Username <input name="username" autocomplete="username" required></label><br>
<label>Password <input name="password" type="password" autocomplete="new-password"
minlength="8" required></label><br><button>Register</button></form>
<p class="note">Your session lives in an HttpOnly cookie that no script can read,
and every session can be revoked from the server at once.</p>"""


def _row(record: SessionRecord, *, current: bool, csrf: str) -> str:
    handle = escape(record.handle)
    action = (
        "<em>this device</em>"
        if current
        else f"""<form class="inline" method="post" action="/auth/sessions/{handle}/revoke">
<input type="hidden" name="csrf_token" value="{csrf}"><button>Revoke</button></form>"""
    )
    return (
        f"<tr><td>{escape(_device(record.user_agent))}</td>"
        f"<td>{escape(record.client_ip or '')}</td>"
        f"<td>{_when(record.created_at)}</td><td>{_when(record.last_seen)}</td>"
        f"<td>{action}</td></tr>\n"
    )


def _family_row(family: RefreshFamily, *, csrf: str) -> str:
    handle = escape(family_handle(family.family_id))
    return (
        f"<tr><td>{_when(family.created_at)}</td>"
        f"<td>{_when(family.rotated_at or family.created_at)}</td>"
        f"<td>{_when(family.expires_at)}</td>"
        f"""<td><form class="inline" method="post" action="/auth/families/{handle}/revoke">
<input type="hidden" name="csrf_token" value="{csrf}"><button>Revoke</button></form></td></tr>
"""
    )


def _device(user_agent: str | None) -> str:
    """A short device name from a user agent, for people (not for security decisions)."""
    ua = user_agent or ""
    browser = next(
        (b for b in ("Edg", "Firefox", "Chrome", "Safari", "curl", "python-httpx") if b in ua),
        "unknown browser",
    )
    system = next(
        (s for s in ("Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux") if s in ua), ""
    )
    name = {"Edg": "Edge", "python-httpx": "httpx"}.get(browser, browser)
    return f"{name} on {system}" if system else name


def _when(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _message(error: str | None, registered: bool) -> str:
    if error:
        return f'<p class="error">Could not do that: {escape(error.replace("_", " "))}.</p>'
    if registered:
        return '<p class="note">Registered. Sign in below.</p>'
    return ""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)} · revocable</title><style>{_STYLE}</style></head>
<body><h1>revocable</h1>{body}</body></html>"""
