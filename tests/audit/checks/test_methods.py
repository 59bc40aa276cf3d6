"""C5's reading of an OpenAPI document."""

from __future__ import annotations

from revocable.audit.checks.methods import state_changing_gets, words


def test_words_split_every_naming_style() -> None:
    """camelCase, snake_case, kebab-case and paths all become lower-case words."""
    assert words("deleteUserAccount") == ["delete", "user", "account"]
    assert words("/users/{id}/log-out") == ["users", "id", "log", "out"]
    assert words("list_sessions_auth_sessions_get") == [
        "list",
        "sessions",
        "auth",
        "sessions",
        "get",
    ]
    assert words("HTTPLogout") == ["http", "logout"]


def test_state_changing_get_operations_are_flagged() -> None:
    """GET logout (by path), GET deleteUser (by operationId) fail; a described one warns."""
    document = {
        "paths": {
            "/logout": {"get": {"summary": "Bye"}},
            "/users/{id}": {"get": {"operationId": "deleteUser"}, "post": {"summary": "Update"}},
            "/settings": {"get": {"summary": "Settings page"}},
            "/me": {"get": {"description": "Returns the user; also revokes stale sessions."}},
            "/auth/sign-out": {"head": {}},
        }
    }
    found = [(f.severity, f.message.split(",")[0]) for f in state_changing_gets(document)]
    assert found == [
        ("fail", "the OpenAPI document declares GET /logout"),
        ("fail", "the OpenAPI document declares GET /users/{id}"),
        ("warn", "the OpenAPI document describes GET /me with 'revoke'; check it changes nothing"),
        ("fail", "the OpenAPI document declares HEAD /auth/sign-out"),
    ]


def test_reading_operations_and_junk_are_not_flagged() -> None:
    """List, show and settings pages pass; a document without paths yields nothing."""
    document = {
        "paths": {
            "/auth/sessions": {"get": {"operationId": "list_sessions_auth_sessions_get"}},
            "/": {"get": {"summary": "Home"}},
            "/x": "junk",
        }
    }
    assert state_changing_gets(document) == []
    assert state_changing_gets({"openapi": "3.1.0"}) == []
    assert state_changing_gets(["not", "a", "document"]) == []
