"""The ``aiocache+memory://`` store: aiocache's ``SimpleMemoryCache``."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import aiocache
from aiocache import SimpleMemoryCache
from twat_cache.engines.integers import checked_sum, not_an_integer, parse_int
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.serializers import encode_int

from twat_cache_aio.store import Store, bytes_serializer

__all__ = ["MemoryStore"]

_PRUNE_AT: Final = 1024  # expiry notes kept before the expired ones are dropped


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
    capabilities = Capabilities(
        native_async=True, blocking=False, shared=False, reports_expiry=True
    )

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.prefix = (
            f"{namespace}:"  # aiocache's memory backend joins namespace and key with nothing
        )
        self._lock = threading.RLock()
        # when each key written through this store expires (aiocache keeps only loop timers,
        # private to it): read by expiries() for the keys still present
        self._expires: dict[str, float] = {}
        self._prune_at = _PRUNE_AT

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

    def _remember(self, keys: Iterable[str], ttl: float | None) -> None:
        """Note when ``keys`` expire (callers hold the lock); forget the long-expired notes."""
        expires = NEVER_EXPIRES if ttl is None else time.time() + ttl
        records = self._expires
        for key in keys:
            records[key] = expires
        if len(records) >= self._prune_at:
            now = time.time()
            for key in [key for key, when in records.items() if when <= now]:
                del records[key]
            self._prune_at = max(_PRUNE_AT, 2 * len(records))

    async def server_version(self, cache: Any) -> str:
        """This process, on aiocache."""
        return f"in-process (aiocache {aiocache.__version__})"

    async def expiries(self, cache: Any, keys: list[str]) -> dict[str, float]:
        """When each present key expires, as this store noted it when writing."""
        with self._lock:
            values = await cache.multi_get(keys)
            return {
                key: self._expires.get(key, NEVER_EXPIRES)
                for key, value in zip(keys, values, strict=True)
                if value is not None
            }

    async def set(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set`."""
        with self._lock:
            self._remember([key], ttl)
            return await super().set(cache, key, value, ttl)

    async def set_many(self, cache: Any, items: dict[str, bytes], ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.set_many`."""
        with self._lock:
            self._remember(items, ttl)
            return await super().set_many(cache, items, ttl)

    async def add(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """See :meth:`AsyncBackend.add`."""
        with self._lock:
            added = await super().add(cache, key, value, ttl)
            if added:
                self._remember([key], ttl)
            return added

    async def delete(self, cache: Any, key: str) -> bool:
        """See :meth:`AsyncBackend.delete`."""
        with self._lock:
            self._expires.pop(key, None)
            return await super().delete(cache, key)

    async def touch(self, cache: Any, key: str, ttl: float | None) -> bool:
        """Aiocache ``expire``; a ttl of 0 there means "no expiry"."""
        with self._lock:
            touched = bool(await cache.expire(key, self.ttl(ttl) or 0))
            if touched:
                self._remember([key], ttl)
            return touched

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
            self._expires.clear()

    async def keys(self, cache: Any) -> AsyncIterator[str]:
        """Iterate over a snapshot of the keys."""
        with self._lock:
            names = [name for name in await cache.raw("keys") if name.startswith(self.prefix)]
        for name in names:
            yield name[len(self.prefix) :]
