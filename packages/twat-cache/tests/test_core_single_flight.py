"""Concurrent misses of one key run the function once (stampede protection), sync and async."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from twat_cache import ucache
from twat_cache.policies import AsyncSingleFlight, SingleFlight

_CALLERS = 8


def test_threads_missing_together_run_the_function_once() -> None:
    flight = SingleFlight()
    calls = 0
    release = threading.Event()

    def compute() -> list[int]:
        nonlocal calls
        calls += 1
        release.wait(30)
        return [1]

    results: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(flight.run("k", compute)))
        for _ in range(_CALLERS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while flight.waiting("k") < _CALLERS - 1:  # everyone else waits for the one computing
        assert time.monotonic() < deadline, "callers did not join the running computation"
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(30)
    assert results == [[1]] * _CALLERS
    assert calls == 1
    assert flight.waiting("k") == 0


def test_decorated_function_under_a_stampede() -> None:
    calls = 0
    barrier = threading.Barrier(_CALLERS)

    @ucache()
    def slow(x: int) -> list[int]:
        nonlocal calls
        calls += 1
        time.sleep(0.3)
        return [x]

    results: list[list[int]] = []

    def call() -> None:
        barrier.wait(30)
        results.append(slow(1))

    threads = [threading.Thread(target=call) for _ in range(_CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [[1]] * _CALLERS
    assert calls < _CALLERS, "concurrent misses shared one computation"


def test_a_failing_leader_lets_each_waiter_compute() -> None:
    flight = SingleFlight()
    entered = threading.Event()
    release = threading.Event()
    outcomes: list[object] = []

    def failing() -> int:
        entered.set()
        release.wait(30)
        raise ValueError("leader failed")

    def leader() -> None:
        try:
            flight.run("k", failing)
        except ValueError as exc:
            outcomes.append(exc)

    first = threading.Thread(target=leader)
    first.start()
    assert entered.wait(30)
    waiter = threading.Thread(target=lambda: outcomes.append(flight.run("k", lambda: 42)))
    waiter.start()
    time.sleep(0.2)
    release.set()
    first.join(30)
    waiter.join(30)
    assert 42 in outcomes
    assert any(isinstance(o, ValueError) for o in outcomes)


def test_reentering_for_the_same_key_does_not_deadlock() -> None:
    @ucache(key=lambda x, depth=0: "one-key")
    def nested(x: int, depth: int = 0) -> int:
        return x if depth else nested(x, depth=1) + 1

    assert nested(1) == 2


async def test_tasks_missing_together_await_one_call() -> None:
    calls = 0

    @ucache()
    async def fetch(x: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"x": x}

    results = await asyncio.gather(*(fetch(3) for _ in range(_CALLERS)))
    assert results == [{"x": 3}] * _CALLERS
    assert calls == 1


async def test_async_failing_leader_and_reentry() -> None:
    flight = AsyncSingleFlight()

    async def boom() -> int:
        await asyncio.sleep(0.02)
        raise ValueError("leader failed")

    async def fine() -> int:
        return 7

    leader = asyncio.ensure_future(flight.run("k", boom))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(flight.run("k", fine))
    with pytest.raises(ValueError):
        await leader
    assert await waiter == 7

    async def outer() -> int:
        return await flight.run("r", inner)

    async def inner() -> int:
        return await flight.run("r", fine)  # the same task, the same key

    assert await outer() == 7
