"""timeout=: every engine operation answers within the bound, on any engine (enforced in core)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from typing import Any

import pytest
from twat_cache import Cache, ConfigurationError, ucache
from twat_cache.config import CacheConfig
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.protocols import Capabilities
from twat_cache.timeouts import AsyncTimeLimit, SyncTimeLimit, client_timeouts


class HangingEngine(BuiltinMemoryBackend):
    """A "server" engine whose every call hangs while ``hang`` is set, as a silent server."""

    capabilities = Capabilities(stores_objects=True, blocking=True, shared=False)

    def __init__(self) -> None:
        super().__init__("hanging")
        self.hang = threading.Event()
        self.release = threading.Event()

    def _wait(self) -> None:
        if self.hang.is_set():
            self.release.wait(30)

    def get(self, key: Hashable) -> Any:
        self._wait()
        return super().get(key)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        self._wait()
        return super().get_many(keys)

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._wait()
        return super().set(key, value, ttl)

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._wait()
        return super().add(key, value, ttl)


def test_a_hanging_engine_fails_open_after_the_timeout() -> None:
    engine = HangingEngine()
    cache = Cache(backend=engine, timeout=0.05, retry_after=60)
    assert isinstance(cache.backend, SyncTimeLimit)
    assert cache.set("k", 1)
    assert cache.get("k") == 1
    engine.hang.set()
    try:
        assert cache.get("k", "default") == "default"  # timed out: a miss
        assert not cache.set("k", 2)  # the breaker is open now: no call
        assert cache.stats.errors == 1
    finally:
        engine.release.set()


def test_decorated_function_runs_when_the_engine_hangs() -> None:
    engine = HangingEngine()
    cache = Cache(backend=engine, timeout=0.05, retry_after=60)
    calls: list[int] = []

    @ucache(cache=cache)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    engine.hang.set()
    try:
        assert [double(1), double(1)] == [2, 2]
        assert calls == [1, 1]
    finally:
        engine.release.set()


async def test_async_operations_time_out() -> None:
    engine = HangingEngine()
    cache = Cache(backend=engine, timeout=0.05, retry_after=60)
    assert isinstance(cache.async_backend, AsyncTimeLimit)
    assert cache.async_backend is cache.async_backend
    assert await cache.aset("k", 1)
    assert await cache.aget("k") == 1
    engine.hang.set()
    try:
        assert await cache.aget("k", "default") == "default"
        assert cache.stats.errors == 1
    finally:
        engine.release.set()
    await cache.aclose()


def test_every_operation_goes_through_the_limit() -> None:
    cache = Cache(backend=HangingEngine(), timeout=5)
    assert cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
    assert cache.add("c", 3)
    assert cache.touch("c", 60)
    cache.set("n", 1)
    assert cache.incr("n") == 2  # noqa: PLR2004
    assert cache.delete("c")
    assert cache.delete_many(["a", "b"]) == 2  # noqa: PLR2004
    assert sorted(map(str, cache.keys())) == ["n"]
    assert cache.clear()
    assert cache.backend.namespace == "hanging"
    assert cache.backend.stores_objects
    cache.close()


async def test_every_async_operation_goes_through_the_limit() -> None:
    cache = Cache(backend=HangingEngine(), timeout=5)
    backend = cache.async_backend
    assert await cache.aset_many({"a": 1, "b": 2})
    assert await cache.aget_many(["a", "b"]) == {"a": 1, "b": 2}
    assert await cache.aadd("c", 3)
    assert await cache.atouch("c", 60)
    await cache.aset("n", 1)
    assert await cache.aincr("n") == 2  # noqa: PLR2004
    assert await cache.adelete("c")
    assert await cache.adelete_many(["a", "b"]) == 2  # noqa: PLR2004
    assert [str(k) async for k in cache.akeys()] == ["n"]
    assert await cache.aclear()
    assert backend.namespace == "hanging"
    assert backend.stores_objects
    assert backend.capabilities.blocking
    await cache.aclose()


def test_in_process_engines_are_not_wrapped() -> None:
    cache = Cache("builtin://", timeout=1)
    assert not isinstance(cache.backend, SyncTimeLimit)
    assert not isinstance(asyncio.run(_async_backend(cache)), AsyncTimeLimit)


async def _async_backend(cache: Cache) -> Any:
    return cache.async_backend


def test_timeout_option_is_checked() -> None:
    for bad in (0, -1, float("inf"), "1"):
        with pytest.raises(ConfigurationError, match="timeout"):
            Cache("memory://", timeout=bad)  # type: ignore[arg-type]
    assert Cache("memory://", timeout=2).config.timeout == 2.0  # noqa: PLR2004


def test_client_timeouts_follow_timeout_unless_the_url_sets_them() -> None:
    def own(url: str, timeout: float | None) -> dict[str, float]:
        config = CacheConfig(url=url, timeout=timeout)
        return client_timeouts(config, config.engine_url(), reply=["read"], connect=["connect"])

    assert own("redis://h/0", None) == {}
    assert own("redis://h/0", 0.5) == {"read": 0.5, "connect": 0.5}
    assert own("redis://h/0", 30) == {"read": 30.0, "connect": 1.0}  # connects stay short
    assert own("redis://h/0?read=2", 0.5) == {"connect": 0.5}  # the URL's own option wins
    assert own("redis://h/0", 1e-5) == {"read": 0.001, "connect": 0.001}  # never non-blocking
