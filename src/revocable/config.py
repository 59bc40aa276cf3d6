"""Frozen policies, validated when built. Durations are in seconds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from revocable.core.clientip import IPNetwork, parse_networks
from revocable.core.cookies import CookiePolicy
from revocable.core.csrf import normalise_origin
from revocable.errors import ConfigurationError

__all__ = ["SessionPolicy", "WebPolicy"]

_DAY = 24 * 3600.0
_MAX_LIFETIME = 400 * _DAY  # browsers cap cookie lifetimes at 400 days


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions live and how often they are written back.

    ``touch_interval`` throttles sliding expiry: a session's ``last_seen`` (and
    idle deadline) is written at most once per interval, so a busy user costs
    one store read per request, not a read and a write.
    """

    absolute_lifetime: float = 7 * _DAY
    idle_timeout: float | None = None
    touch_interval: float = 60.0
    max_data_bytes: int = 4096
    max_user_agent_length: int = 512
    sweep_interval: float = 600.0
    """SQL stores delete expired rows at most this often (from ``create``)."""

    DEFAULT: ClassVar[SessionPolicy]
    STRICT: ClassVar[SessionPolicy]

    def __post_init__(self) -> None:
        if not 0 < self.absolute_lifetime <= _MAX_LIFETIME:
            raise ConfigurationError(
                "absolute_lifetime must be between 0 and 400 days (browsers drop longer cookies)"
            )
        if self.idle_timeout is not None and not 0 < self.idle_timeout <= self.absolute_lifetime:
            raise ConfigurationError(
                "idle_timeout must be positive and no longer than absolute_lifetime, or None"
            )
        if self.touch_interval < 0:
            raise ConfigurationError("touch_interval must be 0 (write on every request) or more")
        if self.idle_timeout is not None and self.touch_interval >= self.idle_timeout / 2:
            raise ConfigurationError(
                "touch_interval must be under half of idle_timeout, or an active user's "
                "session could reach its idle deadline between two writes"
            )
        if not 0 < self.max_data_bytes <= 65536:
            raise ConfigurationError("max_data_bytes must be between 1 and 65536")
        if self.max_user_agent_length < 0:
            raise ConfigurationError("max_user_agent_length must be 0 or more")
        if self.sweep_interval <= 0:
            raise ConfigurationError("sweep_interval must be positive")


SessionPolicy.DEFAULT = SessionPolicy()
SessionPolicy.STRICT = SessionPolicy(
    absolute_lifetime=12 * 3600.0, idle_timeout=30 * 60.0, touch_interval=60.0
)


@dataclass(frozen=True, slots=True, init=False)
class WebPolicy:
    """How the web layer carries sessions: the cookie, CSRF keys and trusted origins.

    ``csrf_keys`` are ordered oldest to newest: tokens are signed with the
    newest and accepted under any, so a key can rotate without breaking open
    forms. Each key is at least 32 random bytes and is used for CSRF only.
    ``public_origin`` (``https://app.example``) is the app's own origin as
    browsers see it; leave it None to take it from each request's scheme and
    Host, which is right unless a proxy changes them. ``trusted_proxies``
    (addresses or CIDR networks) are the reverse proxies whose
    ``X-Forwarded-For`` is believed; by default none is.
    """

    csrf_keys: tuple[bytes, ...] = field(repr=False)
    cookie: CookiePolicy
    trusted_origins: frozenset[str]
    public_origin: str | None
    csrf_header: str
    csrf_field: str
    max_form_bytes: int
    trusted_proxies: tuple[IPNetwork, ...]

    def __init__(
        self,
        csrf_keys: Sequence[bytes],
        *,
        cookie: CookiePolicy | None = None,
        trusted_origins: Collection[str] = (),
        public_origin: str | None = None,
        csrf_header: str = "x-csrf-token",
        csrf_field: str = "csrf_token",
        max_form_bytes: int = 64 * 1024,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        keys = tuple(csrf_keys)
        if not keys or not all(isinstance(k, bytes) and len(k) >= 32 for k in keys):
            raise ConfigurationError(
                "csrf_keys needs at least one key of 32 or more random bytes "
                "(secrets.token_bytes(32)), oldest first"
            )
        origins = {normalise_origin(o) for o in trusted_origins}
        if None in origins:
            raise ConfigurationError("trusted_origins must be http(s)://host[:port] origins")
        own = None if public_origin is None else normalise_origin(public_origin)
        if public_origin is not None and own is None:
            raise ConfigurationError("public_origin must be an http(s)://host[:port] origin")
        if max_form_bytes <= 0:
            raise ConfigurationError("max_form_bytes must be positive")
        try:
            proxies = parse_networks(trusted_proxies)
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None
        object.__setattr__(self, "csrf_keys", keys)
        object.__setattr__(self, "cookie", cookie or CookiePolicy())
        object.__setattr__(self, "trusted_origins", frozenset(o for o in origins if o))
        object.__setattr__(self, "public_origin", own)
        object.__setattr__(self, "csrf_header", csrf_header.lower())
        object.__setattr__(self, "csrf_field", csrf_field)
        object.__setattr__(self, "max_form_bytes", max_form_bytes)
        object.__setattr__(self, "trusted_proxies", proxies)

    @property
    def signing_key(self) -> bytes:
        """The newest CSRF key, which signs new tokens."""
        return self.csrf_keys[-1]
