"""The Cache object (sync and async), CacheContext, clear_cache() and get_stats()."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from twat_cache import (
    Cache,
    CacheContext,
    CacheOperationError,
    ConfigurationError,
    SerializationError,
    clear_cache,
    get_stats,
    ucache,
)
from twat_cache.adapters import SyncAdapter, as_async
from twat_cache.cache import live_caches
from twat_cache.engines import BuiltinMemoryBackend
from twat_cache.policies import CacheStats, jittered
from twat_cache.registry import engine_class

URLS = ["builtin://", "coretest-bytes://", "coretest-abytes://"]


@pytest.fixture(params=URLS)
def cache(request: pytest.FixtureRequest, namespace: str) -> Iterator[Cache]:
    with Cache(request.param, namespace=namespace) as made:
        yield made


@pytest.fixture(params=URLS)
async def acache_(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Cache]:
    async with Cache(request.param, namespace=namespace) as made:
        yield made


def _wait_until_gone(cache: Cache, key: str) -> None:
    deadline = time.monotonic() + 10
    while cache.get(key) is not None:
        assert time.monotonic() < deadline, f"{key} outlived its ttl"
        time.sleep(0.05)


def test_get_set_default_and_none(cache: Cache) -> None:
    assert cache.get("absent") is None
    assert cache.get("absent", "fallback") == "fallback"
    cache.set("k", {"a": [1, 2]})
    assert cache.get("k") == {"a": [1, 2]}
    cache.set("none", None)
    assert "none" in cache  # a cached None is a hit, not a miss
    assert cache.get("none", "fallback") is None
    assert "absent" not in cache


def test_non_string_keys(cache: Cache) -> None:
    cache.set(("user", 7), "ann")
    assert cache.get(("user", 7)) == "ann"
    assert cache.get(("user", 8)) is None
    assert cache.delete(("user", 7)) is True


def test_add_delete_and_batches(cache: Cache) -> None:
    assert cache.add("k", 1) is True
    assert cache.add("k", 2) is False
    assert cache.get("k") == 1
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    cache.set_many({"a": 1, "b": "two", "c": [3]})
    assert cache.get_many(["a", "b", "missing"]) == {"a": 1, "b": "two"}
    assert cache.delete_many(["a", "b", "missing"]) == 2
    assert cache.get_many(["a", "b", "c"]) == {"c": [3]}
    assert cache.stats.deletes == 3


def test_incr_and_decr(cache: Cache) -> None:
    with pytest.raises(ValueError):
        cache.incr("n")
    cache.set("n", 10)
    assert cache.incr("n") == 11
    assert cache.incr("n", 5) == 16
    assert cache.decr("n", 6) == 10
    assert cache.get("n") == 10
    cache.set("text", "ten")
    with pytest.raises(TypeError):
        cache.incr("text")


def test_per_call_ttl_and_touch(namespace: str) -> None:
    for url in URLS:
        with Cache(url, namespace=namespace + url[:6], ttl=60) as cache:
            cache.set("short", 1, ttl=0.2)
            cache.set("forever", 2, ttl=None)
            cache.set("default", 3)
            cache.set("touched", 4)
            assert cache.touch("touched", 0.2) is True
            assert cache.touch("absent", 1) is False
            _wait_until_gone(cache, "short")
            _wait_until_gone(cache, "touched")
            assert cache.get_many(["forever", "default"]) == {"forever": 2, "default": 3}
            with pytest.raises(ConfigurationError):
                cache.set("bad", 1, ttl=-1)


def test_keys_clear_and_namespaces(namespace: str) -> None:
    mine = Cache("coretest-bytes://", namespace=namespace)
    other = Cache("coretest-bytes://", namespace=namespace + "-other")
    mine.set("a", 1, tags=["t"])  # the tag's counter must not show up in keys()
    mine.set("b", 2)
    other.set("a", "other")
    assert sorted(mine.keys()) == ["a", "b"]
    mine.clear()
    assert list(mine.keys()) == []
    assert other.get("a") == "other"
    mine.close()
    other.close()


def test_set_of_an_unserializable_value_keeps_the_old_entry(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("k", "old")
        with pytest.raises(SerializationError):
            cache.set("k", lambda: None)
        assert cache.get("k") == "old"
        with pytest.raises(SerializationError):
            cache.set_many({"k": "new", "j": lambda: None})
        assert cache.get_many(["k", "j"]) == {"k": "old"}  # nothing of the batch was written


def test_stats_count_what_happened(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.get("a")
        cache.set("a", 1)
        cache.get("a")
        cache.get("a")
        cache.delete("a")
        cache.delete("a")
        stats = cache.stats
        assert stats.counters() == {
            "hits": 2, "misses": 1, "sets": 1, "deletes": 1, "errors": 0, "corrupt": 0,
            "evictions": 0, "bytes_read": 2, "bytes_written": 1,
        }  # fmt: skip
        assert stats.hit_rate == pytest.approx(2 / 3)
        assert stats.as_dict()["hit_ratio"] == pytest.approx(2 / 3)
        stats.reset()
        assert stats.counters() == dict.fromkeys(stats.counters(), 0)
        assert stats.reads.count == 0
        assert CacheStats().hit_rate == 0.0


def test_jitter_shortens_ttls_within_bounds() -> None:
    samples = [jittered(10.0, 0.5) for _ in range(200)]
    assert all(s is not None and 5.0 <= s <= 10.0 for s in samples)
    assert len(set(samples)) > 1  # spread, not one value
    assert jittered(None, 0.5) is None
    assert jittered(10.0, 0.0) == 10.0


def test_jitter_reaches_the_engine(namespace: str) -> None:
    with Cache("builtin://", namespace=namespace, ttl=100, jitter=0.5) as cache:
        for i in range(20):
            cache.set(f"k{i}", i)
        now = time.monotonic()
        engine: Any = cache.backend
        data: dict[Any, tuple[Any, float | None]] = engine._data
        remaining = [expiry - now for _, expiry in data.values() if expiry is not None]
        assert len(remaining) == 20
        assert all(0 < r <= 100 for r in remaining)
        assert min(remaining) < 95  # not all at the full ttl


def test_close_is_idempotent_and_final() -> None:
    cache = Cache("builtin://", name="closing-" + uuid.uuid4().hex)
    assert cache in live_caches()
    cache.set("k", 1)
    cache.close()
    cache.close()
    assert cache.closed
    assert cache not in live_caches()
    with pytest.raises(CacheOperationError):
        cache.get("k")


def test_repr_and_names(namespace: str) -> None:
    with Cache("builtin://", namespace=namespace) as cache:
        assert repr(cache) == f"<Cache 'builtin:{namespace}' BuiltinMemoryBackend>"
    with Cache(name="mine") as named:
        assert named.name == "mine"


def test_a_ready_backend_instance_is_used_as_given(namespace: str) -> None:
    backend = BuiltinMemoryBackend(namespace=namespace)
    with Cache(backend=backend) as cache:
        cache.set("k", 1)
        assert backend.get("k") == 1
    assert backend.closed


async def test_async_twins(acache_: Cache) -> None:
    cache = acache_
    assert await cache.aget("absent", "fallback") == "fallback"
    await cache.aset("k", {"v": 1})
    assert await cache.aget("k") == {"v": 1}
    await cache.aset("none", None)
    assert await cache.aget("none", "fallback") is None
    assert await cache.aadd("k", 2) is False
    assert await cache.aadd("new", 2) is True
    await cache.aset_many({"a": 1, "b": 2}, ttl=None)
    assert await cache.aget_many(["a", "b", "missing"]) == {"a": 1, "b": 2}
    assert sorted([k async for k in cache.akeys()]) == ["a", "b", "k", "new", "none"]
    assert await cache.adelete("a") is True
    assert await cache.adelete("a") is False
    assert await cache.adelete_many(["b", "k", "missing"]) == 2
    with pytest.raises(ValueError):
        await cache.aincr("n")
    await cache.aset("n", 1)
    assert await cache.aincr("n", 4) == 5
    assert await cache.adecr("n") == 4
    assert await cache.atouch("n", None) is True
    assert await cache.atouch("missing", 1) is False
    await cache.aclear()
    assert [k async for k in cache.akeys()] == []


async def test_async_close_is_idempotent(namespace: str) -> None:
    for url in URLS:
        cache = Cache(url, namespace=namespace)
        cache.set("sync-first", 1)  # so that both the sync and the async views exist
        assert await cache.aget("sync-first") == 1
        await cache.aclose()
        await cache.aclose()
        assert cache.closed


class TwinnedEngine(BuiltinMemoryBackend):
    """A sync engine whose client also has a native async twin (as redis-py does)."""

    stores_objects = False

    def make_async(self) -> Any:
        return engine_class("coretest-abytes")(namespace=self.namespace)


def test_closing_a_cache_closes_a_native_async_twin(namespace: str) -> None:
    cache = Cache(backend=TwinnedEngine(namespace=namespace))
    twin = cache.async_backend
    assert cache.async_backend is twin
    engine: Any = twin
    assert not engine.closed
    cache.close()
    assert engine.closed


def test_cache_context_closes_what_it_opened(namespace: str) -> None:
    context = CacheContext("coretest-bytes://", namespace=namespace, ttl=5)
    with context as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        backend: Any = cache.backend
    assert cache.closed
    assert backend.closed
    with pytest.raises(ConfigurationError):
        CacheContext(ttl=-1)  # fails when made, like a decorator


async def test_async_cache_context_closes_what_it_opened(namespace: str) -> None:
    async with CacheContext("coretest-abytes://", namespace=namespace) as cache:
        await cache.aset("k", 1)
        assert await cache.aget("k") == 1
        abackend: Any = cache.async_backend
    assert cache.closed
    assert abackend.closed


def test_cache_context_that_was_never_entered_closes_nothing() -> None:
    context = CacheContext()
    context.__exit__(None, None, None)


async def test_async_cache_context_that_was_never_entered() -> None:
    await CacheContext().__aexit__(None, None, None)


def test_clear_cache_and_get_stats(namespace: str) -> None:
    first = Cache("builtin://", namespace=namespace, name=f"{namespace}-first")
    second = Cache("builtin://", namespace=namespace, name=f"{namespace}-second")
    first.set("a", 1)
    first.get("a")
    first.get("missing")
    second.set("b", 2)
    stats = get_stats()
    assert stats[f"{namespace}-first"]["hits"] == 1
    assert stats[f"{namespace}-first"]["misses"] == 1
    assert stats[f"{namespace}-second"]["sets"] == 1
    assert stats["total"]["hits"] >= 1
    assert clear_cache(f"{namespace}-first") == 1
    assert first.get("a") is None
    assert second.get("b") == 2
    assert clear_cache() >= 2
    assert second.get("b") is None
    assert get_stats()[f"{namespace}-first"]["sets"] == 0  # stats are reset by clearing
    first.close()
    second.close()
    assert f"{namespace}-first" not in get_stats()


def test_get_stats_with_no_open_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import twat_cache.context

    monkeypatch.setattr(twat_cache.context, "live_caches", list)
    assert get_stats() == {"total": CacheStats().as_dict()}
    assert get_stats()["total"]["hits"] == 0


def test_a_cached_none_pickles_to_the_same_marker() -> None:
    import pickle

    from twat_cache.cache import NONE_VALUE

    assert pickle.loads(pickle.dumps(NONE_VALUE)) is NONE_VALUE


async def test_async_close_of_a_cache_only_used_from_sync_code(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace)
    cache.set("k", 1)
    await cache.aclose()
    assert cache.closed
    engine: Any = cache.backend
    assert engine.closed


def test_stats_count_the_engines_evictions(namespace: str) -> None:
    """The built-in engine reports evictions; cache.stats and get_stats() show them."""
    with Cache("builtin://?maxsize=3", namespace=namespace, name=f"{namespace}-evict") as cache:
        for i in range(5):
            cache.set(f"k{i}", i)
        cache.delete("k4")  # a delete is not an eviction
        assert cache.stats.evictions == 2
        assert cache.stats.as_dict()["evictions"] == 2
        assert get_stats()[f"{namespace}-evict"]["evictions"] == 2
        assert get_stats()["total"]["evictions"] >= 2
        cache.stats.reset()
        assert cache.stats.evictions == 0
        cache.set("k5", 5)
        cache.set("k6", 6)
        assert cache.stats.evictions == 1  # counted again from the reset


def test_evictions_counted_through_the_adapters() -> None:
    """A cache over an engine behind an adapter (as_async, then as_sync) counts its evictions."""
    for adapt in (as_async, lambda engine: SyncAdapter(as_async(engine))):
        with Cache(backend=adapt(BuiltinMemoryBackend(maxsize=2))) as cache:
            for i in range(5):
                cache.set(f"k{i}", i)
            assert cache.stats.evictions == 3


def test_cache_info_shows_evictions(namespace: str) -> None:
    @ucache("builtin://?maxsize=2", namespace=namespace)
    def double(x: int) -> int:
        return 2 * x

    for i in range(5):
        double(i)
    assert double.cache_info().stats["evictions"] == 3


def test_builtin_maxbytes_evictions_counted() -> None:
    engine = BuiltinMemoryBackend(maxsize=None, maxbytes=1000)
    for i in range(20):
        engine.set(f"k{i}", b"x" * 100)
    assert engine.evictions > 0
    assert engine.evictions == 20 - len(engine)


def test_expired_entries_are_not_evictions() -> None:
    engine = BuiltinMemoryBackend(maxsize=2, policy="ttl")
    engine.set("a", 1, ttl=0.01)
    time.sleep(0.05)
    engine.set("b", 2)
    engine.set("c", 3)  # over maxsize: the expired entry goes, not a live one
    assert engine.evictions == 0
    assert engine.get("b") == 2
