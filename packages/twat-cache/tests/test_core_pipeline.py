"""One pipeline for sync and async: engine reads per call, writes that say whether they
happened, fail-open on any engine exception, unpicklable values."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from twat_cache import BackendError, Cache, CacheOperationError, SerializationError, ucache
from twat_cache.engines import BaseAsyncBackend, BaseBackend, BuiltinMemoryBackend
from twat_cache.protocols import Capabilities, capabilities_of
from twat_cache.registry import engine_class, register_engine

if TYPE_CHECKING:
    BytesEngine = BuiltinMemoryBackend
else:  # the byte engine of tests/conftest.py (test modules are not a package)
    BytesEngine = engine_class("coretest-bytes")


class CountingEngine(BuiltinMemoryBackend):
    """The built-in engine, counting the reads that reach it."""

    reads: int = 0

    def get(self, key: Hashable) -> Any:
        CountingEngine.reads += 1
        return super().get(key)

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        CountingEngine.reads += 1
        found = {}
        for key in keys:  # one read of the storage, however many keys
            value = BuiltinMemoryBackend.get(self, key)
            if value is not None:
                found[key] = value
        return found


class CountingBytesEngine(BytesEngine):
    """A byte engine counting the reads that reach it."""

    reads: int = 0

    def get(self, key: Hashable) -> Any:
        CountingBytesEngine.reads += 1
        return super().get(key)

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        CountingBytesEngine.reads += 1
        return {k: v for k in keys if (v := BuiltinMemoryBackend.get(self, k)) is not None}


class BrokenClientEngine(BytesEngine):
    """A byte engine whose client has a bug: every call raises AttributeError."""

    def _bug(self) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    def get(self, key: Hashable) -> Any:
        return self._bug()

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        return self._bug()  # type: ignore[no-any-return]

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        return self._bug()  # type: ignore[no-any-return]

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        return self._bug()  # type: ignore[no-any-return]


class LegacyEngine(BytesEngine):
    """An engine written before ``set`` returned a bool: it answers None."""

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:  # type: ignore[override]
        super().set(key, value, ttl)


class DecliningEngine(BytesEngine):
    """A byte engine that declines every value (as a server does with one too large)."""

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        return False

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        return False  # the built-in engine's own batch write does not go through set()


register_engine("coretest-counting", CountingEngine)
register_engine("coretest-counting-bytes", CountingBytesEngine)
register_engine("coretest-broken-client", BrokenClientEngine)


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    CountingEngine.reads = 0
    CountingBytesEngine.reads = 0


# -- one implementation ------------------------------------------------------------------
def test_the_sync_operations_are_generated_from_the_async_source() -> None:
    assert Cache.lookup.__module__ == "twat_cache._sync.ops"
    assert Cache.alookup.__module__ == "twat_cache._async.ops"
    import twat_cache._sync.ops as generated

    header = Path(generated.__file__).read_text().splitlines()[:2]
    assert header[0].startswith("# GENERATED from ")
    assert header[0].endswith("twat_cache/_async/ops.py")
    assert "tools/unasync" in header[1]


# -- engine reads per call --------------------------------------------------------------
def test_an_in_process_miss_reads_the_engine_once() -> None:
    @ucache("coretest-counting://")
    def f(x: int) -> int:
        return x

    f(1)
    assert CountingEngine.reads == 1  # the miss: one read, then the write
    f(1)
    assert CountingEngine.reads == 2  # the hit: one read


def test_unhashable_arguments_are_keyed_once_frozen() -> None:
    calls: list[object] = []

    @ucache("coretest-counting://")
    def f(x: list[int]) -> int:
        calls.append(x)
        return sum(x)

    assert f([1, 2]) == f([1, 2]) == 3
    assert len(calls) == 1
    assert f.cache.stats.errors == 0  # an unhashable argument is no engine failure


@pytest.mark.parametrize("url", ["coretest-counting://", "coretest-counting-bytes://"])
def test_a_tagged_hit_reads_entry_and_counters_together(url: str, namespace: str) -> None:
    engine_type = CountingEngine if url == "coretest-counting://" else CountingBytesEngine

    @ucache(url, namespace=namespace, tags=["users", "orgs"])
    def f(x: int) -> int:
        return x

    f(1)
    engine_type.reads = 0
    assert f(1) == 1
    assert engine_type.reads == 1
    assert f.cache.stats.hits == 1
    f.cache.invalidate_tags("orgs")
    engine_type.reads = 0
    f(1)  # a miss now: the counter moved
    assert f.cache.stats.misses == 2
    assert engine_type.reads == 2  # the lookup, then the counters the new entry is written under


@pytest.mark.parametrize("url", ["coretest-counting://", "coretest-counting-bytes://"])
async def test_an_async_tagged_hit_reads_once(url: str, namespace: str) -> None:
    engine_type = CountingEngine if url == "coretest-counting://" else CountingBytesEngine

    @ucache(url, namespace=namespace, tags=["users"])
    async def f(x: int) -> int:
        return x

    await f(1)
    engine_type.reads = 0
    assert await f(1) == 1
    assert engine_type.reads == 1


# -- writes say whether they happened ----------------------------------------------------
async def test_writes_return_whether_they_happened(namespace: str) -> None:
    old: Any = LegacyEngine(namespace=namespace)  # untyped, as a plugin predating the bool
    with Cache(backend=old) as legacy:
        assert legacy.set("k", 1) is True  # an engine answering None (older plugins): a yes
        assert legacy.set_many({"a": 1}) is True
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        assert cache.set("k", 1) is True
        assert cache.set_many({"a": 1, "b": 2}) is True
        assert cache.add("k", 2) is False
        assert cache.add("new", 2) is True
        assert await cache.aset("k", 3) is True
        assert await cache.aset_many({"c": 1}) is True
        assert cache.clear() is True
        assert await cache.aclear() is True
    with Cache(backend=DecliningEngine(namespace=namespace)) as declining:
        assert declining.set("k", 1) is False
        assert declining.set_many({"k": 1}) is False
        assert await declining.aset("k", 1) is False
        assert declining.stats.sets == 0
    with Cache("coretest-failing://", namespace=namespace) as failing:
        assert failing.set("k", 1) is False
        assert failing.clear() is False


# -- fail-open on any engine exception ---------------------------------------------------
def test_any_engine_exception_fails_open(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-broken-client://", namespace=namespace, retry_after=60)
    def f(x: int) -> int:
        calls.append(x)
        return x * 2

    assert [f(1), f(1)] == [2, 2]
    assert calls == [1, 1]
    assert f.cache.stats.errors >= 1
    with Cache("coretest-broken-client://", namespace=namespace, retry_after=0) as cache:
        assert cache.get("k", "fallback") == "fallback"
        assert cache.set("k", 1) is False
        assert cache.add("k", 1) is False


async def test_any_engine_exception_fails_open_async(namespace: str) -> None:
    @ucache("coretest-broken-client://", namespace=namespace, retry_after=0)
    async def f(x: int) -> int:
        return x * 2

    assert [await f(1), await f(1)] == [2, 2]
    async with Cache("coretest-broken-client://", namespace=namespace, retry_after=0) as cache:
        assert await cache.aget("k", "fallback") == "fallback"
        assert await cache.aset("k", 1) is False


async def test_strict_turns_any_engine_exception_into_backend_error(namespace: str) -> None:
    with Cache("coretest-broken-client://", namespace=namespace, strict=True) as cache:
        with pytest.raises(BackendError, match="writelines") as info:
            cache.get("k")
        assert isinstance(info.value.__cause__, AttributeError)
    async with Cache("coretest-broken-client://", namespace=namespace, strict=True) as cache:
        with pytest.raises(BackendError) as info:
            await cache.aset("k", 1)
        assert isinstance(info.value.__cause__, AttributeError)


# -- unpicklable values ------------------------------------------------------------------
async def test_an_unpicklable_value_raises_a_pickle_error_and_keeps_the_old_entry(
    namespace: str,
) -> None:
    assert issubclass(SerializationError, pickle.PickleError)
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("k", "old")
        with pytest.raises(pickle.PickleError):
            cache.set("k", threading.Lock())
        with pytest.raises(pickle.PickleError):
            cache.add("new", threading.Lock())
        with pytest.raises(SerializationError):
            await cache.aset("k", threading.Lock())
        assert cache.get("k") == "old"
        assert "new" not in cache


# -- the base classes --------------------------------------------------------------------
async def test_base_classes_name_every_method_and_derive_the_batches() -> None:
    class Minimal(BaseBackend):
        capabilities = Capabilities()

    class AsyncMinimal(BaseAsyncBackend):
        capabilities = Capabilities()

    sync, asynchronous = Minimal(), AsyncMinimal()
    for call in (
        lambda: sync.add("k", b"v"),
        lambda: sync.touch("k"),
        lambda: sync.incr("k"),
        sync.clear,
    ):
        with pytest.raises(NotImplementedError):
            call()
    with pytest.raises(NotImplementedError):
        await asynchronous.touch("k")

    class Stored(BaseBackend):
        def __init__(self, answer: bool | None) -> None:
            super().__init__()
            self.answer = answer

        def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
            return self.answer  # type: ignore[return-value]

    assert Stored(None).set_many({"a": b"1"}) is True  # an engine predating the bool
    assert Stored(False).set_many({"a": b"1", "b": b"2"}) is False


def test_a_plugin_without_a_record_is_described_from_its_older_attributes() -> None:
    class OldPlugin(BuiltinMemoryBackend):
        supports_keys = False  # the kit's attribute before capabilities existed

        def keys(self) -> Any:
            raise AssertionError("core listed the keys of an engine that cannot list them")

    OldPlugin.capabilities = BaseBackend.capabilities  # type: ignore[assignment]
    engine = OldPlugin()
    assert capabilities_of(engine) == Capabilities(
        lists_keys=False, stores_objects=True, blocking=False, shared=False
    )
    with Cache(backend=engine) as cache, pytest.raises(CacheOperationError):
        list(cache.keys())


def test_a_failing_in_process_engine_is_read_once_per_call(namespace: str) -> None:
    @ucache("coretest-failing-local://", namespace=namespace, retry_after=60)
    def f(x: int) -> int:
        return x

    engine: Any = f.cache.backend
    assert f(1) == 1
    reads = engine.calls
    assert f(1) == 1
    assert engine.calls - reads == 1  # one read (the open breaker keeps the write away)
