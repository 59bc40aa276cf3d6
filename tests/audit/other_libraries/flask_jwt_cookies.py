"""flask-jwt-extended with the JWTs in cookies, as its docs show, served by werkzeug's server.

From the docs ("JWT Locations: Cookies", "Refreshing Tokens", "JWT Revoking /
Blocklist", "Configuration Options") and their examples
(``csrf_protection_with_cookies.py``, ``implicit_refresh.py``,
``blocklist_database.py``):

* ``JWT_TOKEN_LOCATION = ["cookies"]``; ``JWT_COOKIE_SECURE = False`` as in
  every example ("In production, this should always be set to True");
  ``JWT_COOKIE_CSRF_PROTECT`` (default True): login also sets the non-HttpOnly
  ``csrf_access_token``/``csrf_refresh_token`` cookies, and every POST, PUT,
  PATCH or DELETE to a ``@jwt_required()`` view must echo the value in
  ``X-CSRF-TOKEN`` (double submit); ``JWT_REFRESH_COOKIE_PATH =
  "/token/refresh"`` so the refresh cookie goes only there. Defaults kept:
  ``JWT_ACCESS_TOKEN_EXPIRES`` 15 minutes, refresh 30 days,
  ``JWT_COOKIE_SAMESITE = None`` (no SameSite attribute), HS256.
* ``POST /token/auth`` checks the password and sets both cookies
  (``set_access_cookies``, ``set_refresh_cookies``); ``POST /token/refresh``
  (``@jwt_required(refresh=True)``) sets a new access cookie and leaves the
  refresh token as it is (no rotation); ``GET /api/example`` is protected.
* logout: ``POST /logout`` answers with ``unset_jwt_cookies``, nothing else, as
  the cookie examples do. ``revoke=True`` is the blocklist page instead:
  ``@jwt.token_in_blocklist_loader`` plus ``DELETE /logout`` under
  ``@jwt_required()`` that blocklists the access token's ``jti`` (the docs
  use Redis or a database; a set stands in here) and unsets the cookies. The
  refresh token is not revoked: the docs leave that to a second call from the
  front end. That page's examples also set ``JWT_ACCESS_TOKEN_EXPIRES`` to one
  hour (``access_expires``).
* ``GET /`` is a page with the docs' JavaScript (``fetch`` to log in, the CSRF
  value read from ``document.cookie``), for the browser check (C2) to drive.

There is no "log out all devices" in the library (a blocklist holds token ids,
not users), so the app has none.

Served over real HTTP by werkzeug's ``make_server`` (threaded) in a thread:
the server ``flask run`` uses, already installed with Flask, so the auditor
sees Flask's own Set-Cookie and status lines with no WSGI-to-ASGI adapter in
between (an adapter under uvicorn would work too, but would put a translation
layer between the library and the wire that no Flask user has).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)
from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["TARGET_TOML", "TARGET_TOML_BLOCKLIST", "TOKENS_TOML", "make_app", "served"]

TARGET_TOML = """
# flask-jwt-extended, JWTs in cookies with double-submit CSRF cookies.
session_cookie = "access_token_cookie"   # the login sets four cookies; this one signs in
logout = "/logout"
logout_all = false                       # the library has none: C4 fails for want of one
protected = "/api/example"

[login]
path = "/token/auth"
body = "json"

[csrf]
source = "cookie"            # the readable csrf_access_token cookie the login sets...
name = "csrf_access_token"
header = "X-CSRF-TOKEN"      # ...echoed in this header

