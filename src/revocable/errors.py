"""The exceptions revocable raises, each with a stable machine ``code``.

The same codes appear in HTTP error bodies and in the auditor's findings::

    RevocableError                      revocable_error
    ├── ConfigurationError (ValueError) configuration_error
    │   └── InvalidStoreURL             invalid_store_url
    ├── InvalidInput (ValueError)       invalid_input
    │   └── MalformedToken              malformed_token
    ├── InvalidAccessToken              invalid_token   (``reason`` says why)
    ├── KeySourceUnavailable            key_source_unavailable
    └── StoreError                      store_error
        ├── StoreUnavailable            store_unavailable
        └── StoreCorrupted              store_corrupted

Validation never raises for a bad or unknown token (it answers "no session");
it raises ``StoreError`` when the store cannot confirm a session, so callers
fail closed.
"""

from __future__ import annotations

import re

__all__ = [
    "ConfigurationError",
    "InvalidAccessToken",
    "InvalidInput",
    "InvalidStoreURL",
    "KeySourceUnavailable",
    "MalformedToken",
    "RevocableError",
    "StoreCorrupted",
    "StoreError",
    "StoreUnavailable",
]


class RevocableError(Exception):
    """Base of every error revocable raises on purpose."""

    code = "revocable_error"


class ConfigurationError(RevocableError, ValueError):
    """A policy or store setting is invalid; the message says which and why."""

    code = "configuration_error"


class InvalidStoreURL(ConfigurationError):
    """A store URL that no store understands."""

    code = "invalid_store_url"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid store URL {redact_url(url)!r}: {reason}")
        self.reason = reason


class InvalidInput(RevocableError, ValueError):
    """An argument from the caller (user id, session data, client IP…) is unusable."""

    code = "invalid_input"


class MalformedToken(InvalidInput):
    """A presented token is not one revocable could have issued.

    The message never repeats the token.
    """

    code = "malformed_token"


class InvalidAccessToken(RevocableError):
    """A bearer token that must not be accepted; ``reason`` is a machine word.

    Reasons: ``malformed``, ``unsupported`` (algorithm, typ or crit), ``unknown_key``,
    ``bad_signature``, ``expired``, ``not_yet_valid``, ``wrong_issuer``,
    ``wrong_audience``, ``missing_claim``, ``revoked``. The message never repeats
    the token.
    """

    code = "invalid_token"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class KeySourceUnavailable(RevocableError):
    """Verification keys could not be had (a JWKS endpoint down, too slow, or not a JWKS).

    Nothing may be treated as authenticated: the web layer answers 503.
    ``retry_after`` is how many seconds until the next fetch will be tried.
    """

    code = "key_source_unavailable"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(RevocableError):
    """The store failed; nothing may be treated as authenticated."""

    code = "store_error"

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class StoreUnavailable(StoreError):
    """The store could not be reached or did not answer in time."""

    code = "store_unavailable"


class StoreCorrupted(StoreError):
    """The store returned a record revocable cannot decode."""

    code = "store_corrupted"


def redact_url(url: str) -> str:
    """A URL fit for a message or a log: any password masked, in the userinfo or the query.

    Text that is not ``scheme://…`` at all is not echoed (it may be a bare secret).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.replace("+", "").isalnum():
        return "<not a URL>"
    if "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in userinfo else rest
    rest = _SECRET_PARAM.sub(r"\1***", rest)
    return f"{scheme}://{rest}"


_SECRET_PARAM = re.compile(r"((?:^|[?&;])(?:password|passwd|pwd|pass|secret|token)=)[^&;#]*", re.I)
