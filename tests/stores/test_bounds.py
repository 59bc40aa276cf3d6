"""Deadlines and the in-flight limiter that bound every store call (real event loop, real time)."""

from __future__ import annotations

import asyncio
import time

import pytest

from revocable.stores.bounds import Deadlines, Limiter

SLACK = 0.1
"""Seconds a deadline may be late by, on a busy machine."""


async def _hang() -> None:
    await asyncio.sleep(3600)


async def test_a_call_past_its_deadline_times_out_and_the_task_is_not_left_cancelled() -> None:
    """A hung call raises TimeoutError at its deadline; the task carries no cancellation."""
    deadlines = Deadlines(0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError), deadlines.call():
        await _hang()
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.2 + SLACK
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # still runnable: nothing cancels it later


async def test_calls_in_time_answer_and_leave_nothing_behind() -> None:
    """Calls that finish in time return their value, hold no task, and the timer then lets
    them all go."""
    deadlines = Deadlines(0.05)
    for i in range(1000):
        with deadlines.call():
            await asyncio.sleep(0)
            assert i >= 0
    assert len(deadlines._calls) == 1000  # finished, waiting for the timer to drop them
    assert all(call.task is None for call in deadlines._calls)  # no finished task kept alive
    await asyncio.sleep(0.05 + SLACK)
    assert len(deadlines._calls) == 0
    assert deadlines._timer is None


async def test_each_call_expires_at_its_own_deadline() -> None:
    """Of calls started at different times, each times out one timeout after its own start,
    and a call that finished in between does not delay the others'."""
    deadlines = Deadlines(0.3)
    ended: dict[str, float] = {}
    started = time.monotonic()

    async def call(name: str, delay: float, work: float) -> None:
        await asyncio.sleep(delay)
        try:
            with deadlines.call():
                await asyncio.sleep(work)
        except TimeoutError:
            ended[name] = time.monotonic() - started

    await asyncio.gather(call("a", 0.0, 10), call("quick", 0.05, 0.01), call("b", 0.15, 10))
    assert set(ended) == {"a", "b"}
    assert 0.3 <= ended["a"] < 0.3 + SLACK
    assert 0.45 <= ended["b"] < 0.45 + SLACK


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    """A task cancelled by someone else inside a call gets CancelledError, not TimeoutError,
    before or at the deadline."""
    deadlines = Deadlines(0.2)

    async def call() -> None:
        with deadlines.call():
            await _hang()

    task = asyncio.create_task(call())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Both at once: the deadline passes and someone else cancels in the same loop turn.
    both = asyncio.create_task(call())
    await asyncio.sleep(0.01)
    deadlines._calls[-1].deadline = asyncio.get_running_loop().time()
    deadlines._expire()
    both.cancel()
    with pytest.raises(asyncio.CancelledError):
        await both


async def test_a_call_that_swallows_the_cancellation_still_times_out() -> None:
    """An operation that catches the cancellation and answers anyway is refused: nothing is
    answered after the deadline."""
    deadlines = Deadlines(0.1)

    async def stubborn() -> str:
        try:
            await _hang()
        except asyncio.CancelledError:
            return "late answer"
        return "never"

    with pytest.raises(TimeoutError), deadlines.call():
        await stubborn()


async def test_deadlines_follow_a_store_into_a_new_event_loop() -> None:
    """A Deadlines first used on another loop (a test's earlier loop) works on this one."""
    deadlines = Deadlines(0.1)

    def elsewhere() -> None:
        async def use() -> None:
            with deadlines.call():
                await asyncio.sleep(0)

        asyncio.run(use())

    await asyncio.to_thread(elsewhere)
    with pytest.raises(TimeoutError), deadlines.call():
        await _hang()


async def test_the_limiter_lets_at_most_size_in_and_the_rest_in_order() -> None:
    """With three places, ten holders run three at a time, waiters served first come first."""
    limiter = Limiter(3)
    inside, most, order = 0, 0, []

    async def hold(i: int) -> None:
        nonlocal inside, most
        if not limiter.try_acquire():
            await limiter.acquire()
        order.append(i)
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        limiter.release()

    await asyncio.gather(*(hold(i) for i in range(10)))
    assert most == 3
    assert order == list(range(10))
    assert limiter._free == 3


async def test_a_waiter_that_gives_up_does_not_lose_a_place() -> None:
    """A waiter cancelled while waiting, or just as it was handed a place, leaves the count
    of free places whole."""
    limiter = Limiter(1)
    assert limiter.try_acquire()
    gave_up = asyncio.create_task(limiter.acquire())
    handed = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    gave_up.cancel()
    await asyncio.sleep(0)
    limiter.release()  # to `handed`, whose wait is done but who has not run yet
    handed.cancel()
    for task in (gave_up, handed):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert limiter._free == 1
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_a_limiter_needs_a_place() -> None:
    """A limiter of size 0 would block forever: refused."""
    with pytest.raises(ValueError, match="at least one"):
        Limiter(0)
