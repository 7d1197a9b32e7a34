"""The built-in in-process engine: so that ``ucache`` works with core alone.

A thread-safe dictionary with per-entry expiry, stdlib only, evicting by one of
three policies -- ``lru`` (least recently used), ``fifo`` (least recently
written) and ``ttl`` (expired entries first, then least recently used) -- and
bounded by count (``maxsize``) and by estimated bytes (``maxbytes``). ``lfu`` and
``rr`` need the ``twat-cache-memory`` package, which replaces this engine for
``memory://`` when installed; this one stays available as ``builtin://``.
"""

from __future__ import annotations

import heapq
import platform
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from twat_cache.constants import DEFAULT_MAXSIZE, DEFAULT_NAMESPACE
from twat_cache.engines.base import (
    IN_PROCESS_CAPABILITIES,
    BaseBackend,
    check_int64,
    check_limit,
)
from twat_cache.exceptions import ConfigurationError
from twat_cache.protocols import NEVER_EXPIRES

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["BUILTIN_POLICIES", "DEFAULT_MAXSIZE", "BuiltinMemoryBackend", "estimate_size"]

BUILTIN_POLICIES: Final = ("lru", "fifo", "ttl")
"""The eviction policies this engine implements (``lfu`` and ``rr``: twat-cache-memory)."""

_CONTAINERS: Final = (list, tuple, set, frozenset)


def estimate_size(value: object) -> int:
    """Estimate the bytes ``value`` holds, for ``maxbytes``: itself and a container's items.

    ``sys.getsizeof`` alone sees only a container's pointer array; one level
    more counts the strings and numbers a cached list or dict usually holds,
    without walking arbitrarily deep object graphs on every write.

    Example:
        >>> estimate_size(b"abc") == sys.getsizeof(b"abc")
        True
    """
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    elif isinstance(value, _CONTAINERS):
        size += sum(sys.getsizeof(v) for v in value)
    return size


class _WriteOrder(OrderedDict[Hashable, Any]):
    """The fifo store: a read leaves the order alone (writes reorder through OrderedDict's own)."""

    def move_to_end(self, key: Hashable, last: bool = True) -> None:
        """Keep ``key`` where it is: under fifo a hit is not a use."""


def _needs_memory_package(name: str, value: object) -> ConfigurationError:
    return ConfigurationError(
        name,
        value,
        "one of " + ", ".join(BUILTIN_POLICIES) + " with core alone; lfu and rr need "
        'twat-cache-memory: pip install "twat-cache[memory]"',
    )


