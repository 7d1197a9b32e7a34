"""Concurrent misses of one key run the function once (stampede protection), sync and async."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from twat_cache import ucache
from twat_cache.policies import AsyncBatchFlight, AsyncSingleFlight, BatchFlight, SingleFlight

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


def test_batch_flight_shares_keys_and_recomputes_a_failed_one() -> None:
    flight = BatchFlight()
    calls: list[list[str]] = []
    release = threading.Event()

    def compute(keys: list[Any]) -> dict[Any, str]:
        calls.append(list(keys))
        if "a" in keys:
            release.wait(30)
            if "fail" in keys:
                raise RuntimeError("leader failed")
        return {k: k.upper() for k in keys if k != "x"}  # "x" left out

    results: dict[str, Any] = {}

    def lead() -> None:
        try:
            flight.run(["a", "b", "fail", "x"], compute)
        except RuntimeError as exc:
            results["leader"] = exc

    leader = threading.Thread(target=lead)
    leader.start()
    deadline = time.monotonic() + 30
    while not calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    follower = threading.Thread(
        target=lambda: results.__setitem__("follower", flight.run(["b", "c", "x"], compute))
    )
    follower.start()
    while flight.waiting("b") < 1:
        assert time.monotonic() < deadline, "the follower did not wait for b"
        time.sleep(0.01)
    release.set()
    leader.join(30)
    follower.join(30)
    assert isinstance(results["leader"], RuntimeError)
    assert results["follower"] == {"c": "C", "b": "B"}
    assert calls == [["a", "b", "fail", "x"], ["c"], ["b", "x"]], "failed keys computed again"
    assert flight.waiting("b") == 0


def test_batch_flight_reentrant_keys_are_computed_directly() -> None:
    flight = BatchFlight()

    def outer(keys: list[Any]) -> dict[Any, int]:
        inner = flight.run(keys, lambda again: dict.fromkeys(again, 2))
        return {k: v + 1 for k, v in inner.items()}

    assert flight.run([1, 2], outer) == {1: 3, 2: 3}


async def test_async_batch_flight_shares_keys_and_recomputes_a_failed_one() -> None:
    flight = AsyncBatchFlight()
    calls: list[list[Any]] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def compute(keys: list[Any]) -> dict[Any, int]:
        calls.append(list(keys))
        if 1 in keys:
            entered.set()
            await release.wait()
            if 9 in keys:
                raise RuntimeError("leader failed")
        return {k: k * 10 for k in keys}

    leader = asyncio.create_task(flight.run([1, 2, 9], compute))
    await entered.wait()
    follower = asyncio.create_task(flight.run([2, 3, 9], compute))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await leader
    assert await follower == {3: 30, 2: 20, 9: 90}
    assert calls == [[1, 2, 9], [3], [2, 9]]

    async def outer(keys: list[Any]) -> dict[Any, int]:
        return await flight.run(keys, _tens)

    assert await flight.run([4], outer) == {4: 40}


async def _tens(keys: list[Any]) -> dict[Any, int]:
    return {k: k * 10 for k in keys}
