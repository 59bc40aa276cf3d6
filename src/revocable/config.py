"""Frozen policies, validated when built. Durations are in seconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from revocable.errors import ConfigurationError

__all__ = ["SessionPolicy"]

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
