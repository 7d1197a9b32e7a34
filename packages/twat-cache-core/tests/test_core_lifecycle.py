"""A dropped cache releases its engine; a value the engine refuses never breaks the caller."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest
from twat_cache import Cache, CacheValueError, ucache
from twat_cache.engines import BuiltinMemoryBackend
from twat_cache.registry import register_engine


class _SmallValues(BuiltinMemoryBackend):
    """An in-process engine that, like memcached, refuses values over a size limit."""

    def set(self, key: Any, value: Any, ttl: float | None = None) -> None:
        if isinstance(value, bytes) and len(value) > 10:
            raise CacheValueError("value larger than the 10-byte limit")
        super().set(key, value, ttl)


register_engine("coretest-small", _SmallValues)


def test_a_dropped_cache_closes_the_engine_it_created() -> None:
    cache = Cache("builtin://")
    backend = cache.backend
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
    backend = cache.backend
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
