"""``SessionAuth``: what every web adapter needs, with no framework imported.

It joins a ``SessionManager`` to a ``WebPolicy``: which cookie carries the
session, the Set-Cookie strings for login and logout, the CSRF token of a
session and the CSRF decision for a request. The Starlette middleware and the
FastAPI dependencies are thin shells around it, and a sync adapter can be too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revocable.config import WebPolicy
from revocable.core.cookies import clear_cookie, find_cookie, set_cookie
from revocable.core.csrf import CsrfRejection, check_request, csrf_token
from revocable.core.sessions import SessionRecord
from revocable.sessions import IssuedSession, SessionManager

__all__ = ["SessionAuth"]


class SessionAuth:
    """Sessions carried in a cookie, with CSRF defence for state-changing requests."""

    def __init__(self, sessions: SessionManager, policy: WebPolicy) -> None:
        self.sessions = sessions
        self.policy = policy
        self.cookie_name = policy.cookie.cookie_name

    def token_from(self, cookie_header: str | bytes | None) -> str | None:
        """The session token in a Cookie header, if any (not yet validated)."""
        return find_cookie(cookie_header, self.cookie_name)

    def session_cookie(self, issued: IssuedSession) -> str:
        """Set-Cookie for a new or rotated session, living as long as the session may."""
        max_age = max(0, int(issued.record.expires_at - issued.record.created_at))
        return set_cookie(self.policy.cookie, issued.token, max_age=max_age)

    def clearing_cookie(self) -> str:
        """Set-Cookie that deletes the session cookie in the browser."""
        return clear_cookie(self.policy.cookie)

    def csrf_token(self, record: SessionRecord) -> str:
        """The CSRF token for forms and scripts of this session."""
        return csrf_token(self.policy.signing_key, _binding(record))

    def check_csrf(
        self,
        *,
        method: str,
        headers: Mapping[str, str],
        own_origin: str,
        record: SessionRecord,
        presented_token: str | None,
    ) -> CsrfRejection | None:
        """None to let the request through, else why it is refused (``.value`` is the code)."""
        return csrf_rejection(
            self.policy,
            method=method,
            headers=headers,
            own_origin=own_origin,
            binding=_binding(record),
            presented_token=presented_token,
        )

    def __repr__(self) -> str:
        return f"SessionAuth(store={self.sessions.store.name!r}, cookie={self.cookie_name!r})"


def _binding(record: SessionRecord) -> str:
    """What a CSRF token is bound to: the session, and its last password proof."""
    return f"{record.handle}:{record.authenticated_at!r}"


def csrf_rejection(
    policy: WebPolicy,
    *,
    method: str,
    headers: Mapping[str, str],
    own_origin: str,
    binding: str,
    presented_token: str | None,
) -> CsrfRejection | None:
    """The CSRF decision for a request a cookie authenticates, whichever credential the
    cookie carries (a session, an access token): ``binding`` names what the token is bound to."""
    return check_request(
        method=method,
        origin=headers.get("origin"),
        referer=headers.get("referer"),
        sec_fetch_site=headers.get("sec-fetch-site"),
        own_origin=policy.public_origin or own_origin,
        trusted_origins=policy.trusted_origins,
        keys=policy.csrf_keys,
        session_binding=binding,
        presented_token=presented_token,
    )


def error_body(code: str, detail: str) -> dict[str, Any]:
    """The JSON error shape every HTTP error of revocable uses."""
    return {"error": code, "detail": detail}
