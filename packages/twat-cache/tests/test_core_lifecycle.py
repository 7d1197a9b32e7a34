"""A dropped cache releases its engine; a value the engine refuses never breaks the caller."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest
from twat_cache import Cache, CacheValueError, NodeError, ucache
from twat_cache.engines import BuiltinMemoryBackend
from twat_cache.registry import register_engine


class _SmallValues(BuiltinMemoryBackend):
    """An in-process engine that, like memcached, refuses values over a size limit."""

    def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        if isinstance(value, bytes) and len(value) > 10:
            raise CacheValueError("value larger than the 10-byte limit")
        return super().set(key, value, ttl)


register_engine("coretest-small", _SmallValues)


def test_a_dropped_cache_closes_the_engine_it_created() -> None:
    cache = Cache("builtin://")
    backend: Any = cache.backend
    del cache
    gc.collect()
    assert backend.closed


def test_a_dropped_cache_leaves_a_given_engine_open() -> None:
    backend = BuiltinMemoryBackend()
    cache = Cache(backend=backend)
    del cache
    gc.collect()
    assert not backend.closed
    backend.close()


def test_close_then_drop_closes_once() -> None:
    cache = Cache("builtin://")
    backend: Any = cache.backend
    cache.close()
    assert backend.closed
    del cache
    gc.collect()
    assert backend.closed


def test_refused_value_is_returned_uncached_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    @ucache("coretest-small://")
    def payload(size: int) -> bytes:
        nonlocal calls
        calls += 1
        return b"x" * size

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert payload(100) == b"x" * 100
        assert payload(100) == b"x" * 100
    assert calls == 2, "a refused value is not cached, and the call still succeeds"
    assert "result not cached" in caplog.text
    assert payload(5) == b"xxxxx"
    assert payload(5) == b"xxxxx"
    assert calls == 3, "small values are cached"


async def test_refused_value_async() -> None:
    @ucache("coretest-small://")
    async def payload(size: int) -> bytes:
        return b"y" * size

    assert await payload(50) == b"y" * 50


def test_refused_value_raises_in_strict_mode() -> None:
    @ucache("coretest-small://", strict=True)
    def payload(size: int) -> bytes:
        return b"x" * size

    with pytest.raises(CacheValueError):
        payload(100)


class _OneNodeDown(BuiltinMemoryBackend):
    """A ring-like engine whose key "down" lives on a failed node."""

    def get(self, key: Any) -> Any:
        if key == "down":
            raise NodeError("node 127.0.0.1:1 failed", server="127.0.0.1:1")
        return super().get(key)


register_engine("coretest-ring", _OneNodeDown)


def test_a_node_error_fails_open_without_pausing_the_backend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = Cache("coretest-ring://", retry_after=300)
    cache.set("up", 1)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert cache.get("down") is None
    assert cache.stats.errors == 1
    assert "127.0.0.1:1" in caplog.text
    assert cache.get("up") == 1, "the other nodes keep answering: the breaker stayed closed"
    strict = Cache("coretest-ring://", strict=True)
    with pytest.raises(NodeError):
        strict.get("down")
