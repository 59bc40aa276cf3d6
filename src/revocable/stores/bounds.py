"""Bounds on store calls: a deadline for each, and a cap on how many run at once.

Deadlines come with one timer per store instead of one per call.

``asyncio.timeout()`` schedules a timer per call and cancels it on exit: on CPython's
event loop that is a ``TimerHandle`` pushed on and later popped off a heap ordered by
Python-level comparisons, about 5 µs per call, as much as all the rest revocable adds
to a session read. But every call of one store gets the same timeout, so deadlines
fall due in the order the calls started: a FIFO of calls in flight and a single timer
set for the oldest live one do the same job for a few hundred nanoseconds per call.

    deadlines = Deadlines(timeout)
    with deadlines.call():          # like ``async with asyncio.timeout(timeout):``
        return await op()           # TimeoutError once the deadline passes

Semantics follow ``asyncio.timeout``: when a call's deadline passes while it is still
inside the ``with`` block, its task is cancelled; the block then raises ``TimeoutError``
(the cancellation is withdrawn), unless the task was also cancelled by someone else,
in which case the ``CancelledError`` goes on. Stricter than ``asyncio.timeout``: a call
that swallowed the cancellation and finished anyway raises ``TimeoutError`` too, so
nothing is answered after its deadline. The bound is exact to the event loop's timer
resolution: the timer fires at the oldest live call's own deadline.
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

__all__ = ["Deadlines", "Limiter"]

_LIVE, _DONE, _EXPIRED = 0, 1, 2


class Deadlines:
    """The deadlines of one store's calls in flight (all with the same ``timeout``)."""

    __slots__ = ("_calls", "_loop", "_timer", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._calls: collections.deque[_Call] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def call(self) -> _Call:
        """A context manager bounding the current task's work inside it by ``timeout``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a store moved to another loop (tests)
            if self._timer is not None:
                self._timer.cancel()
            self._loop, self._timer = loop, None
            self._calls = collections.deque()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a store call must run inside an asyncio task")
        call = _Call(loop.time() + self.timeout, task)
        self._calls.append(call)
        if self._timer is None:
            self._timer = loop.call_at(call.deadline, self._expire)
        return call

    def _expire(self) -> None:
        """Cancel every live call whose deadline has passed; set the timer for the next."""
        self._timer = None
        loop, calls = self._loop, self._calls
        if loop is None:
            return
        now = loop.time()
        while calls:
            call = calls[0]
            if call.state == _LIVE:
                if call.deadline > now:
                    self._timer = loop.call_at(call.deadline, self._expire)
                    return
                call.state = _EXPIRED
                if call.task is not None:
                    call.task.cancel()
            calls.popleft()


class _Call:
    __slots__ = ("cancelling", "deadline", "state", "task")

    def __init__(self, deadline: float, task: asyncio.Task[object]) -> None:
        self.deadline = deadline
        self.task: asyncio.Task[object] | None = task
        self.state = _LIVE
        self.cancelling = 0

    def __enter__(self) -> None:
        self.cancelling = self.task.cancelling() if self.task is not None else 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self.task
        if self.state == _LIVE or task is None:
            # The timer drops it when it reaches the head of the queue; until then it
            # must not keep a finished request's task alive.
            self.state, self.task = _DONE, None
            return
        # Expired: withdraw our cancellation; time out unless someone else cancelled too.
        if task.uncancel() <= self.cancelling and (
            exc_type is None or issubclass(exc_type, asyncio.CancelledError)
        ):
            raise TimeoutError from exc


class Limiter:
    """At most ``size`` holders at once; the others wait their turn in order.

    ``asyncio.Semaphore`` with a synchronous fast path: ``try_acquire`` takes a
    free place without creating a coroutine, and only a caller that finds none
    awaits ``acquire``. Bound the wait from outside (``Deadlines.call``).
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a limiter needs at least one place")
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        """Take a free place now, if there is one."""
        if self._free > 0:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a place, waiting for one when all are taken."""
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a place just as we gave up: pass it on
            raise

    def release(self) -> None:
        """Give a place back: to the longest waiter, else to the pool of free ones."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
