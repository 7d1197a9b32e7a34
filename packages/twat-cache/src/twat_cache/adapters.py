"""Calling a sync engine from async code and an async engine from sync code.

* :class:`AsyncAdapter` runs a blocking engine's calls in a worker thread
  (``asyncio.to_thread``); an in-process engine (``blocking = False``) is called
  directly, since its calls return at once.
* :class:`SyncAdapter` runs an async engine on a private event loop in a daemon
  thread of its own, so sync callers never touch (or block) their own loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

from twat_cache.engines.base import BaseAsyncBackend, BaseBackend
from twat_cache.exceptions import CacheOperationError
from twat_cache.protocols import (
    AsyncBackend,
    AsyncReportsExpiry,
    AsyncWakesOnDelete,
    Backend,
    Capabilities,
    ReportsEvictions,
    ReportsExpiry,
    WakesOnDelete,
    capabilities_of,
)

__all__ = [
    "AsyncAdapter",
    "SyncAdapter",
    "as_async",
    "as_sync",
    "aserver_version_of",
    "run_blocking",
    "server_version_of",
]

_T = TypeVar("_T")


class AsyncAdapter:
    """An :class:`~twat_cache.protocols.AsyncBackend` over a sync backend.

    Args:
        backend: The sync engine; its calls run in a worker thread, or directly
            when its capabilities say it never blocks (in-process engines).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.capabilities: Capabilities = capabilities_of(backend)
        self.namespace: str = backend.namespace
        self.stores_objects: bool = self.capabilities.stores_objects
        self._direct = not self.capabilities.blocking

    @property
    def evictions(self) -> int:
        """See :class:`~twat_cache.protocols.ReportsEvictions` (only when declared)."""
        return cast(ReportsEvictions, self.backend).evictions

    async def _run(self, call: Callable[..., _T], *args: Any) -> _T:
        if self._direct:
            return call(*args)
        return await asyncio.to_thread(call, *args)

    async def get(self, key: Any) -> Any:
        """See :meth:`Backend.get`."""
        return await self._run(self.backend.get, key)

    async def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """See :meth:`Backend.get_many`."""
        return await self._run(self.backend.get_many, keys)

    async def server_version(self) -> str | None:
        """See :meth:`~twat_cache.engines.base.BaseBackend.server_version`."""
        return await self._run(server_version_of, self.backend)

    async def expiries(self, keys: Sequence[Any]) -> dict[Any, float]:
        """See :meth:`~twat_cache.protocols.ReportsExpiry.expiries`."""
        return await self._run(cast("ReportsExpiry", self.backend).expiries, keys)

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """See :meth:`Backend.set`."""
        return await self._run(self.backend.set, key, value, ttl)

    async def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """See :meth:`Backend.set_many`."""
        return await self._run(self.backend.set_many, items, ttl)

    async def add(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """See :meth:`Backend.add`."""
        return await self._run(self.backend.add, key, value, ttl)

    async def delete(self, key: Any) -> bool:
        """See :meth:`Backend.delete`."""
        return await self._run(self.backend.delete, key)

    async def delete_many(self, keys: Sequence[Any]) -> int:
        """See :meth:`Backend.delete_many`."""
        return await self._run(self.backend.delete_many, keys)

    async def touch(self, key: Any, ttl: float | None = None) -> bool:
        """See :meth:`Backend.touch`."""
        return await self._run(self.backend.touch, key, ttl)

    async def incr(self, key: Any, delta: int = 1) -> int:
        """See :meth:`Backend.incr`."""
        return await self._run(self.backend.incr, key, delta)

    async def clear(self) -> None:
        """See :meth:`Backend.clear`."""
        await self._run(self.backend.clear)

    async def delete_if(self, key: Any, value: bytes) -> bool:
        """See :class:`~twat_cache.protocols.ComparesAndDeletes` (only when declared)."""
        return await self._run(cast(WakesOnDelete, self.backend).delete_if, key, value)

    async def wait_deleted(self, key: Any, value: bytes, timeout: float) -> bool:
        """See :class:`~twat_cache.protocols.WakesOnDelete` (only when declared)."""
        engine = cast(WakesOnDelete, self.backend)
        return await self._run(engine.wait_deleted, key, value, timeout)

    async def keys(self) -> AsyncIterator[Any]:
        """See :meth:`Backend.keys` (collected in the worker thread)."""

        def snapshot() -> list[Any]:
            return list(self.backend.keys())

        for key in await self._run(snapshot):
            yield key

    async def close(self) -> None:
        """Close the wrapped backend."""
        await self._run(self.backend.close)


class _LoopThread:
    """A private event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="twat-cache-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self, timeout: float = 5.0) -> None:
        # queued even if run_forever has not started yet, so there is no race with start()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():  # else a callback blocks the loop: never close it running
            self.loop.close()


class SyncAdapter:
    """A :class:`~twat_cache.protocols.Backend` over an async backend.

    Args:
        backend: The async engine; its calls run on a private event loop.
    """

    blocking = True

    def __init__(self, backend: AsyncBackend) -> None:
        self.backend = backend
        self.namespace: str = backend.namespace
        # the adapter blocks its caller while the private loop works, whatever the engine does
        self.capabilities: Capabilities = replace(capabilities_of(backend), blocking=True)
        self.stores_objects: bool = self.capabilities.stores_objects
        self._runner: _LoopThread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def evictions(self) -> int:
        """See :class:`~twat_cache.protocols.ReportsEvictions` (only when declared)."""
        return cast(ReportsEvictions, self.backend).evictions

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        with self._lock:
            if self._closed:
                coro.close()  # never started: no "coroutine was never awaited" warning
                raise CacheOperationError(
                    f"{type(self.backend).__name__} (namespace {self.namespace!r}) is closed"
                )
            runner = self._runner
            if runner is None:
                runner = self._runner = _LoopThread()
        return runner.run(coro)

    def get(self, key: Any) -> Any:
        """See :meth:`AsyncBackend.get`."""
        return self._run(self.backend.get(key))

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """See :meth:`AsyncBackend.get_many`."""
        return self._run(self.backend.get_many(keys))

    def server_version(self) -> str | None:
        """See :meth:`~twat_cache.engines.base.BaseAsyncBackend.server_version`."""
        return self._run(aserver_version_of(self.backend))

    def expiries(self, keys: Sequence[Any]) -> dict[Any, float]:
        """See :meth:`~twat_cache.protocols.AsyncReportsExpiry.expiries`."""
        return self._run(cast("AsyncReportsExpiry", self.backend).expiries(keys))

    def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """See :meth:`AsyncBackend.set`."""
        return self._run(self.backend.set(key, value, ttl))

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """See :meth:`AsyncBackend.set_many`."""
        return self._run(self.backend.set_many(items, ttl))

    def add(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """See :meth:`AsyncBackend.add`."""
        return self._run(self.backend.add(key, value, ttl))

    def delete(self, key: Any) -> bool:
        """See :meth:`AsyncBackend.delete`."""
        return self._run(self.backend.delete(key))

    def delete_many(self, keys: Sequence[Any]) -> int:
        """See :meth:`AsyncBackend.delete_many`."""
        return self._run(self.backend.delete_many(keys))

    def touch(self, key: Any, ttl: float | None = None) -> bool:
        """See :meth:`AsyncBackend.touch`."""
        return self._run(self.backend.touch(key, ttl))

    def incr(self, key: Any, delta: int = 1) -> int:
        """See :meth:`AsyncBackend.incr`."""
        return self._run(self.backend.incr(key, delta))

    def clear(self) -> None:
        """See :meth:`AsyncBackend.clear`."""
        self._run(self.backend.clear())

    def delete_if(self, key: Any, value: bytes) -> bool:
        """See :class:`~twat_cache.protocols.ComparesAndDeletes` (only when declared)."""
        return self._run(cast(AsyncWakesOnDelete, self.backend).delete_if(key, value))

    def wait_deleted(self, key: Any, value: bytes, timeout: float) -> bool:
        """See :class:`~twat_cache.protocols.WakesOnDelete` (only when declared)."""
        engine = cast(AsyncWakesOnDelete, self.backend)
        return self._run(engine.wait_deleted(key, value, timeout))

    def keys(self) -> Iterator[Any]:
        """See :meth:`AsyncBackend.keys` (collected on the private loop)."""

        async def collect() -> list[Any]:
            keys = self.backend.keys()  # an async iterator, not a dict view
            return [key async for key in keys]

        return iter(self._run(collect()))

    def close(self) -> None:
        """Close the wrapped backend and stop the private loop (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            runner, self._runner = self._runner, None
        if runner is not None:
            try:
                runner.run(self.backend.close())
            finally:
                runner.stop()
        else:
            # never used from sync code: close it (idempotent) on a loop of its own, which
            # works even when the caller is inside a running event loop
            run_blocking(self.backend.close())


def server_version_of(backend: Backend) -> str | None:
    """``backend.server_version()``; None for an engine not built on the base classes (none)."""
    version = getattr(backend, "server_version", None)
    return None if version is None else cast("str | None", version())


async def aserver_version_of(backend: AsyncBackend) -> str | None:
    """The async form of :func:`server_version_of`."""
    version = getattr(backend, "server_version", None)
    return None if version is None else cast("str | None", await version())


def _is_async(backend: Backend | AsyncBackend) -> bool:
    return inspect.iscoroutinefunction(backend.get)


def as_async(backend: Backend | AsyncBackend) -> AsyncBackend:
    """Return an async view of ``backend`` (itself if it is already async).

    A sync engine built on :class:`~twat_cache.engines.base.BaseBackend` may offer
    a native async twin (``make_async``); any other gets a worker-thread adapter.
    """
    if _is_async(backend):
        return cast("AsyncBackend", backend)
    sync = cast("Backend", backend)
    native = sync.make_async() if isinstance(sync, BaseBackend) else None
    return native if native is not None else AsyncAdapter(sync)


def as_sync(backend: Backend | AsyncBackend) -> Backend:
    """Return a sync view of ``backend`` (itself if it is already sync)."""
    if not _is_async(backend):
        return cast("Backend", backend)
    async_ = cast("AsyncBackend", backend)
    native = async_.make_sync() if isinstance(async_, BaseAsyncBackend) else None
    return native if native is not None else SyncAdapter(async_)


def run_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from sync code, even inside a running event loop."""
    runner = _LoopThread()
    try:
        return runner.run(coro)
    finally:
        runner.stop()
