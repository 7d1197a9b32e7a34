"""The conformance kit run against core's own engines, which also proves the kit.

* the built-in engine (objects, in-process), sync and async (AsyncAdapter, called directly);
* a blocking byte engine, async through AsyncAdapter's worker thread;
* a native async engine on BaseAsyncBackend, sync through SyncAdapter's private loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twat_cache.adapters import AsyncAdapter, SyncAdapter, as_async, as_sync
from twat_cache.engines import BuiltinMemoryBackend
from twat_cache.protocols import Capabilities
from twat_cache.registry import engine_class
from twat_cache.testing import AsyncBackendConformance, BackendConformance

MakeBackend = Callable[[str], Any]


class _Builtin:
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        return lambda namespace: BuiltinMemoryBackend(namespace=namespace)


class TestBuiltinConformance(_Builtin, BackendConformance):
    @pytest.fixture(params=["lru", "fifo", "ttl"])
    def make_bounded_backend(self, request: pytest.FixtureRequest) -> Callable[[str, int], Any]:
        return lambda namespace, maxsize: BuiltinMemoryBackend(
            namespace=namespace, maxsize=maxsize, policy=request.param
        )


class TestBuiltinAsyncConformance(_Builtin, AsyncBackendConformance):
    pass


class _Bytes:
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        cls = engine_class("coretest-bytes")
        return lambda namespace: cls(namespace=namespace)


class TestBlockingBytesEngineConformance(_Bytes, BackendConformance):
    pass


class TestBlockingBytesEngineAsyncConformance(_Bytes, AsyncBackendConformance):
    """A blocking engine used from async code: every call goes through a worker thread."""


class _AsyncEngine:
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        cls = engine_class("coretest-abytes")
        return lambda namespace: cls(namespace=namespace)


class TestAsyncEngineFromSyncCode(_AsyncEngine, BackendConformance):
    """An async engine used from sync code, through SyncAdapter's private event loop."""


class TestAsyncEngineConformance(_AsyncEngine, AsyncBackendConformance):
    pass


class _Waking:
    @pytest.fixture(params=["coretest-waking", "coretest-awaking"])
    def make_backend(self, request: pytest.FixtureRequest) -> MakeBackend:
        cls = engine_class(request.param)
        return lambda namespace: cls(namespace=namespace)


class TestWakingEngineConformance(_Waking, BackendConformance):
    """Compare-and-delete and its wake-ups, sync (through SyncAdapter for the async one)."""


class TestWakingEngineAsyncConformance(_Waking, AsyncBackendConformance):
    """The same from async code (through AsyncAdapter for the sync one)."""


def test_the_kit_catches_a_compare_and_delete_that_ignores_the_value() -> None:
    class Careless(BuiltinMemoryBackend):
        capabilities = Capabilities(
            stores_objects=True, blocking=False, shared=False, compare_and_delete=True
        )

        def delete_if(self, key: Any, value: bytes) -> bool:
            return self.delete(key)

    with pytest.raises((AssertionError, pytest.fail.Exception)):
        BackendConformance().test_compare_and_delete(Careless())


def test_adapters_are_used_only_when_needed() -> None:
    builtin = BuiltinMemoryBackend()
    engine = engine_class("coretest-abytes")()
    assert as_sync(builtin) is builtin
    assert as_async(engine) is engine
    assert isinstance(as_async(builtin), AsyncAdapter)
    assert isinstance(as_sync(engine), SyncAdapter)
    as_sync(engine).close()
    builtin.close()


class _Liar(BuiltinMemoryBackend):
    """Breaks promises: declares lists_keys=False yet lists, and lets incr overflow."""

    capabilities = Capabilities(
        lists_keys=False, native_ttl=False, stores_objects=True, blocking=False, shared=False
    )

    def incr(self, key: Any, delta: int = 1) -> int:
        with self._lock:
            if key not in self._data:
                raise ValueError(key)
            if type(self._data[key][0]) is not int:
                raise TypeError(key)
            value: int = self._data[key][0] + delta
            self._data[key] = (value, None)
            return value


def test_the_kit_catches_an_engine_breaking_its_promises() -> None:
    kit = BackendConformance()
    failed = (AssertionError, pytest.fail.Exception)
    with pytest.raises(failed):
        kit.test_incr_error_types(_Liar())  # no OverflowError past 64 bits
    liar = _Liar()
    with pytest.raises(failed):  # keys() works although lists_keys=False says it raises
        kit.test_keys_only_this_namespace(lambda: liar)
    undeclared = BuiltinMemoryBackend()
    undeclared.stores_objects = False  # its record says objects
    with pytest.raises(failed):
        kit.test_declares_capabilities(lambda namespace: undeclared)


def test_the_kit_stores_no_value_larger_than_the_engine_declares() -> None:
    class Small(BuiltinMemoryBackend):
        capabilities = Capabilities(stores_objects=True, blocking=False, max_value_size=1024)

    assert BackendConformance().sizes(Small()) == [0, 1, 1024]
    assert BackendConformance().sizes() == [0, 1, 1024, 1024 * 1024, 10 * 1024 * 1024]
