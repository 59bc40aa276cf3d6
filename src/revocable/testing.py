"""Helpers for testing code that uses revocable: a hand-driven clock and a memory setup.

clock = ManualClock()
sessions = memory_sessions(clock=clock)
issued = await sessions.create("alice")
clock.advance(8 * 24 * 3600)
assert await sessions.validate(issued.token) is None
"""

from __future__ import annotations

from revocable.config import SessionPolicy
from revocable.sessions import SessionManager
from revocable.stores.memory import MemoryStore

__all__ = ["ManualClock", "memory_sessions"]


class ManualClock:
    """A clock that moves only when told to. Call it to read the time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds


def memory_sessions(
    policy: SessionPolicy = SessionPolicy.DEFAULT, *, clock: ManualClock | None = None
) -> SessionManager:
    """A ``SessionManager`` on a fresh ``MemoryStore``; store and manager share ``clock``."""
    clock = clock or ManualClock()
    return SessionManager(MemoryStore(clock=clock), policy, clock=clock)