class BuiltinMemoryBackend(BaseBackend):
    """An in-process cache with per-entry TTL, bounded by count and by bytes.

    Args:
        namespace: The namespace (one instance holds one namespace).
        maxsize: The most entries kept (``None``: no limit by count).
        policy: Which entry goes first when a limit is passed: ``lru`` the least
            recently used, ``fifo`` the least recently written, ``ttl`` an expired
            one if any, else the least recently used.
        maxbytes: The most bytes kept, as :func:`estimate_size` counts them
            (``None``: no limit). A value larger than this alone is not stored.

    Raises:
        ConfigurationError: for a policy this engine lacks (``lfu``, ``rr``: they
            need twat-cache-memory) or a limit below 1.

    Example:
        >>> b = BuiltinMemoryBackend(maxsize=2)
        >>> b.set("a", 1); b.get("a")
        True
        1
    """

    # the engine checks each entry's expiry on read: no storage expires it on its own
    capabilities = IN_PROCESS_CAPABILITIES

    def __init__(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        maxsize: int | None = DEFAULT_MAXSIZE,
        *,
        policy: str = "lru",
        maxbytes: int | None = None,
    ) -> None:
        if policy not in BUILTIN_POLICIES:
            raise _needs_memory_package("policy", policy)
        check_limit("maxsize", maxsize)
        check_limit("maxbytes", maxbytes)
        super().__init__(namespace)
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self.policy = policy
        # fifo: the hit path's move_to_end does nothing, so lru's hit path pays no policy check
        self._data: OrderedDict[Hashable, tuple[Any, float | None]] = (
            _WriteOrder() if policy == "fifo" else OrderedDict()
        )
        self._lock = threading.RLock()
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0
        # ttl: (expires, key) of entries written with a ttl, soonest first; stale ones are
        # skipped when popped, and the heap is rebuilt when they outnumber the live ones
        self._expiries: list[tuple[float, int, Hashable]] | None = [] if policy == "ttl" else None
        self._order = 0
        # entries dropped to stay within maxsize/maxbytes (expired or deleted ones are not counted)
        self.evictions = 0

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> BuiltinMemoryBackend:
        """Build from ``memory://`` or ``builtin://`` (``?maxsize=N``).

        ``config.policy`` and ``config.maxbytes`` apply too (see the class).

        Raises:
            ConfigurationError: for an unknown option, a policy this engine lacks
                or an invalid limit.
        """
        maxsize = url.option_int("maxsize", config.maxsize or DEFAULT_MAXSIZE, minimum=1)
        url.finish()
        # only what differs from the defaults: subclasses may take just (namespace, maxsize)
        extra: dict[str, Any] = {}
        if config.policy != "lru":
            extra["policy"] = config.policy
        if config.maxbytes is not None:
            extra["maxbytes"] = config.maxbytes
        return cls(namespace=config.namespace, maxsize=maxsize, **extra)

    def _live(self, key: Hashable, now: float) -> tuple[Any, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= now:
            self._remove(key)
            return None
        return item

    def _remove(self, key: Hashable) -> None:
        """Drop ``key`` and its size (callers hold the lock)."""
        if self._data.pop(key, None) is not None and self.maxbytes is not None:
            self._bytes -= self._sizes.pop(key, 0)

    def get(self, key: Hashable) -> Any:
        """Return the value under ``key``, or ``None``.

        A live hit takes no lock: ``dict.get`` and ``move_to_end`` are single C
        calls, atomic under the GIL; only dropping an expired entry locks.
        """
        item = self._data.get(key)
        if item is None or self._closed:
            self._check_open()
            return None
        if item[1] is None or item[1] > monotonic():
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hit path
                self._data.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile: still a valid read
                pass
            return item[0]
        with self._lock:
            if self._data.get(key) is item:
                self._remove(key)
        return None

    def server_version(self) -> str:
        """This process (core's built-in engine)."""
        return f"in-process (Python {platform.python_version()})"

    def expiries(self, keys: Sequence[Hashable]) -> dict[Hashable, float]:
        """When each live key among ``keys`` expires (epoch seconds; ``NEVER_EXPIRES``: no ttl)."""
        self._check_open()
        now = monotonic()
        wall = time.time() - now  # expiries are kept on the monotonic clock
        found = {}
        for key in keys:
            item = self._data.get(key)
            if item is not None:
                expires = item[1]
                if expires is None:
                    found[key] = NEVER_EXPIRES
                elif expires > now:
                    found[key] = wall + expires
        return found

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value``; evict by the policy when a limit is passed.

        Returns:
            True, or False when ``maxbytes`` is set and the value alone is larger
            (any previous entry under ``key`` is then removed).
        """
        expires = None if ttl is None else monotonic() + ttl
        with self._lock:
            self._check_open()
            return self._store(key, value, expires)

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """Store every item under one lock; return whether all were stored."""
        expires = None if ttl is None else monotonic() + ttl
        with self._lock:
            self._check_open()
            stored = [self._store(key, value, expires) for key, value in items.items()]
        return all(stored)

    def _store(self, key: Hashable, value: Any, expires: float | None) -> bool:
        """Write one entry and evict (callers hold the lock)."""
        data = self._data
        if self.maxbytes is not None:
            size = estimate_size(value)
            self._remove(key)
            if size > self.maxbytes:
                return False
            self._sizes[key] = size
            self._bytes += size
        data[key] = (value, expires)
        OrderedDict.move_to_end(data, key)  # a write is a use under every policy
        if expires is not None and self._expiries is not None:
            self._remember_expiry(self._expiries, key, expires)
        self._evict()
        return True

    def _over(self) -> bool:
        return (self.maxsize is not None and len(self._data) > self.maxsize) or (
            self.maxbytes is not None and self._bytes > self.maxbytes
        )

    def _evict(self) -> None:
        if not self._over():
            return
        expiries = self._expiries
        if expiries is not None:  # ttl: expired entries go first
            now = monotonic()
            while expiries and expiries[0][0] <= now and self._over():
                expires, _, key = heapq.heappop(expiries)
                item = self._data.get(key)
                if item is not None and item[1] == expires:
                    self._remove(key)
        while self._over():
            self._remove(next(iter(self._data)))
            self.evictions += 1

    def _remember_expiry(
        self, expiries: list[tuple[float, int, Hashable]], key: Hashable, expires: float
    ) -> None:
        """Ttl policy: note when ``key`` expires (callers hold the lock)."""
        self._order += 1
        heapq.heappush(expiries, (expires, self._order, key))
        if len(expiries) > 2 * len(self._data) + 16:  # mostly stale: rebuild from the live ones
            live = [(exp, key) for key, (_, exp) in self._data.items() if exp is not None]
            self._order = len(live)
            expiries[:] = [(exp, n, key) for n, (exp, key) in enumerate(live)]
            heapq.heapify(expiries)

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` if ``key`` is absent; return whether it was stored."""
        with self._lock:
            self._check_open()
            if self._live(key, monotonic()) is not None:
                return False
            # "is not False": a subclass's set may still return None for "stored"
            return self.set(key, value, ttl) is not False

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was present."""
        with self._lock:
            self._check_open()
            if self._live(key, monotonic()) is None:
                return False
            self._remove(key)
            return True

    def touch(self, key: Hashable, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``."""
        with self._lock:
            self._check_open()
            item = self._live(key, monotonic())
            if item is None:
                return False
            expires = None if ttl is None else monotonic() + ttl
            self._data[key] = (item[0], expires)
            if expires is not None and self._expiries is not None:
                self._remember_expiry(self._expiries, key, expires)
            return True

    def incr(self, key: Hashable, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key``.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result is outside the signed 64-bit range
                (the stored value is left unchanged).
        """
        with self._lock:
            self._check_open()
            item = self._live(key, monotonic())
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
            self._clear()

    def _clear(self) -> None:
        self._data.clear()
        self._sizes.clear()
        self._bytes = 0
        if self._expiries is not None:
            self._expiries.clear()

    def keys(self) -> Iterator[Hashable]:
        """Iterate over a snapshot of the live keys."""
        with self._lock:
            self._check_open()
            now = monotonic()
            return iter([k for k, (_, exp) in list(self._data.items()) if exp is None or exp > now])

    def __len__(self) -> int:
        return len(self._data)

    def _close(self) -> None:
        with self._lock:
            self._clear()
