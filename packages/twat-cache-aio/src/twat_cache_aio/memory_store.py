"""The ``aiocache+memory://`` store: aiocache's ``SimpleMemoryCache``."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

from aiocache import SimpleMemoryCache
from twat_cache.engines.integers import checked_sum, not_an_integer, parse_int
from twat_cache.protocols import Capabilities
from twat_cache.serializers import encode_int

from twat_cache_aio.store import Store, bytes_serializer

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """aiocache's ``SimpleMemoryCache``: a dict private to this engine, expiry by loop timers.

    No operation of it suspends (its timeout is off: there is no I/O to bound),
    so a check and a write run with no other coroutine in between; a re-entrant
    lock keeps them atomic against the other thread of a cache used from sync
    code (core's private loop) and async code at once.
    """

    kind = "memory"
    shared = True
    # a dict of this process, expiry by event-loop timers; nothing waits on I/O
    capabilities = Capabilities(native_async=True, blocking=False, shared=False)

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.prefix = (
            f"{namespace}:"  # aiocache's memory backend joins namespace and key with nothing
        )
        self._lock = threading.RLock()

    def connect(self) -> Any:
        """Return the ``SimpleMemoryCache`` (its dict is this instance's own)."""
        return SimpleMemoryCache(serializer=bytes_serializer(), namespace=self.prefix, timeout=None)

    async def disconnect(self, cache: Any) -> None:
        """Drop the entries and cancel their expiry timers."""
        with self._lock:
            await cache.clear(namespace=self.prefix)

    @staticmethod
    def _stored(value: Any) -> bytes | None:
        # aiocache's increment leaves a Python int in its dict
        return encode_int(value) if isinstance(value, int) else value

    async def get(self, cache: Any, key: str) -> bytes | None:
        """See :meth:`AsyncBackend.get`."""
        with self._lock:
            return self._stored(await cache.get(key))

    async def get_many(self, cache: Any, keys: list[str]) -> dict[str, bytes]:
        """See :meth:`AsyncBackend.get_many`."""
        with self._lock:
            values = await cache.multi_get(keys)
        return {k: v for k, v in zip(keys, map(self._stored, values), strict=True) if v is not None}

    async def set(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set`."""
        with self._lock:
            return await super().set(cache, key, value, ttl)

    async def set_many(self, cache: Any, items: dict[str, bytes], ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set_many`."""
        with self._lock:
            return await super().set_many(cache, items, ttl)

    async def add(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.add`."""
        with self._lock:
            return await super().add(cache, key, value, ttl)

    async def delete(self, cache: Any, key: str) -> bool:
        """See :meth:`AsyncBackend.delete`."""
        with self._lock:
            return await super().delete(cache, key)

    async def touch(self, cache: Any, key: str, ttl: float | None) -> bool:
        """Aiocache ``expire``; a ttl of 0 there means "no expiry"."""
        with self._lock:
            return bool(await cache.expire(key, self.ttl(ttl) or 0))

    async def incr(self, cache: Any, key: str, delta: int) -> int:
        """Check presence and range, then aiocache ``increment`` (it keeps the expiry timer)."""
        with self._lock:
            stored = await cache.get(key)
            if stored is None:
                raise ValueError(f"no value under {key!r} to increment")
            if not isinstance(stored, int):  # aiocache's increment leaves a Python int
                if not isinstance(stored, bytes):
                    raise not_an_integer(key)
                stored = parse_int(key, stored)
            checked_sum(key, stored, delta)  # OverflowError before anything changes
            try:
                return int(await cache.increment(key, delta))
            except TypeError:
                raise not_an_integer(key) from None

    async def clear(self, cache: Any) -> None:
        """Aiocache ``clear(namespace)``: deletes each key and cancels its timer.

        (``clear()`` without a namespace would leave the timers running, and a
        timer would later delete an entry written again under the same key.)
        """
        with self._lock:
            await cache.clear(namespace=self.prefix)

    async def keys(self, cache: Any) -> AsyncIterator[str]:
        """Iterate over a snapshot of the keys."""
        with self._lock:
            names = [name for name in await cache.raw("keys") if name.startswith(self.prefix)]
        for name in names:
            yield name[len(self.prefix) :]
