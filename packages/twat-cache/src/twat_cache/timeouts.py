"""``timeout=``: every engine operation of a cache answers within a bound, enforced in core.

An engine's own client timeouts (``socket_timeout``, ``connect_timeout``...) stay
its first line; ``timeout=`` is the same bound on every engine, third-party ones
included. A sync operation runs in a worker thread and the caller stops waiting
after ``timeout`` seconds; an async one is awaited under :func:`asyncio.wait_for`.
A timed-out operation raises :class:`TimeoutError`, which the cache counts as a
failure (fail-open, the breaker is fed) and which ``retries=`` treats as transient.
Iterating ``keys()`` and ``close()`` are not bounded. Engines also pass ``timeout=``
to their clients' own settings (:func:`client_timeouts`), so that a slow call is
cut by the client itself, not only abandoned by core.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from twat_cache.constants import DEFAULT_CONNECT_TIMEOUT
from twat_cache.protocols import (
    AsyncBackend,
    AsyncWakesOnDelete,
    Backend,
    Capabilities,
    WakesOnDelete,
)

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["AsyncTimeLimit", "SyncTimeLimit", "client_timeouts"]

T = TypeVar("T")
_WORKERS = 32
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


SHORTEST_CLIENT_TIMEOUT = 0.001  # a zero socket timeout would make a socket non-blocking


def client_timeouts(
    config: CacheConfig,
    url: EngineURL,
    *,
    reply: Sequence[str] = (),
    connect: Sequence[str] = (),
) -> dict[str, float]:
    """The client settings that the cache's ``timeout=`` gives an engine.

    Empty without ``timeout=``. A URL option of the same name wins (it is left out).

    Args:
        config: The cache's configuration.
        url: The engine's URL.
        reply: Names of the client's reply (read, statement, pool) timeouts: each
            gets ``timeout``.
        connect: Names of its connect timeouts: each gets the shorter of
            ``timeout`` and :data:`~twat_cache.constants.DEFAULT_CONNECT_TIMEOUT`.

    Example:
        >>> from twat_cache.config import CacheConfig
        >>> config = CacheConfig(url="redis://h/0?socket_timeout=2", timeout=0.5)
        >>> client_timeouts(
        ...     config, config.engine_url(), reply=["socket_timeout"], connect=["connect"]
        ... )
        {'connect': 0.5}
    """
    if config.timeout is None:
        return {}
    seconds = max(config.timeout, SHORTEST_CLIENT_TIMEOUT)
    chosen = dict.fromkeys(reply, seconds)
    chosen.update(dict.fromkeys(connect, min(seconds, DEFAULT_CONNECT_TIMEOUT)))
    return {name: value for name, value in chosen.items() if name not in url.options}


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="twat-cache-timeout")
        return _pool


_Engine = TypeVar("_Engine", Backend, AsyncBackend)


class _Bounded(Generic[_Engine]):
    """What both time limits share: the engine they wrap answers for its own attributes."""

    inner: _Engine

    @property
    def namespace(self) -> str:
        """The engine's namespace."""
        return self.inner.namespace

    @property
    def stores_objects(self) -> bool:
        """Whether the engine keeps objects."""
        return self.inner.stores_objects

    @property
    def capabilities(self) -> Capabilities:
        """The engine's capabilities."""
        return self.inner.capabilities


class SyncTimeLimit(_Bounded[Backend]):
    """A sync engine whose every operation returns (or raises TimeoutError) within ``timeout``.

    Args:
        inner: The engine.
        timeout: Seconds per operation.
    """

    def __init__(self, inner: Backend, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout

    def _run(self, call: Callable[..., T], *args: Any, waits: float = 0.0) -> T:
        future = _executor().submit(call, *args)
        try:
            return future.result(self.timeout + waits)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"engine operation took longer than {self.timeout} s") from None

    def get(self, key: str) -> bytes | None:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.get, key)

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.get_many, keys)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.set, key, value, ttl)

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.set_many, items, ttl)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.add, key, value, ttl)

    def delete(self, key: str) -> bool:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.delete, key)

    def delete_many(self, keys: Sequence[str]) -> int:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.delete_many, keys)

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.touch, key, ttl)

    def incr(self, key: str, delta: int = 1) -> int:
        """See :class:`~twat_cache.protocols.Backend`."""
        return self._run(self.inner.incr, key, delta)

    def clear(self) -> None:
        """See :class:`~twat_cache.protocols.Backend`."""
        self._run(self.inner.clear)

    def delete_if(self, key: str, value: bytes) -> bool:
        """See :class:`~twat_cache.protocols.ComparesAndDeletes` (only when declared)."""
        return self._run(cast(WakesOnDelete, self.inner).delete_if, key, value)

    def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """See :class:`~twat_cache.protocols.WakesOnDelete`: bounded by ``timeout`` more."""
        engine = cast(WakesOnDelete, self.inner)
        return self._run(engine.wait_deleted, key, value, timeout, waits=timeout)

    def keys(self) -> Iterator[Hashable]:
        """See :class:`~twat_cache.protocols.Backend` (not bounded)."""
        return self.inner.keys()

    def close(self) -> None:
        """Close the engine (not bounded)."""
        self.inner.close()


class AsyncTimeLimit(_Bounded[AsyncBackend]):
    """An async engine whose every operation returns (or raises TimeoutError) within ``timeout``.

    Args:
        inner: The engine.
        timeout: Seconds per operation.
    """

    def __init__(self, inner: AsyncBackend, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout

    async def _run(self, operation: Awaitable[T], waits: float = 0.0) -> T:
        try:
            return await asyncio.wait_for(operation, self.timeout + waits)
        except TimeoutError:
            raise TimeoutError(f"engine operation took longer than {self.timeout} s") from None

    async def get(self, key: str) -> bytes | None:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.get(key))

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.get_many(keys))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.set(key, value, ttl))

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.set_many(items, ttl))

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.add(key, value, ttl))

    async def delete(self, key: str) -> bool:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.delete(key))

    async def delete_many(self, keys: Sequence[str]) -> int:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.delete_many(keys))

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.touch(key, ttl))

    async def incr(self, key: str, delta: int = 1) -> int:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        return await self._run(self.inner.incr(key, delta))

    async def clear(self) -> None:
        """See :class:`~twat_cache.protocols.AsyncBackend`."""
        await self._run(self.inner.clear())

    async def delete_if(self, key: str, value: bytes) -> bool:
        """See :class:`~twat_cache.protocols.ComparesAndDeletes` (only when declared)."""
        return await self._run(cast(AsyncWakesOnDelete, self.inner).delete_if(key, value))

    async def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """See :class:`~twat_cache.protocols.WakesOnDelete`: bounded by ``timeout`` more."""
        engine = cast(AsyncWakesOnDelete, self.inner)
        return await self._run(engine.wait_deleted(key, value, timeout), waits=timeout)

    def keys(self) -> AsyncIterator[Hashable]:
        """See :class:`~twat_cache.protocols.AsyncBackend` (not bounded)."""
        return self.inner.keys()

    async def close(self) -> None:
        """Close the engine (not bounded)."""
        await self.inner.close()
