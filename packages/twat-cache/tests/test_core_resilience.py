"""Fail-open: a failing backend costs one warning, not the function's result; strict raises."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from twat_cache import BackendError, BackendUnavailableError, Cache, ucache
from twat_cache.policies import CircuitBreaker


def _failure_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "twat_cache" and r.levelno == logging.WARNING and "failed" in r.getMessage()
    ]


def _poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("url", ["coretest-failing://", "coretest-failing-local://"])
def test_a_dead_backend_leaves_results_right_and_warns_once(
    url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace, retry_after=60)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        results = [square(x) for x in (1, 2, 1, 2, 3) * 4]
    assert results == [x * x for x in (1, 2, 1, 2, 3) * 4]
    assert len(calls) == 20  # every call ran: nothing could be cached
    warnings = _failure_warnings(caplog)
    assert len(warnings) == 1  # the breaker: one warning, not one per call
    assert "server down" in warnings[0].getMessage()
    assert getattr(warnings[0], "engine", None) == square.cache.name
    assert square.cache.stats.errors >= 1
    engine: Any = square.cache.backend
    if not engine.stores_objects:  # the in-process hot path still asks, it costs nothing
        assert engine.calls == 1  # the breaker kept every later call away from the server


async def test_async_dead_backend_fails_open(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    @ucache("coretest-failing://", namespace=namespace, retry_after=60)
    async def double(x: int) -> int:
        return 2 * x

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [await double(x) for x in (1, 1, 2)] == [2, 2, 4]
    assert len(_failure_warnings(caplog)) == 1


def test_strict_raises_backend_error_then_unavailable(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-failing://", namespace=namespace, strict=True, retry_after=60)
    def f(x: int) -> int:
        calls.append(x)
        return x

    with pytest.raises(BackendError, match="server down") as info:
        f(1)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)  # the client's error kept
    with pytest.raises(BackendUnavailableError, match="unavailable"):
        f(1)  # the breaker is open: no new timeout, a clear error
    assert calls == []


def test_breaker_recovers_after_retry_after(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @ucache("coretest-failing://", namespace=namespace, retry_after=0.1)
    def f(x: int) -> int:
        calls.append(x)
        return x

    engine: Any = f.cache.backend
    with caplog.at_level(logging.INFO, logger="twat_cache"):
        f(1)
        time.sleep(0.15)
        f(1)  # half-open: one call goes through, fails again: no second warning
        engine.down = False

        def stored() -> bool:  # the first call let through after retry_after stores again
            f(1)
            return engine.get(f.cache_key(1)) is not None

        _poll(stored, "the breaker never let a call through again")
        before = len(calls)
        assert f(1) == 1
        assert len(calls) == before  # cached again: a hit
    assert len(_failure_warnings(caplog)) == 1
    assert any("is back" in r.getMessage() for r in caplog.records)


def test_cache_api_fallbacks_when_the_backend_fails(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace, retry_after=0) as cache:
        cache.set("k", 1)
        assert cache.get("k", "default") == "default"
        assert "k" not in cache
        assert cache.add("k", 1) is False
        assert cache.delete("k") is False
        cache.set_many({"a": 1})
        assert cache.get_many(["a"]) == {}
        assert cache.delete_many(["a"]) == 0
        assert cache.touch("a") is False
        cache.clear()
        assert list(cache.keys()) == []
        cache.invalidate_tags("t")
        cache.set("tagged", 1, tags=["t"])
        with pytest.raises(BackendError, match="incr failed"):
            cache.incr("n")
        assert cache.stats.sets == 0  # nothing was written
        assert cache.stats.errors >= 10


def test_try_delete_many_tells_a_failure_from_absent_keys(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace, retry_after=0) as cache:
        assert cache.try_delete_many(["a"]) is None  # the engine failed
        cache.backend.down = False  # type: ignore[attr-defined]
        assert cache.try_delete_many(["a"]) == 0  # it answered: nothing was there
        cache.set("a", 1)
        assert cache.try_delete_many(["a", "b"]) == 1
        assert cache.stats.deletes == 1
    with Cache(["memory://", "coretest-failing://"], namespace=namespace, retry_after=0) as tiered:
        assert tiered.try_delete_many(["a"]) is None  # the lowest tier failed
        assert tiered.delete_many(["a"]) == 0


async def test_async_try_delete_many_tells_a_failure_from_absent_keys(namespace: str) -> None:
    async with Cache("coretest-failing://", namespace=namespace, retry_after=0) as cache:
        assert await cache.atry_delete_many(["a"]) is None
        cache.backend.down = False  # type: ignore[attr-defined]
        await cache.aset("a", 1)
        assert await cache.atry_delete_many(["a", "b"]) == 1


async def test_async_cache_api_fallbacks_when_the_backend_fails(namespace: str) -> None:
    async with Cache("coretest-failing://", namespace=namespace, retry_after=0) as cache:
        await cache.aset("k", 1)
        assert await cache.aget("k", "default") == "default"
        assert await cache.aadd("k", 1) is False
        assert await cache.adelete("k") is False
        await cache.aset_many({"a": 1})
        assert await cache.aget_many(["a"]) == {}
        assert await cache.adelete_many(["a"]) == 0
        assert await cache.atouch("a") is False
        await cache.aclear()
        assert [k async for k in cache.akeys()] == []
        await cache.ainvalidate_tags("t")
        await cache.aset("tagged", 1, tags=["t"])
        with pytest.raises(BackendError, match="incr failed"):
            await cache.aincr("n")
        assert cache.stats.sets == 0


def test_open_breaker_keeps_calls_away_and_incr_says_unavailable(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace, retry_after=60) as cache:
        engine: Any = cache.backend
        cache.get("k")
        assert engine.calls == 1
        for _ in range(5):
            cache.get("k")
            cache.set("k", 1)
            assert list(cache.keys()) == []
        assert engine.calls == 1
        with pytest.raises(BackendUnavailableError):
            cache.incr("k")


async def test_async_open_breaker(namespace: str) -> None:
    async with Cache("coretest-failing://", namespace=namespace, retry_after=60) as cache:
        await cache.aget("k")
        assert [k async for k in cache.akeys()] == []
        await cache.aset("k", 1)
        await cache.aset_many({"k": 1})
        assert cache.stats.sets == 0
        with pytest.raises(BackendUnavailableError):
            await cache.aincr("k")


def test_strict_wraps_os_errors(namespace: str) -> None:
    with Cache("builtin://", namespace=namespace, strict=True) as cache:

        def broken(*args: Any) -> Any:
            raise OSError(5, "disk on fire")

        engine: Any = cache.backend
        engine.get = broken
        with pytest.raises(BackendError, match="disk on fire") as info:
            cache.get("k")
        assert isinstance(info.value.__cause__, OSError)


def test_counters_recover_with_the_backend(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace, retry_after=0) as cache:
        engine: Any = cache.backend
        with pytest.raises(BackendError):
            cache.incr("n")
        engine.down = False
        cache.set("n", 1)
        assert cache.incr("n") == 2
        assert cache._breaker.open_until == 0.0


def test_entries_whose_tag_counter_cannot_be_made_are_not_written(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace, retry_after=0) as cache:
        real_add = cache.backend.add

        def add_refused(key: str, value: bytes, ttl: float | None = None) -> bool:
            if key.startswith("__tag__:"):
                raise BackendError("refused")
            return bool(real_add(key, value, ttl))

        engine: Any = cache.backend
        engine.add = add_refused
        cache.set("k", 1, tags=["t"])
        assert cache.backend.get("k") is None  # untaggable: not written at all
        assert cache.add("k2", 1) is True  # untagged writes are unaffected


async def test_async_entries_whose_tag_counter_cannot_be_made_are_not_written(
    namespace: str,
) -> None:
    async with Cache("coretest-abytes://", namespace=namespace, tags=["t"]) as cache:
        engine: Any = cache.async_backend

        async def add_refused(key: str, value: bytes, ttl: float | None = None) -> bool:
            raise BackendError("refused")

        engine.add = add_refused
        await cache.aset("k", 1)
        assert await cache.aadd("k2", 1) is False
        await cache.aset_many({"k3": 1})
        assert await engine.get("k") is None
        assert await engine.get("k3") is None


def test_circuit_breaker_states() -> None:
    breaker = CircuitBreaker("unit", retry_after=60)
    assert breaker.allow()
    breaker.success()  # closed: nothing to do
    breaker.failure(RuntimeError("x"))
    assert not breaker.allow()
    assert breaker.failures == 1
    breaker.open_until = time.monotonic() - 1  # as if retry_after had passed
    assert breaker.allow()  # half-open: this one call goes through...
    assert not breaker.allow()  # ...and the others wait for its outcome
    breaker.failure(RuntimeError("again"))
    assert breaker.failures == 2
    breaker.success()
    assert breaker.allow()
    assert breaker.failures == 0


async def test_async_in_process_engine_that_fails(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    @ucache("coretest-failing-local://", namespace=namespace, retry_after=60)
    async def f(x: int) -> int:
        return x + 1

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [await f(1), await f(1)] == [2, 2]
    assert len(_failure_warnings(caplog)) == 1


def test_config_tags_with_a_counter_that_cannot_be_made(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace, tags=["t"], retry_after=0) as cache:

        def add_refused(key: str, value: bytes, ttl: float | None = None) -> bool:
            raise BackendError("refused")

        engine: Any = cache.backend
        engine.add = add_refused
        assert cache.add("k", 1) is False
        cache.set_many({"k2": 1})
        assert cache.backend.get("k") is None
        assert cache.backend.get("k2") is None
