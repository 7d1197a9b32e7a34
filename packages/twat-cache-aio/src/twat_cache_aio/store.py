"""What every store does: the interface between the engine and one aiocache backend.

:class:`~twat_cache_aio.AiocacheBackend` does the lifecycle, one aiocache cache
per event loop and the translation of client errors; a store does the storage,
through aiocache's API where aiocache keeps the contract and through the client
underneath (``cache.raw``, still under aiocache's timeout) where it does not:

* ``incr``: aiocache's ``increment`` creates a missing key; the contract says
  ``ValueError``. Memory checks and increments with no suspension in between,
  Redis runs one Lua script, memcached's own ``incr`` answers ``NOT_FOUND``.
* ``clear``: aiocache's Redis ``clear(namespace)`` runs ``KEYS`` (blocks the
  server) and its memcached ``clear()`` sends ``flush_all`` (every application's
  data). Redis here SCANs the namespace's prefix; memcached bumps a generation.
* ``touch`` with ``ttl=None``: Redis ``PERSIST`` answers 0 for a key that exists
  without a ttl, so a script answers "present" instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from aiocache.serializers import NullSerializer
from twat_cache.exceptions import BackendError, EngineNotAvailableError
from twat_cache.protocols import Capabilities

__all__ = ["Store", "bytes_serializer", "missing_client"]


def bytes_serializer() -> Any:
    """Return aiocache's serializer for this engine: bytes in and out, untouched.

    Core serializes, so aiocache must neither encode values nor decode replies.
    """
    return NullSerializer(encoding=None)


def missing_client(extra: str, module: str, exc: ImportError) -> EngineNotAvailableError:
    """Return the error for a backend whose client library is not installed."""
    return EngineNotAvailableError(
        f"the 'aiocache+{extra}' engine needs {module}: "
        f'pip install "twat-cache-aio[{extra}]" ({exc})'
    )


class Store:
    """The storage of one kind of aiocache backend, for one namespace.

    The default methods go through aiocache's API on a cache whose namespace is
    this one's; subclasses override what their backend does differently.
    """

    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    shared: ClassVar[bool] = False  # one aiocache cache for every event loop (in-process)
    supports_keys: ClassVar[bool] = True
    failures: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def connect(self) -> Any:
        """Return a new aiocache cache (no I/O: clients connect on first use)."""
        raise NotImplementedError

    async def disconnect(self, cache: Any) -> None:
        """Close ``cache``'s connections; never raises."""

    def translate(self, exc: BaseException, operation: str) -> Exception:
        """Return the error to raise for a client failure."""
        return BackendError(
            f"aiocache+{self.kind} {operation} failed: {type(exc).__name__}: {exc}",
            engine=f"aiocache+{self.kind}",
            operation=operation,
        )

    def ttl(self, ttl: float | None) -> Any:
        """Return ``ttl`` seconds as aiocache's backend expects it."""
        return None if ttl is None else max(float(ttl), 0.001)

    async def get(self, cache: Any, key: str) -> bytes | None:
        """See :meth:`AsyncBackend.get`."""
        value: bytes | None = await cache.get(key)
        return value

    async def get_many(self, cache: Any, keys: list[str]) -> dict[str, bytes]:
        """See :meth:`AsyncBackend.get_many`."""
        values = await cache.multi_get(keys)
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    async def server_version(self, cache: Any) -> str | None:
        """What stores the entries and its version (see ``BaseAsyncBackend.server_version``)."""
        raise NotImplementedError

    async def expiries(self, cache: Any, keys: list[str]) -> dict[str, float]:
        """See :meth:`~twat_cache.protocols.AsyncReportsExpiry.expiries`.

        Only stores whose capabilities say ``reports_expiry`` implement it.
        """
        raise NotImplementedError

    async def set(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set`."""
        await cache.set(key, value, ttl=self.ttl(ttl))
        return True

    async def set_many(self, cache: Any, items: dict[str, bytes], ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set_many`."""
        await cache.multi_set(list(items.items()), ttl=self.ttl(ttl))
        return True

    async def add(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.add` (aiocache raises ValueError when the key exists)."""
        try:
            await cache.add(key, value, ttl=self.ttl(ttl))
        except ValueError:
            return False
        return True

    async def delete(self, cache: Any, key: str) -> bool:
        """See :meth:`AsyncBackend.delete`."""
        return bool(await cache.delete(key))

    async def delete_many(self, cache: Any, keys: list[str]) -> int:
        """See :meth:`AsyncBackend.delete_many`."""
        count = 0
        for key in keys:
            count += await self.delete(cache, key)
        return count

    async def touch(self, cache: Any, key: str, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.touch`."""
        raise NotImplementedError

    async def incr(self, cache: Any, key: str, delta: int) -> int:
        """See :meth:`AsyncBackend.incr`."""
        raise NotImplementedError

    async def clear(self, cache: Any) -> None:
        """See :meth:`AsyncBackend.clear`."""
        raise NotImplementedError

    def keys(self, cache: Any) -> AsyncIterator[str]:
        """See :meth:`AsyncBackend.keys`."""
        raise NotImplementedError
