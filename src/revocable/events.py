"""Security events: what happened to whose session, with a stable schema and no credential.

Subscribe with any callable; by default events are logged as JSON lines on the
``revocable.security`` logger (INFO). A subscriber that raises is logged and
skipped: auditing never breaks a login.

Schema (``SecurityEvent.as_dict()``), stable across releases::

    {"event": "session.created", "at": 1795759529.55, "user_id": "…",
     "session": "<public handle>", "ip": "203.0.113.7", "reason": null}

Kinds: ``session.created``, ``session.revoked``, ``session.rotated``,
``sessions.revoked_all``, ``login.failed``, ``login.rate_limited``,
``csrf.rejected``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EventHook", "SecurityEvent", "SecurityEvents", "log_event"]

security_log = logging.getLogger("revocable.security")


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security-relevant fact. It holds handles and ids, never a token or password."""

    event: str
    user_id: str | None = None
    session: str | None = None
    """The session's public handle."""
    ip: str | None = None
    reason: str | None = None
    """A machine code (``csrf_origin_mismatch``, ``invalid_credentials``, …) or a count."""
    at: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """The event in the stable schema."""
        return {
            "event": self.event,
            "at": self.at,
            "user_id": self.user_id,
            "session": self.session,
            "ip": self.ip,
            "reason": self.reason,
        }


EventHook = Callable[[SecurityEvent], None]


def log_event(event: SecurityEvent) -> None:
    """The default subscriber: one JSON line on the ``revocable.security`` logger."""
    security_log.info(json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True))


class SecurityEvents:
    """Fans events out to subscribers; ``emit`` never raises."""

    def __init__(self, *subscribers: EventHook, clock: Callable[[], float] = time.time) -> None:
        self._subscribers = list(subscribers or (log_event,))
        self._clock = clock

    def subscribe(self, hook: EventHook) -> None:
        """Add a subscriber (for example, a SIEM forwarder or a test's list.append)."""
        self._subscribers.append(hook)

    def emit(
        self,
        event: str,
        *,
        user_id: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Build the event and hand it to every subscriber."""
        record = SecurityEvent(event, user_id, session, ip, reason, self._clock())
        for hook in self._subscribers:
            try:
                hook(record)
            except Exception:  # an audit sink failing must not fail the request
                security_log.exception("security event subscriber %r failed", hook)
