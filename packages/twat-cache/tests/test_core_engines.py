"""The built-in engine, the engine base classes and the sync<->async adapters."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from twat_cache import Cache, CacheConfig, CacheOperationError
from twat_cache.adapters import SyncAdapter, _LoopThread, as_async, as_sync, run_blocking
from twat_cache.constants import DEFAULT_MAXSIZE
from twat_cache.engines import BaseAsyncBackend, BaseBackend, BuiltinMemoryBackend
from twat_cache.protocols import AsyncBackend, Backend
from twat_cache.registry import engine_class
from twat_cache.testing import AsyncBackendConformance, BackendConformance


def test_builtin_evicts_the_least_recently_used() -> None:
    engine = BuiltinMemoryBackend(maxsize=2)
    engine.set("a", 1)
    engine.set("b", 2)
    assert engine.get("a") == 1  # now b is the least recently used
    engine.set("c", 3)
    assert engine.get("b") is None
    assert (engine.get("a"), engine.get("c")) == (1, 3)
    assert len(engine) == 2
    unbounded = BuiltinMemoryBackend(maxsize=None)
    for i in range(DEFAULT_MAXSIZE + 10):
        unbounded.set(i, i)
    assert len(unbounded) == DEFAULT_MAXSIZE + 10


def test_builtin_from_config() -> None:
    config = CacheConfig(url="builtin://?maxsize=7", namespace="ns")
    engine = BuiltinMemoryBackend.from_config(config, config.engine_url())
    assert (engine.maxsize, engine.namespace) == (7, "ns")
    default = CacheConfig()
    assert (
        BuiltinMemoryBackend.from_config(default, default.engine_url()).maxsize == DEFAULT_MAXSIZE
    )
    sized = CacheConfig(maxsize=9)
    assert BuiltinMemoryBackend.from_config(sized, sized.engine_url()).maxsize == 9


def test_engines_satisfy_the_protocols() -> None:
    assert isinstance(BuiltinMemoryBackend(), Backend)
    assert isinstance(engine_class("coretest-abytes")(), AsyncBackend)
    assert isinstance(as_sync(engine_class("coretest-abytes")()), Backend)
    assert isinstance(as_async(BuiltinMemoryBackend()), AsyncBackend)


class Minimal(BaseBackend):
    """What an engine writes on BaseBackend: the single-key methods only."""

    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self.data: dict[str, bytes] = {}

    def get(self, key: Any) -> Any:
        self._check_open()
        return self.data.get(key)

    def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        self._check_open()
        self.data[key] = value
        return True

    def delete(self, key: Any) -> bool:
        self._check_open()
        return self.data.pop(key, None) is not None


class MinimalAsync(BaseAsyncBackend):
    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self.data: dict[str, bytes] = {}

    async def get(self, key: Any) -> Any:
        self._check_open()
        return self.data.get(key)

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        self._check_open()
        self.data[key] = value
        return True

    async def delete(self, key: Any) -> bool:
        self._check_open()
        return self.data.pop(key, None) is not None


def test_base_class_derives_batches_and_closes_once() -> None:
    with Minimal("ns") as engine:
        engine.set_many({"a": b"1", "b": b"2"})
        assert engine.get_many(["a", "b", "c"]) == {"a": b"1", "b": b"2"}
        assert engine.delete_many(["a", "c"]) == 1
        assert repr(engine) == "<Minimal namespace='ns'>"
        assert engine.make_async() is None
        assert (
            Minimal.from_config(CacheConfig(namespace="x"), CacheConfig().engine_url()).namespace
            == "x"
        )
    assert engine.closed
    assert repr(engine) == "<Minimal namespace='ns' closed>"
    engine.close()
    with pytest.raises(CacheOperationError, match="closed"):
        engine.get("b")


async def test_async_base_class_derives_batches_and_closes_once() -> None:
    async with MinimalAsync("ns") as engine:
        await engine.set_many({"a": b"1", "b": b"2"})
        assert await engine.get_many(["a", "b", "c"]) == {"a": b"1", "b": b"2"}
        assert await engine.delete_many(["a", "c"]) == 1
        assert engine.make_sync() is None
    assert engine.closed
    await engine.close()
    with pytest.raises(CacheOperationError):
        await engine.get("b")


def test_sync_adapter_lifecycle() -> None:
    engine = engine_class("coretest-abytes")()
    adapter = SyncAdapter(engine)
    adapter.set("k", b"v")
    assert adapter.get("k") == b"v"
    open_before = adapter.closed
    assert not open_before
    adapter.close()
    adapter.close()
    assert adapter.closed
    assert engine.closed
    with pytest.raises(CacheOperationError, match="closed"):
        adapter.get("k")  # and no "coroutine was never awaited" warning either


async def test_sync_adapter_closes_even_inside_a_running_event_loop() -> None:
    engine = engine_class("coretest-abytes")()
    adapter = SyncAdapter(engine)  # never used: there is no private loop to close it on
    adapter.close()
    assert engine.closed
    already = engine_class("coretest-abytes")()
    await already.close()
    SyncAdapter(already).close()  # closed already: nothing to do


async def test_run_blocking_works_inside_a_running_loop() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert run_blocking(answer()) == 42


def test_loop_thread_is_not_closed_while_a_callback_blocks_it() -> None:
    runner = _LoopThread()
    release = threading.Event()
    runner.loop.call_soon_threadsafe(release.wait)
    runner.stop(timeout=0.05)  # the loop is blocked until release: the join times out
    assert not runner.loop.is_closed()
    release.set()
    runner.thread.join(10)
    assert not runner.thread.is_alive()
    runner.stop()
    assert runner.loop.is_closed()


def test_cache_of_an_async_engine_used_from_sync_code(namespace: str) -> None:
    with Cache("coretest-abytes://", namespace=namespace) as cache:
        cache.set("k", [1, 2])
        assert cache.get("k") == [1, 2]
        assert isinstance(cache.backend, SyncAdapter)
        assert cache.async_backend is cache._raw


class _NoKeys:
    @pytest.fixture
    def make_backend(self) -> Callable[[str], Any]:
        return lambda namespace: engine_class("coretest-nokeys")(namespace=namespace)


class TestEngineWithoutKeysConformance(_NoKeys, BackendConformance):
    """The kit's lists_keys=False contract: keys() raises CacheOperationError."""


class TestEngineWithoutKeysAsyncConformance(AsyncBackendConformance):
    @pytest.fixture
    def make_backend(self) -> Callable[[str], Any]:
        return lambda namespace: engine_class("coretest-anokeys")(namespace=namespace)
