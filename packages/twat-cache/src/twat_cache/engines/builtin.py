"""The built-in in-process engine: so that ``ucache`` works with core alone.

A thread-safe LRU dictionary with per-entry expiry, stdlib only. The
``twat-cache-memory`` package replaces it for ``memory://`` when installed
(more policies, size by bytes); this one stays available as ``builtin://``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

from twat_cache.constants import DEFAULT_MAXSIZE, DEFAULT_NAMESPACE
from twat_cache.engines.base import BaseBackend, check_int64
from twat_cache.protocols import Capabilities

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["BuiltinMemoryBackend"]


class BuiltinMemoryBackend(BaseBackend):
    """An in-process LRU cache with per-entry TTL.

    Args:
        namespace: The namespace (one instance holds one namespace).
        maxsize: The most entries kept; the least recently used go first.

    Example:
        >>> b = BuiltinMemoryBackend(maxsize=2)
        >>> b.set("a", 1); b.get("a")
        1
    """

    stores_objects = True
    blocking = False
    capabilities = Capabilities(
        native_ttl=False, stores_objects=True, blocking=False, shared=False, persistent=False
    )

    def __init__(
        self, namespace: str = DEFAULT_NAMESPACE, maxsize: int | None = DEFAULT_MAXSIZE
    ) -> None:
        super().__init__(namespace)
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, tuple[Any, float | None]] = OrderedDict()
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> BuiltinMemoryBackend:
        """Build from ``memory://`` or ``builtin://`` (``?maxsize=N``)."""
        maxsize = url.option_int("maxsize", config.maxsize or DEFAULT_MAXSIZE, minimum=1)
        url.finish()
        return cls(namespace=config.namespace, maxsize=maxsize)

    def _live(self, key: Hashable, now: float) -> tuple[Any, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= now:
            del self._data[key]
            return None
        return item

    def get(self, key: Hashable) -> Any:
        """Return the value under ``key``, or ``None``.

        A live hit takes no lock: ``dict.get`` and ``move_to_end`` are single C
        calls, atomic under the GIL; only dropping an expired entry locks.
        """
        item = self._data.get(key)
        if item is None or self._closed:
            self._check_open()
            return None
        if item[1] is None or item[1] > time.monotonic():
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hit path
                self._data.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile: still a valid read
                pass
            return item[0]
        with self._lock:
            if self._data.get(key) is item:
                del self._data[key]
        return None

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value``; evict the least recently used entry when full (always True)."""
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            self._check_open()
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            if self.maxsize is not None:
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
        return True

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` if ``key`` is absent; return whether it was stored."""
        with self._lock:
            self._check_open()
            if self._live(key, time.monotonic()) is not None:
                return False
            self.set(key, value, ttl)
            return True

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was present."""
        with self._lock:
            self._check_open()
            return (
                self._live(key, time.monotonic()) is not None
                and self._data.pop(key, None) is not None
            )

    def touch(self, key: Hashable, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``."""
        with self._lock:
            self._check_open()
            item = self._live(key, time.monotonic())
            if item is None:
                return False
            self._data[key] = (item[0], None if ttl is None else time.monotonic() + ttl)
            return True

    def incr(self, key: Hashable, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key``.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (as on
                every server engine); the stored value stays.
        """
        with self._lock:
            self._check_open()
            item = self._live(key, time.monotonic())
            if item is None:
                raise ValueError(f"key {key!r} not found")
            if type(item[0]) is not int:
                raise TypeError(f"the value under {key!r} is not an integer")
            value = check_int64(item[0] + delta)
            self._data[key] = (value, item[1])
            return value

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._check_open()
            self._data.clear()

    def keys(self) -> Iterator[Hashable]:
        """Iterate over a snapshot of the live keys."""
        with self._lock:
            self._check_open()
            now = time.monotonic()
            return iter([k for k, (_, exp) in list(self._data.items()) if exp is None or exp > now])

    def __len__(self) -> int:
        return len(self._data)

    def _close(self) -> None:
        with self._lock:
            self._data.clear()
