"""lock=True: on a miss one caller of every process sharing the engine computes.

The byte engines of conftest.py share their storage between instances of a
namespace, as a server does: two Cache objects over one namespace stand for two
processes (the cross-package tests run real processes on real servers).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from twat_cache import Cache, ConfigurationError, LockTimeoutError, ucache
from twat_cache.constants import LOCK_PREFIX

_THREADS = 8


def _lock_key(cache: Cache, key: str) -> Any:
    return cache._key(LOCK_PREFIX + cache._key(key))


def _take_lock(cache: Cache, key: str) -> None:
    """Hold ``key``'s lock as another process would (a token this one does not know)."""
    assert cache.backend.add(_lock_key(cache, key), b"someone-else", 30)


def _lock_held(cache: Cache, key: str) -> bool:
    return cache.backend.get(_lock_key(cache, key)) is not None


def test_threads_of_two_processes_compute_once(namespace: str) -> None:
    caches = [Cache("coretest-bytes://", namespace=namespace, lock=True) for _ in range(2)]
    calls: list[int] = []
    start = threading.Barrier(_THREADS * 2)

    def compute() -> str:
        calls.append(1)
        time.sleep(0.2)  # the others arrive while it runs
        return "value"

    def caller(cache: Cache) -> None:
        start.wait(10)
        results.append(cache.get_or_set("k", compute))

    results: list[str] = []
    threads = [threading.Thread(target=caller, args=(c,)) for c in caches for _ in range(_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1
    assert results == ["value"] * _THREADS * 2
    assert not _lock_held(caches[0], "k")  # the holder released its lock
    assert caches[0].stats.misses + caches[0].stats.hits == _THREADS  # one count per call


def test_decorated_function_with_lock_runs_once_across_caches(namespace: str) -> None:
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        time.sleep(0.1)
        return 2 * x

    functions = [
        ucache("coretest-bytes://", namespace=namespace, lock=True)(double) for _ in range(2)
    ]
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda f=f: results.append(f(21)))
        for f in functions
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert calls == [21]
    assert results == [42] * 8


def test_waiter_returns_the_holders_value(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True, lock_timeout=10)
    other = Cache("coretest-bytes://", namespace=namespace)
    _take_lock(other, "k")
    results: list[str] = []
    waiter = threading.Thread(target=lambda: results.append(cache.get_or_set("k", lambda: "mine")))
    waiter.start()
    time.sleep(0.05)
    other.set("k", "theirs")  # the holder stores its result
    waiter.join(30)
    assert results == ["theirs"]


def test_lock_released_without_a_value_lets_a_waiter_compute(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True, lock_timeout=10)
    other = Cache("coretest-bytes://", namespace=namespace)
    _take_lock(other, "k")
    results: list[str] = []
    waiter = threading.Thread(target=lambda: results.append(cache.get_or_set("k", lambda: "mine")))
    waiter.start()
    time.sleep(0.05)
    other.backend.delete(_lock_key(other, "k"))  # the holder's function raised
    waiter.join(30)
    assert results == ["mine"]
    assert cache.get("k") == "mine"


def test_lock_timeout_computes_by_default(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True, lock_timeout=0.05)
    _take_lock(cache, "k")
    assert cache.get_or_set("k", lambda: "mine") == "mine"
    assert _lock_held(cache, "k")  # another's lock is never deleted by a waiter


def test_lock_timeout_raises_when_asked(namespace: str) -> None:
    cache = Cache(
        "coretest-bytes://",
        namespace=namespace,
        lock=True,
        lock_timeout=0.05,
        on_lock_timeout="raise",
    )
    _take_lock(cache, "k")
    with pytest.raises(LockTimeoutError) as info:
        cache.get_or_set("k", lambda: "mine")
    assert isinstance(info.value, TimeoutError)
    assert cache.get("k") is None


def test_holder_never_deletes_a_lock_that_became_anothers(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True)

    def compute() -> str:
        # the lock expired and another process took it while this one computed
        cache.backend.set(_lock_key(cache, "k"), b"someone-else", 30)
        return "v"

    assert cache.get_or_set("k", compute) == "v"
    assert cache.backend.get(_lock_key(cache, "k")) == b"someone-else"


def test_holder_past_lock_ttl_leaves_the_lock_alone(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True, lock_ttl=0.05)

    def compute() -> str:
        time.sleep(0.1)  # longer than lock_ttl: the lock may be another's by now
        cache.backend.set(_lock_key(cache, "k"), b"someone-else", 30)
        return "v"

    assert cache.get_or_set("k", compute) == "v"
    assert _lock_held(cache, "k")


def test_holder_finds_a_value_stored_since_its_miss(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True)
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "mine"

    cache.set("k", "stored")
    assert cache.get_or_set("k", compute) == "stored"  # a hit: no lock taken
    # a miss whose lock is taken after another stored the value: no computation
    cache.delete("k")
    _take_lock(cache, "k")
    cache.backend.delete(_lock_key(cache, "k"))
    assert cache.get_or_set("k", compute, lock=True) == "mine"
    assert calls == [1]
    cache.stats.reset()
    other = Cache("coretest-bytes://", namespace=namespace)
    other.delete("k")
    _take_lock(other, "k")
    waiter = threading.Thread(target=cache.get_or_set, args=("k", compute))
    waiter.start()
    time.sleep(0.05)
    other.set("k", "theirs")
    other.backend.delete(_lock_key(other, "k"))
    waiter.join(30)
    assert calls == [1]
    assert cache.stats.hits + cache.stats.misses == 1


def test_lock_key_is_not_listed(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, lock=True)
    _take_lock(cache, "k")
    cache.set("x", 1)
    assert list(cache.keys()) == ["x"]


def test_get_or_set_without_lock(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace)
    assert cache.get_or_set("k", lambda: [1], ttl=60) == [1]
    assert cache.get_or_set("k", lambda: [2]) == [1]
    assert not _lock_held(cache, "k")


def test_in_process_engine_needs_no_lock() -> None:
    cache = Cache("builtin://", lock=True)
    assert cache.get_or_set("k", lambda: 1) == 1
    assert len(list(cache.keys())) == 1  # only the entry: no lock entry was written


def test_failing_engine_computes_fail_open(namespace: str) -> None:
    cache = Cache("coretest-failing://", namespace=namespace, lock=True)
    assert cache.get_or_set("k", lambda: "v") == "v"
    assert cache.stats.errors >= 1


def test_lock_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="lock"):
        Cache("memory://", lock="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="lock_ttl"):
        Cache("memory://", lock_ttl=0)
    with pytest.raises(ConfigurationError, match="lock_ttl"):
        Cache("memory://", lock_ttl=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="lock_timeout"):
        Cache("memory://", lock_timeout=-1)
    with pytest.raises(ConfigurationError, match="on_lock_timeout"):
        Cache("memory://", on_lock_timeout="wait")  # type: ignore[arg-type]
    cache = Cache("memory://?lock=true&lock_ttl=5&lock_timeout=2&on_lock_timeout=raise")
    config = cache.config
    assert (config.lock, config.lock_ttl, config.lock_timeout, config.on_lock_timeout) == (
        True,
        5.0,
        2.0,
        "raise",
    )


@pytest.mark.parametrize("url", ["coretest-bytes://", "coretest-abytes://"])
async def test_async_tasks_of_two_processes_compute_once(url: str, namespace: str) -> None:
    caches = [Cache(url, namespace=namespace, lock=True) for _ in range(2)]
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.1)
        return "value"

    results = await asyncio.gather(*(c.aget_or_set("k", compute) for c in caches for _ in range(4)))
    assert calls == [1]
    assert results == ["value"] * 8
    assert await caches[0].aget_or_set("k", compute) == "value"
    for cache in caches:
        await cache.aclose()


