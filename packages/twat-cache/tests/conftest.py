"""Small in-test engines for core's own tests, registered under test-only URL schemes.

Core ships one engine (the built-in, in-process one). To test what core does for
server engines -- bytes, serialization, signing, tags seen by every process,
fail-open -- these engines store bytes in a dict shared by every instance of a
namespace, as a server would, without needing one:

* ``coretest-bytes://``: a blocking, byte-storing engine (async code reaches it
  through AsyncAdapter's worker thread);
* ``coretest-abytes://``: the same storage behind a native async engine built on
  BaseAsyncBackend (sync code reaches it through SyncAdapter's private loop);
* ``coretest-waking://`` and ``coretest-awaking://``: the byte engines with a
  compare-and-delete and its wake-ups (a condition variable shared per namespace);
* ``coretest-failing://`` and ``coretest-failing-local://``: engines whose every
  call raises BackendError while ``down`` is true.
* ``coretest-nokeys://`` and ``coretest-anokeys://``: engines (sync, native async)
  that cannot list their keys, as memcached cannot.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest
from twat_cache.engines.base import BaseAsyncBackend, check_int64
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.exceptions import BackendError, CacheOperationError
from twat_cache.protocols import Capabilities
from twat_cache.registry import register_engine
from twat_cache.serializers import encode_int


class BytesEngine(BuiltinMemoryBackend):
    """The built-in engine turned into a "server": bytes only, shared per namespace."""

    stores_objects = False
    blocking = True
    capabilities = Capabilities(native_ttl=False, persistent=False)
    _stores: ClassVar[dict[str, OrderedDict[Hashable, tuple[Any, float | None]]]] = {}
    _locks: ClassVar[dict[str, threading.RLock]] = {}

    def __init__(self, namespace: str = "default", maxsize: int | None = None) -> None:
        super().__init__(namespace, maxsize)
        self._data = self._stores.setdefault(namespace, OrderedDict())
        self._lock = self._locks.setdefault(namespace, threading.RLock())

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        if not isinstance(key, str) or not isinstance(value, bytes):
            raise TypeError(f"a server engine takes str keys and bytes values, not {value!r}")
        return super().set(key, value, ttl)

    def get_heads(self, keys: Sequence[Hashable], size: int) -> dict[Hashable, bytes]:
        """The first ``size`` bytes of the present entries (as Redis' header read)."""
        return {key: value[:size] for key, value in self.get_many(keys).items()}

    def incr(self, key: Hashable, delta: int = 1) -> int:
        with self._lock:
            self._check_open()
            item = self._live(key, time.monotonic())
            if item is None:
                raise ValueError(f"key {key!r} not found")
            try:
                value = check_int64(int(item[0]) + delta)
            except ValueError:
                raise TypeError(f"the value under {key!r} is not an integer") from None
            self._data[key] = (encode_int(value), item[1])
            return value

    def _close(self) -> None:
        """Entries outlive the connection, as on a server."""


class AsyncOverSync(BaseAsyncBackend):
    """A native async engine (written on BaseAsyncBackend) over a sync engine of ``inner``."""

    inner: ClassVar[type[Any]]

    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self._inner: Any = self.inner(namespace)

    async def get(self, key: Any) -> Any:
        self._check_open()
        return self._inner.get(key)

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        self._check_open()
        return bool(self._inner.set(key, value, ttl))

    async def add(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        self._check_open()
        return bool(self._inner.add(key, value, ttl))

    async def delete(self, key: Any) -> bool:
        self._check_open()
        return bool(self._inner.delete(key))

    async def touch(self, key: Any, ttl: float | None = None) -> bool:
        self._check_open()
        return bool(self._inner.touch(key, ttl))

    async def incr(self, key: Any, delta: int = 1) -> int:
        self._check_open()
        return int(self._inner.incr(key, delta))

    async def clear(self) -> None:
        self._check_open()
        self._inner.clear()

    async def keys(self) -> AsyncIterator[Any]:
        self._check_open()
        for key in self._inner.keys():
            yield key

    async def _close(self) -> None:
        self._inner.close()


class AsyncBytesEngine(AsyncOverSync):
    """A native async engine over the byte engine's storage."""

    inner = BytesEngine
    stores_objects = False
    capabilities = Capabilities(native_ttl=False, native_async=True, persistent=False)

    async def get_heads(self, keys: Sequence[Any], size: int) -> dict[Any, bytes]:
        self._check_open()
        heads: dict[Any, bytes] = self._inner.get_heads(keys, size)
        return heads


class NoKeysEngine(BuiltinMemoryBackend):
    """An engine that cannot list its keys (as memcached cannot), and says so."""

    capabilities = Capabilities(
        lists_keys=False, native_ttl=False, stores_objects=True, blocking=False, shared=False
    )

    def keys(self) -> Iterator[Any]:
        raise CacheOperationError("this engine cannot list its keys")


class AsyncNoKeysEngine(AsyncOverSync):
    """The engine without keys as a native async engine."""

    inner = NoKeysEngine
    stores_objects = True
    capabilities = NoKeysEngine.capabilities

    def keys(self) -> Any:
        raise CacheOperationError("this engine cannot list its keys")


class WakingEngine(BytesEngine):
    """A byte engine with ``delete_if`` and ``wait_deleted`` (capabilities say so)."""

    capabilities = Capabilities(
        native_ttl=False, persistent=False, compare_and_delete=True, delete_wakeups=True
    )
    _released: ClassVar[dict[str, set[tuple[Hashable, bytes]]]] = {}
    _conditions: ClassVar[dict[str, threading.Condition]] = {}

    def __init__(self, namespace: str = "default", maxsize: int | None = None) -> None:
        super().__init__(namespace, maxsize)
        self._done = self._released.setdefault(namespace, set())
        self._condition = self._conditions.setdefault(namespace, threading.Condition(self._lock))
        self.waits = 0

    def delete_if(self, key: Hashable, value: bytes) -> bool:
        with self._condition:
            self._check_open()
            item = self._live(key, time.monotonic())
            if item is None or item[0] != value:
                return False
            del self._data[key]
            self._done.add((key, value))
            self._condition.notify_all()
            return True

    def wait_deleted(self, key: Hashable, value: bytes, timeout: float) -> bool:
        self.waits += 1
        with self._condition:
            return self._condition.wait_for(lambda: (key, value) in self._done, timeout)


class AsyncWakingEngine(AsyncBytesEngine):
    """The waking engine behind a native async engine."""

    capabilities = WakingEngine.capabilities

    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self._inner = self._waking = WakingEngine(namespace)

    async def delete_if(self, key: Any, value: bytes) -> bool:
        return self._waking.delete_if(key, value)

    async def wait_deleted(self, key: Any, value: bytes, timeout: float) -> bool:
        return await asyncio.to_thread(self._waking.wait_deleted, key, value, timeout)


class FailingEngine(BytesEngine):
    """A byte engine whose server is down (every call raises) while ``down`` is true."""

    def __init__(self, namespace: str = "default", maxsize: int | None = None) -> None:
        super().__init__(namespace, maxsize)
        self.down = True
        self.calls = 0

    def _server(self) -> None:
        self.calls += 1
        if self.down:
            raise BackendError("server down") from ConnectionRefusedError(111, "refused")

    def get(self, key: Hashable) -> Any:
        self._server()
        return super().get(key)

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        self._server()
        return super().get_many(keys)

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._server()
        return super().set(key, value, ttl)

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        self._server()
        return super().set_many(items, ttl)

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._server()
        return super().add(key, value, ttl)

    def delete(self, key: Hashable) -> bool:
        self._server()
        return super().delete(key)

    def delete_many(self, keys: Sequence[Any]) -> int:
        self._server()
        return super().delete_many(keys)

    def touch(self, key: Hashable, ttl: float | None = None) -> bool:
        self._server()
        return super().touch(key, ttl)

    def incr(self, key: Hashable, delta: int = 1) -> int:
        self._server()
        return super().incr(key, delta)

    def clear(self) -> None:
        self._server()
        super().clear()

    def keys(self) -> Iterator[Hashable]:
        self._server()
        return super().keys()


class FailingLocalEngine(FailingEngine):
    """An in-process engine (objects, no serialization) that fails while ``down``."""

    stores_objects = True
    blocking = False
    capabilities = Capabilities(native_ttl=False, stores_objects=True, blocking=False, shared=False)

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._server()
        return BuiltinMemoryBackend.set(self, key, value, ttl)

    def incr(self, key: Hashable, delta: int = 1) -> int:
        self._server()
        return BuiltinMemoryBackend.incr(self, key, delta)


register_engine("coretest-bytes", BytesEngine)
register_engine("coretest-abytes", AsyncBytesEngine)
register_engine("coretest-waking", WakingEngine)
register_engine("coretest-awaking", AsyncWakingEngine)
register_engine("coretest-failing", FailingEngine)
register_engine("coretest-nokeys", NoKeysEngine)
register_engine("coretest-anokeys", AsyncNoKeysEngine)
register_engine("coretest-failing-local", FailingLocalEngine)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses (the byte engines share storage per namespace)."""
    return "t-" + uuid.uuid4().hex[:12]