[browser]
page = "/"
"""
"""The target description of the app as the cookie docs show it."""

TOKENS_TOML = """
[tokens]                     # C7, C8: both JWTs come as cookies from the login
token = "/token/auth"
refresh = "/token/refresh"
transport = "cookie"
access_cookie = "access_token_cookie"
refresh_cookie = "refresh_token_cookie"
refresh_csrf_cookie = "csrf_refresh_token"   # the refresh needs this cookie's value...
refresh_csrf_header = "X-CSRF-TOKEN"         # ...echoed in this header (double submit)
"""
"""The ``[tokens]`` table (C3's refresh replay, C7, C8); append it to either target.

``POST /token/refresh`` is ``@jwt_required(refresh=True)``, so it wants the
``csrf_refresh_token`` cookie's value in ``X-CSRF-TOKEN``: the two
``refresh_csrf_*`` lines say so, and the auditor's refreshes go through.
"""

TARGET_TOML_BLOCKLIST = TARGET_TOML.replace(
    'logout = "/logout"', 'logout = { path = "/logout", method = "DELETE" }'
)
"""The same with the blocklist page's logout (``DELETE /logout``)."""

_PAGE = """<!doctype html>
<title>Sign in</title>
<form id="login">
  <input name="username" autocomplete="username">
  <input name="password" type="password" autocomplete="current-password">
  <button>Sign in</button>
</form>
<p id="out"></p>
<script>
function getCookie(name) {
  const value = `; ${document.cookie}`;
  const parts = value.split(`; ${name}=`);
  if (parts.length === 2) return parts.pop().split(';').shift();
}
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await fetch('/token/auth', {
    method: 'post',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username: form.get('username'), password: form.get('password')}),
  });
  const headers = {'X-CSRF-TOKEN': getCookie('csrf_access_token')};
  const answer = await fetch('/api/example', {headers});
  document.getElementById('out').textContent = JSON.stringify(await answer.json());
});
</script>
"""


def make_app(
    users: Mapping[str, str],
    *,
    revoke: bool = False,
    access_expires: timedelta | None = None,
    hardened: bool = False,
) -> Flask:
    """The docs' app; ``users`` maps usernames to passwords; ``revoke`` adds the blocklist.

    ``hardened``: the cookie options the docs recommend for production
    (``JWT_COOKIE_SECURE = True``) plus ``JWT_COOKIE_SAMESITE = "Lax"``.
    """
    app = Flask(__name__)
    app.config["JWT_TOKEN_LOCATION"] = ["cookies"]
    app.config["JWT_COOKIE_SECURE"] = hardened  # False in the docs' examples; True in production
    if hardened:
        app.config["JWT_COOKIE_SAMESITE"] = "Lax"
    app.config["JWT_REFRESH_COOKIE_PATH"] = "/token/refresh"
    app.config["JWT_COOKIE_CSRF_PROTECT"] = True
    app.config["JWT_SECRET_KEY"] = secrets.token_urlsafe(32)  # "Change this!"
    if access_expires is not None:
        app.config["JWT_ACCESS_TOKEN_EXPIRES"] = access_expires
    jwt = JWTManager(app)
    blocklist: set[str] = set()

    if revoke:

        @jwt.token_in_blocklist_loader
        def check_if_token_revoked(jwt_header: dict[str, Any], jwt_payload: dict[str, Any]) -> bool:
            return jwt_payload["jti"] in blocklist

    def index() -> str:
        return _PAGE

    def login() -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        username, password = body.get("username"), body.get("password")
        expected = users.get(username) if isinstance(username, str) else None
        if (
            expected is None
            or not isinstance(password, str)
            or not hmac.compare_digest(expected.encode(), password.encode())
        ):
            return jsonify({"login": False}), 401
        response = jsonify({"login": True})
        set_access_cookies(response, create_access_token(identity=username))
        set_refresh_cookies(response, create_refresh_token(identity=username))
        return response, 200

    def refresh() -> tuple[Response, int]:
        response = jsonify({"refresh": True})
        set_access_cookies(response, create_access_token(identity=get_jwt_identity()))
        return response, 200

    def logout() -> Response:
        response = jsonify({"msg": "logout successful"})
        unset_jwt_cookies(response)
        return response

    def revoke_and_logout() -> Response:
        blocklist.add(get_jwt()["jti"])
        response = jsonify(msg="JWT revoked")
        unset_jwt_cookies(response)
        return response

    def protected() -> tuple[Response, int]:
        return jsonify({"hello": f"from {get_jwt_identity()}"}), 200

    # The decorators applied by hand (jwt_required is typed as returning Any).
    app.add_url_rule("/", view_func=index, methods=["GET"])
    app.add_url_rule("/token/auth", view_func=login, methods=["POST"])
    app.add_url_rule(
        "/token/refresh", view_func=jwt_required(refresh=True)(refresh), methods=["POST"]
    )
    if revoke:
        app.add_url_rule("/logout", view_func=jwt_required()(revoke_and_logout), methods=["DELETE"])
    else:
        app.add_url_rule("/logout", view_func=logout, methods=["POST"])
    app.add_url_rule("/api/example", view_func=jwt_required()(protected), methods=["GET"])
    return app


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without the access log line per request (errors still show)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def served(app: WSGIApplication) -> Iterator[str]:
    """Serve a WSGI app with werkzeug's threaded server on a free loopback port; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
