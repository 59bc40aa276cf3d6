"""Apps built on other auth libraries, written the way those libraries' own docs show.

The auditor must work on any app, not only revocable's. Each module here is one
small app and the target description (TOML, as a user would write it) that the
auditor gets; ``tests/audit/test_other_libraries.py`` audits each one over real
HTTP and asserts, per checklist item, what the auditor should find given how
the library works. ``docs/audit-findings.md`` records the results.

Modules, one app each::

    starlette_sessions.py   Starlette's SessionMiddleware (signed cookie sessions)
    flask_jwt_cookies.py    flask-jwt-extended with JWTs in cookies (WSGI, werkzeug's server)
    fastapi_users_cookie.py fastapi-users: cookie transport, JWT or database strategy
"""