async def test_async_decorated_function_with_lock(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-abytes://", namespace=namespace, lock=True)
    async def double(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.05)
        return 2 * x

    assert await asyncio.gather(*(double(4) for _ in range(6))) == [8] * 6
    assert calls == [4]


async def test_cancelled_holder_releases_its_lock(namespace: str) -> None:
    cache = Cache("coretest-abytes://", namespace=namespace, lock=True)
    started = asyncio.Event()

    async def forever() -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    task = asyncio.create_task(cache.aget_or_set("k", forever))
    await started.wait()
    assert _lock_held(cache, "k")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _lock_held(cache, "k")
    assert await cache.aget_or_set("k", lambda: "next") == "next"  # a plain function, in a thread
    await cache.aclose()


async def test_async_lock_timeout_ttl_and_failure(namespace: str) -> None:
    cache = Cache("coretest-abytes://", namespace=namespace, lock=True, lock_timeout=0.05)
    _take_lock(cache, "k")
    assert await cache.aget_or_set("k", lambda: "mine") == "mine"
    strict = Cache(
        "coretest-abytes://",
        namespace=namespace,
        lock=True,
        lock_timeout=0.05,
        on_lock_timeout="raise",
    )
    _take_lock(strict, "other")
    with pytest.raises(LockTimeoutError):
        await strict.aget_or_set("other", lambda: "x")
    short = Cache("coretest-abytes://", namespace=namespace, lock=True, lock_ttl=0.05)

    async def slow() -> str:
        await asyncio.sleep(0.1)
        return "v"

    assert await short.aget_or_set("slow", slow) == "v"
    failing = Cache("coretest-failing://", namespace=namespace, lock=True)
    assert await failing.aget_or_set("k", lambda: "v") == "v"
    for each in (cache, strict, short, failing):
        await each.aclose()


async def test_cancelled_caller_of_a_decorated_function_frees_its_slot(namespace: str) -> None:
    started = asyncio.Event()
    calls: list[int] = []

    @ucache("coretest-abytes://", namespace=namespace, lock=True)
    async def slow(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            started.set()
            await asyncio.sleep(60)  # the first caller is cancelled while it computes
        return x

    first = asyncio.create_task(slow(3))
    await started.wait()
    second = asyncio.create_task(slow(3))  # joins the first caller's single flight
    await asyncio.sleep(0.01)
    assert _lock_held(slow.cache, str(slow.cache_key(3)))
    first.cancel()
    assert await second == 3  # the slot and the lock were released: it computed itself
    with pytest.raises(asyncio.CancelledError):
        await first
    assert calls == [3, 3]
    cache = slow.cache
    assert not _lock_held(cache, str(slow.cache_key(3)))


def _ids(calls: list[list[int]]) -> Any:
    def users(ids: list[int]) -> dict[int, int]:
        calls.append(list(ids))
        return {i: i for i in ids}

    return users


def _hold_id(f: Any, one: int) -> Any:
    """Hold the lock of ``f``'s id ``one`` as another process would; return its lock key."""
    lock_key = f.cache._key(LOCK_PREFIX + str(f.cache_key(one)))
    assert f.cache.backend.add(lock_key, b"someone-else", 30)
    return lock_key


def test_batch_ids_locked_by_another_past_lock_timeout(namespace: str) -> None:
    calls: list[list[int]] = []
    options: dict[str, Any] = {"namespace": namespace, "batch": True, "lock": True}
    users = ucache("coretest-bytes://", lock_timeout=0.05, **options)(_ids(calls))
    held = _hold_id(users, 2)
    assert users([1, 2]) == {1: 1, 2: 2}
    assert calls == [[1], [2]], "1 under its own lock; 2 once lock_timeout passed"
    assert users.cache.backend.get(held) == b"someone-else", "another's lock is left alone"
    strict = ucache("coretest-bytes://", lock_timeout=0.05, on_lock_timeout="raise", **options)(
        _ids(calls)
    )
    _hold_id(strict, 5)
    with pytest.raises(LockTimeoutError, match="still locked"):
        strict([4, 5])
    assert calls[2:] == [[4]]
    assert strict.cache.get(strict.cache_key(4)) == 4, "the ids it could lock were stored"


def test_batch_with_lock_on_a_failing_engine_computes(namespace: str) -> None:
    calls: list[list[int]] = []
    users = ucache("coretest-failing://", namespace=namespace, batch=True, lock=True)(_ids(calls))
    assert users([1, 2]) == {1: 1, 2: 2}
    assert calls == [[1, 2]]


async def test_async_batch_ids_locked_by_another(namespace: str) -> None:
    calls: list[list[int]] = []

    async def users(ids: list[int]) -> dict[int, int]:
        calls.append(list(ids))
        return {i: i for i in ids}

    options: dict[str, Any] = {"namespace": namespace, "batch": True, "lock": True}
    lenient = ucache("coretest-abytes://", lock_timeout=0.05, **options)(users)
    _hold_id(lenient, 2)
    assert await lenient([1, 2]) == {1: 1, 2: 2}
    strict = ucache("coretest-abytes://", lock_timeout=0.05, on_lock_timeout="raise", **options)(
        users
    )
    _hold_id(strict, 5)
    with pytest.raises(LockTimeoutError):
        await strict([4, 5])
    failing = ucache("coretest-failing://", namespace=namespace, batch=True, lock=True)(users)
    assert await failing([7]) == {7: 7}
    assert calls == [[1], [2], [4], [7]]


@pytest.mark.parametrize("url", ["coretest-waking://", "coretest-awaking://"])
@pytest.mark.parametrize("timeout", [None, 30.0])
def test_waiters_sleep_until_the_holder_releases(
    url: str, timeout: float | None, namespace: str
) -> None:
    # lock_timeout far beyond the test: a waiter that returns was woken, it did not time out
    caches = [
        Cache(url, namespace=namespace, lock=True, lock_timeout=600, timeout=timeout)
        for _ in range(2)
    ]
    release = threading.Event()
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        release.wait(30)
        return "value"

    results: list[str] = []
    holder = threading.Thread(target=lambda: results.append(caches[0].get_or_set("k", compute)))
    holder.start()
    while not _lock_held(caches[1], "k"):
        time.sleep(0.01)
    waiter = threading.Thread(target=lambda: results.append(caches[1].get_or_set("k", compute)))
    waiter.start()
    engine: Any = caches[1]._raw
    waiting = getattr(engine, "_waking", engine)
    while not waiting.waits:  # the waiter sleeps on the engine's wake-up
        time.sleep(0.01)
    release.set()
    holder.join(30)
    waiter.join(30)
    assert results == ["value", "value"]
    assert calls == [1]
    assert not _lock_held(caches[0], "k"), "released with the engine's compare-and-delete"
    for cache in caches:
        cache.close()


@pytest.mark.parametrize("url", ["coretest-waking://", "coretest-awaking://"])
@pytest.mark.parametrize("timeout", [None, 30.0])
async def test_async_waiters_sleep_until_the_holder_releases(
    url: str, timeout: float | None, namespace: str
) -> None:
    caches = [
        Cache(url, namespace=namespace, lock=True, lock_timeout=600, timeout=timeout)
        for _ in range(2)
    ]
    release = asyncio.Event()
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await release.wait()
        return "value"

    holder = asyncio.ensure_future(caches[0].aget_or_set("k", compute))
    while not _lock_held(caches[1], "k"):
        await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(caches[1].aget_or_set("k", compute))
    engine: Any = caches[1]._raw
    waiting = getattr(engine, "_waking", engine)
    while not waiting.waits:
        await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.wait_for(asyncio.gather(holder, waiter), 30)
    assert list(results) == ["value", "value"]
    assert calls == [1]
    assert not _lock_held(caches[0], "k")
    for cache in caches:
        await cache.aclose()


def test_a_waiter_without_a_known_holder_polls(namespace: str) -> None:
    cache = Cache("coretest-waking://", namespace=namespace, lock=True, lock_timeout=0.05)
    _take_lock(cache, "k")  # held past lock_timeout: the waiter's wake-ups end, it computes
    assert cache.get_or_set("k", lambda: "mine") == "mine"
    cache.backend.delete(_lock_key(cache, "k"))
    cache.close()
