"""Starlette's built-in ``SessionMiddleware``, used as its docs and a typical tutorial do.

The docs (starlette.io, Middleware, ``SessionMiddleware``): "Adds signed
cookie-based HTTP sessions. Session information is readable but not
modifiable", through the ``request.session`` dict; options ``secret_key``,
``session_cookie="session"``, ``max_age`` (14 days), ``path="/"``,
``same_site="lax"``, ``https_only=False``, ``domain``. The docs show no
login or logout; the usual tutorial adds them on top: an HTML login form, a
``POST /login`` that puts the user in ``request.session`` and redirects, a
``POST /logout`` that calls ``request.session.clear()``, and pages that
redirect to the form when nobody is signed in. There is no way to "log out all
devices" (the session lives only in the cookie; the one lever is changing
``secret_key``, which logs out every user), so the app has none.

What the cookie is: ``base64(json(session)) + "." + timestamp + "." + HMAC``
(itsdangerous' ``TimestampSigner``, SHA-1). Nothing is kept on the server, so
``session.clear()`` can only ask the browser to forget its copy; the copy
itself stays valid until ``max_age`` runs out.

Defaults are kept as a tutorial keeps them (``https_only=False``); passwords
are compared in plain text as tutorials do (the auditor does not look at
hashing, and a hash would only slow its sampling down).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from html import escape

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["TARGET_TOML", "make_app"]

TARGET_TOML = """
# Starlette SessionMiddleware: an HTML form login, a form logout, a page for signed-in users.
session_cookie = "session"
logout = "/logout"
logout_all = false         # the library has none: C4 fails for want of one
protected = "/dashboard"   # 200 signed in; a redirect to /login otherwise

[login]
path = "/login"
body = "form"
username_field = "username"
password_field = "password"

[browser]
page = "/login"            # C2: the login form, driven in a real browser
"""
"""The target description a user of this app would write (no CSRF token: the app has none)."""

_FORM = """<!doctype html>
<title>Sign in</title>
<h1>Sign in</h1>{error}
<form method="post" action="/login">
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button>Sign in</button>
</form>
"""

_DASHBOARD = """<!doctype html>
<title>Dashboard</title>
<h1>Hello, {user}</h1>
<form method="post" action="/logout"><button>Sign out</button></form>
"""


def make_app(users: Mapping[str, str], *, secret_key: str | None = None) -> Starlette:
    """The tutorial app; ``users`` maps usernames to passwords."""

    async def login_page(request: Request) -> Response:
        if "user" in request.session:
            return RedirectResponse("/dashboard", status_code=303)
        return HTMLResponse(_FORM.format(error=""))

    async def login(request: Request) -> Response:
        form = await request.form()
        username, password = form.get("username"), form.get("password")
        expected = users.get(username) if isinstance(username, str) else None
        if (
            expected is None
            or not isinstance(password, str)
            or not hmac.compare_digest(expected.encode(), password.encode())
        ):
            error = "<p>Wrong username or password.</p>"
            return HTMLResponse(_FORM.format(error=error), status_code=401)
        request.session["user"] = username
        return RedirectResponse("/dashboard", status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def dashboard(request: Request) -> Response:
        user = request.session.get("user")
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return HTMLResponse(_DASHBOARD.format(user=escape(str(user))))

    return Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/dashboard", dashboard, methods=["GET"]),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32))
        ],
    )
