"""``TokenAuth``: access tokens in web requests, by header or by cookie, with no framework.

Native clients send ``Authorization: Bearer <access token>``; browsers that
took the cookie transport carry the access token in an HttpOnly ``access``
cookie (``SameSite=Strict`` by default) and the refresh token in a
``SameSite=Strict`` cookie that is only ever sent to the refresh path. A
cookie travels by itself on cross-site requests, a header never does: so
requests authenticated by the access cookie are CSRF-checked exactly as
session requests are (the token is bound to the refresh family, which
survives rotation), and Bearer requests are not.

SameSite for the access cookie: ``strict`` (the default, as the seed says)
means a user who arrives from a link on another site looks signed out on that
first navigation; ``lax`` sends the cookie on top-level GET navigations from
other sites too, which is friendlier and still refuses cross-site POSTs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from revocable.access import AccessClaims, AccessTokens
from revocable.config import WebPolicy
from revocable.core.cookies import CookiePolicy, clear_cookie, find_cookie, set_cookie
from revocable.core.csrf import CsrfRejection, csrf_token
from revocable.errors import ConfigurationError, InvalidAccessToken
from revocable.web import csrf_rejection

__all__ = ["AccessResult", "TokenAuth", "TokenCookies"]


@dataclass(frozen=True, slots=True)
class TokenCookies:
    """How the cookie transport carries tokens."""

    access_same_site: Literal["strict", "lax"] = "strict"
    refresh_path: str = "/auth/refresh"
    """The only path the browser sends the refresh cookie to."""
    access_name: str = "access"
    refresh_name: str = "refresh"

    def __post_init__(self) -> None:
        if self.access_same_site not in ("strict", "lax"):
            raise ConfigurationError("the access cookie is SameSite 'strict' or 'lax'")
        if self.refresh_path == "/":
            raise ConfigurationError("scope the refresh cookie to the refresh path, not '/'")


@dataclass(frozen=True, slots=True)
class AccessResult:
    """An access token found on a request: verified claims, or why it was refused."""

    via: Literal["bearer", "cookie"]
    claims: AccessClaims | None
    error: InvalidAccessToken | None = None


class TokenAuth:
    """Access tokens carried by Bearer headers or cookies, with the cookie transport's
    Set-Cookie strings and CSRF tokens."""

    def __init__(
        self, access: AccessTokens, policy: WebPolicy, cookies: TokenCookies | None = None
    ) -> None:
        cookies = cookies or TokenCookies()
        secure = policy.cookie.secure
        self.access = access
        self.policy = policy
        self.access_policy = CookiePolicy(
            name=cookies.access_name, secure=secure, same_site=cookies.access_same_site
        )
        self.refresh_policy = CookiePolicy(
            name=cookies.refresh_name, secure=secure, same_site="strict", path=cookies.refresh_path
        )
        self.access_cookie_name = self.access_policy.cookie_name
        self.refresh_cookie_name = self.refresh_policy.cookie_name

    def resolve(
        self, authorization: str | None, cookie_header: str | bytes | None
    ) -> AccessResult | None:
        """The request's access token, verified: from the Authorization header if there is
        one (it is explicit), else from the access cookie; None when neither is sent."""
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                error = InvalidAccessToken("malformed", "use Authorization: Bearer <token>")
                return AccessResult("bearer", None, error)
            return self._verify("bearer", token.strip())
        cookie = find_cookie(cookie_header, self.access_cookie_name)
        return None if cookie is None else self._verify("cookie", cookie)

    def _verify(self, via: Literal["bearer", "cookie"], token: str) -> AccessResult:
        try:
            return AccessResult(via, self.access.verify(token))
        except InvalidAccessToken as exc:
            return AccessResult(via, None, exc)

    def access_cookie(self, token: str) -> str:
        """Set-Cookie for an access token, living exactly as long as the token."""
        return set_cookie(self.access_policy, token, max_age=int(self.access.policy.lifetime))

    def refresh_cookie(self, token: str, *, max_age: float) -> str:
        """Set-Cookie for a refresh token, living until its family's absolute expiry."""
        return set_cookie(self.refresh_policy, token, max_age=max(0, int(max_age)))

    def clearing_cookies(self) -> list[str]:
        """Set-Cookie values that delete both token cookies in the browser."""
        return [clear_cookie(self.access_policy), clear_cookie(self.refresh_policy)]

    def refresh_token_from(self, cookie_header: str | bytes | None) -> str | None:
        """The refresh cookie's value, if the browser sent one (only to the refresh path)."""
        return find_cookie(cookie_header, self.refresh_cookie_name)

    def csrf_token(self, claims: AccessClaims) -> str:
        """The CSRF token for requests authenticated by this access cookie."""
        return csrf_token(self.policy.signing_key, _binding(claims))

    def csrf_token_for_family(self, family_id: str) -> str:
        """The same token, for a family just issued (before any access token is read back)."""
        return csrf_token(self.policy.signing_key, f"family:{family_id}")

    def check_csrf(
        self,
        *,
        method: str,
        headers: Mapping[str, str],
        own_origin: str,
        claims: AccessClaims,
        presented_token: str | None,
    ) -> CsrfRejection | None:
        """None to let an access-cookie request through, else why it is refused."""
        return csrf_rejection(
            self.policy,
            method=method,
            headers=headers,
            own_origin=own_origin,
            binding=_binding(claims),
            presented_token=presented_token,
        )

    def __repr__(self) -> str:
        return (
            f"TokenAuth(access={self.access_cookie_name!r}, refresh={self.refresh_cookie_name!r})"
        )


def _binding(claims: AccessClaims) -> str:
    """A CSRF token is bound to the refresh family, which outlives each access token; a token
    minted without a family is bound to its subject."""
    return f"family:{claims.family_id}" if claims.family_id else f"subject:{claims.subject}"
