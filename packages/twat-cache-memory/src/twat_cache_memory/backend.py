"""The ``memory://`` engine: an in-process cache over cachetools' eviction policies.

Values are kept as the Python objects core hands over (``stores_objects``), so
a hit is a dictionary lookup under one lock, with no serialization. An entry
written with a ``ttl`` is wrapped in a small :class:`_Expiring` record holding
its expiry on the ``time.monotonic()`` clock; an entry without one is stored
bare, so the common hit path allocates nothing and reads no clock.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import suppress
from time import monotonic, time
from typing import TYPE_CHECKING, Any, Final

import cachetools
from twat_cache.constants import DEFAULT_MAXSIZE
from twat_cache.engines.base import (
    IN_PROCESS_CAPABILITIES,
    BaseBackend,
    check_int64,
    check_limit,
)
from twat_cache.engines.builtin import estimate_size
from twat_cache.exceptions import ConfigurationError
from twat_cache.protocols import NEVER_EXPIRES

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["DEFAULT_MAXSIZE", "POLICIES", "MemoryBackend"]

POLICIES: Final = ("lru", "lfu", "fifo", "rr", "ttl")
"""The eviction policies: least recently used, least frequently used, first in
first out, random replacement, and ``ttl`` (expired entries are purged on every
write, then least recently used)."""

_MISSING: Final = object()


class _Expiring:
    """A stored value with the ``time.monotonic()`` instant it expires at."""

    __slots__ = ("expires", "value")

    def __init__(self, value: Any, expires: float) -> None:
        self.value = value
        self.expires = expires


def _time_to_use(key: Hashable, item: Any, now: float) -> float:
    """TLRUCache's expiry function: entries without a ttl live for ever."""
    return item.expires if type(item) is _Expiring else math.inf


def _timer() -> float:
    """TLRUCache's clock: this module's ``monotonic``, looked up at each call.

    ``twat_cache.testing.frozen_clock`` swaps that name, and so drives the ``ttl`` policy too.
    """
    return monotonic()


def _sizeof(item: Any) -> int:
    """Estimate the bytes an entry holds, as core's built-in engine does (see ``estimate_size``)."""
    return estimate_size(item.value if type(item) is _Expiring else item)


class _OrderedLRU(OrderedDict[Hashable, Any]):
    """The default store (lru, bounded by count): an ``OrderedDict`` in recency order.

    cachetools' LRUCache runs several Python-level calls per hit; here a hit is
    two C calls (``get`` and ``move_to_end``), each atomic under the GIL, so the
    engine reads it without taking its lock (see ``MemoryBackend.get``). Writes
    still take the lock.
    """

    def __init__(self, maxsize: float) -> None:
        super().__init__()
        self.maxsize = maxsize
        self.evictions = 0

    def __setitem__(self, key: Hashable, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)
            self.evictions += 1


class _Counting(cachetools.Cache[Any, Any]):
    """Counts evictions: cachetools drops an entry to make room only through ``popitem``.

    Expired entries leave through ``expire()``/``__delitem__`` instead, so they
    are not counted (nor are deletes).
    """

    evictions = 0

    def popitem(self) -> tuple[Any, Any]:
        """Drop the entry the policy chooses, and count it."""
        item = super().popitem()
        self.evictions += 1
        return item

    def clear(self) -> None:
        """Remove every entry (MutableMapping clears through ``popitem``: not evictions)."""
        evictions = self.evictions
        super().clear()
        self.evictions = evictions


class _LRU(_Counting, cachetools.LRUCache[Any, Any]):
    pass


class _LFU(_Counting, cachetools.LFUCache[Any, Any]):
    pass


class _FIFO(_Counting, cachetools.FIFOCache[Any, Any]):
    pass


class _RR(_Counting, cachetools.RRCache[Any, Any]):
    pass


class _TLRU(_Counting, cachetools.TLRUCache[Any, Any, float]):
    pass


def _make_store(
    policy: str, limit: float, sizeof: Callable[[Any], int] | None
) -> _Counting | _OrderedLRU:
    if policy == "lru" and sizeof is None:
        return _OrderedLRU(limit)
    if policy == "lru":
        return _LRU(limit, getsizeof=sizeof)
    if policy == "lfu":
        return _LFU(limit, getsizeof=sizeof)
    if policy == "fifo":
        return _FIFO(limit, getsizeof=sizeof)
    if policy == "rr":
        return _RR(limit, getsizeof=sizeof)
    return _TLRU(limit, _time_to_use, timer=_timer, getsizeof=sizeof)


class MemoryBackend(BaseBackend):
    """An in-process cache with a choice of eviction policy, bounded by count and bytes.

    Keys may be any hashable object and values any Python object (core skips
    serialization for this engine). Every call takes one lock, so an instance
    may be shared by threads; async callers call it directly (``blocking`` is
    False).

    Args:
        namespace: The namespace; one instance holds exactly one.
        policy: ``lru``, ``lfu``, ``fifo``, ``rr`` or ``ttl`` (see :data:`POLICIES`).
        maxsize: The most entries kept (``None``: no limit by count).
        maxbytes: The most bytes kept, estimated with ``sys.getsizeof`` over each
            value and, for built-in containers, their items (``None``: no limit).

    Raises:
        ConfigurationError: for an unknown policy or a limit below 1.

    Example:
        >>> cache = MemoryBackend(policy="lfu", maxsize=2)
        >>> cache.set(("f", 1), [1, 2]); cache.get(("f", 1))
        True
        [1, 2]
    """

    # expiry is the engine's own record, checked on read (TLRUCache purges it under "ttl")
    capabilities = IN_PROCESS_CAPABILITIES

    def __init__(
        self,
        namespace: str = "default",
        *,
        policy: str = "lru",
        maxsize: int | None = DEFAULT_MAXSIZE,
        maxbytes: int | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ConfigurationError("policy", policy, "one of " + ", ".join(POLICIES))
        check_limit("maxsize", maxsize)
        check_limit("maxbytes", maxbytes)
        super().__init__(namespace)
        self.policy = policy
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        count_limit = math.inf if maxsize is None else maxsize
        if maxbytes is None:
            self._data = _make_store(policy, count_limit, None)
            self._count_limit: float = math.inf  # cachetools enforces maxsize itself
        else:
            # cachetools bounds one measure; bytes go to it, the count is checked after each write
            self._data = _make_store(policy, maxbytes, _sizeof)
            self._count_limit = count_limit
        self._lock = threading.Lock()
        # the default store is read without the lock (two C calls, atomic under the GIL)
        self._fast = self._data if isinstance(self._data, _OrderedLRU) else None
        # this instance's get, without the method's indirection: for the default store a
        # closure over its two C methods (no attribute lookups: 35 ns of the 300 of a
        # decorated hit), for the others the locked read
        self._read: Callable[[Hashable], Any] = (
            self._locked_get if self._fast is None else self._lru_reader(self._fast)
        )
        self.get = self._read  # type: ignore[method-assign,assignment]

    def _lru_reader(self, fast: _OrderedLRU) -> Callable[[Hashable], Any]:
        """The default store's lock-free read (see :meth:`get`), as a closure."""
        find, touch, locked_get = fast.get, fast.move_to_end, self._locked_get

        def get(key: Hashable) -> Any:
            item = find(key)
            if item is None:
                if self._closed:
                    self._check_open()
                return None
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hit path
                touch(key)
            except KeyError:  # evicted by another thread meanwhile: still a valid read
                pass
            if type(item) is not _Expiring:
                return item
            if monotonic() < item.expires:
                return item.value
            return locked_get(key)  # expired: dropped under the lock

        return get

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> MemoryBackend:
        """Build from ``memory://[?policy=lru&maxsize=N&maxbytes=N]``.

        URL options override ``config.policy``, ``config.maxsize`` (default
        4096) and ``config.maxbytes``.

        Raises:
            ConfigurationError: for an unknown option or an invalid value.
        """
        policy = url.option_str("policy", config.policy, POLICIES)
        maxsize = url.option_int("maxsize", config.maxsize or DEFAULT_MAXSIZE, minimum=1)
        maxbytes = url.option_int("maxbytes", config.maxbytes, minimum=1)
        url.finish()
        return cls(namespace=config.namespace, policy=policy, maxsize=maxsize, maxbytes=maxbytes)

    @property
    def evictions(self) -> int:
        """Entries dropped to stay within ``maxsize``/``maxbytes`` (not expired or deleted)."""
        return self._data.evictions

    # -- internals (callers hold the lock) ----------------------------------------------
    def _live(self, key: Hashable) -> Any:
        """Return the stored item under ``key`` (maybe an ``_Expiring``), or ``_MISSING``."""
        try:
            item = self._data[key]
        except KeyError:
            return _MISSING
        if type(item) is _Expiring and not monotonic() < item.expires:
            self._discard(key)
            return _MISSING
        return item

    def _discard(self, key: Hashable) -> None:
        # KeyError: absent, or TLRUCache reporting that the entry it removed had expired
        with suppress(KeyError):
            del self._data[key]

    def _store(self, key: Hashable, item: Any) -> bool:
        """Write one entry; False when it alone is larger than ``maxbytes`` (then not kept)."""
        data = self._data
        try:
            data[key] = item
        except ValueError:  # cachetools: "value too large" (only raised when sized)
            if self.maxbytes is None:
                raise
            self._discard(key)  # a declined write must not leave the previous value readable
            return False
        while len(data) > self._count_limit:
            data.popitem()
        return True

    # -- the Backend protocol -----------------------------------------------------------
    def get(self, key: Hashable) -> Any:
        """Return the value under ``key``, or ``None`` when absent or expired.

        The default store is read without the lock (its ``get`` and ``move_to_end``
        are C calls, each atomic under the GIL); the others under it.
        """
        return self._read(key)

    def _locked_get(self, key: Hashable) -> Any:
        with self._lock:
            if self._closed:
                self._check_open()
            try:
                item = self._data[key]
            except KeyError:
                return None
            if type(item) is not _Expiring:
                return item
            if monotonic() < item.expires:
                return item.value
            self._discard(key)
            return None

    def get_many(self, keys: Sequence[Hashable]) -> dict[Any, Any]:
        """Return the present entries among ``keys``, under one lock."""
        found: dict[Any, Any] = {}
        with self._lock:
            self._check_open()
            for key in keys:
                item = self._live(key)
                if item is not _MISSING:
                    found[key] = item.value if type(item) is _Expiring else item
        return found

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: until evicted).

        Returns:
            True, or False when ``maxbytes`` is set and the value alone exceeds it
            (any previous entry under ``key`` is then removed).
        """
        item = value if ttl is None else _Expiring(value, monotonic() + ttl)
        with self._lock:
            if self._closed:
                self._check_open()
            return self._store(key, item)

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl``, under one lock; return whether all were kept."""
        expires = None if ttl is None else monotonic() + ttl
        with self._lock:
            self._check_open()
            stored = [
                self._store(key, value if expires is None else _Expiring(value, expires))
                for key, value in items.items()
            ]
        return all(stored)

    def add(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; return whether it was stored."""
        with self._lock:
            self._check_open()
            if self._live(key) is not _MISSING:
                return False
            return self._store(key, value if ttl is None else _Expiring(value, monotonic() + ttl))

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        with self._lock:
            self._check_open()
            present = self._live(key) is not _MISSING
            if present:
                self._discard(key)
            return present

    def delete_many(self, keys: Sequence[Hashable]) -> int:
        """Remove ``keys`` under one lock; return how many live entries were there."""
        count = 0
        with self._lock:
            self._check_open()
            for key in keys:
                if self._live(key) is not _MISSING:
                    self._discard(key)
                    count += 1
        return count

    def touch(self, key: Hashable, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` from now (``None``: never expires); return whether present."""
        with self._lock:
            self._check_open()
            item = self._live(key)
            if item is _MISSING:
                return False
            value = item.value if type(item) is _Expiring else item
            self._store(key, value if ttl is None else _Expiring(value, monotonic() + ttl))
            return True

    def incr(self, key: Hashable, delta: int = 1) -> int:
        """Add ``delta`` to the ``int`` under ``key`` and return the result; keeps its expiry.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not an ``int`` (``bool`` included).
            OverflowError: when the result leaves the signed 64-bit range (the
                stored value is unchanged).
        """
        with self._lock:
            self._check_open()
            item = self._live(key)
            if item is _MISSING:
                raise ValueError(f"key {key!r} not found")
            expiring = type(item) is _Expiring
            value = item.value if expiring else item
            if type(value) is not int:
                raise TypeError(
                    f"the value under {key!r} is {type(value).__name__}, not an integer"
                )
            result = check_int64(value + delta)
            self._store(key, _Expiring(result, item.expires) if expiring else result)
            return result

    def clear(self) -> None:
        """Remove every entry (one instance holds one namespace)."""
        with self._lock:
            self._check_open()
            self._data.clear()

    def server_version(self) -> str:
        """This process, on cachetools (whose eviction policies it uses)."""
        return f"in-process (cachetools {cachetools.__version__})"

    def _peek(self) -> Callable[[Any, Hashable], Any]:
        """The store's base lookup: no LRU reordering, no LFU count (not a use)."""
        return dict.__getitem__ if self._fast is not None else cachetools.Cache.__getitem__

    def expiries(self, keys: Sequence[Hashable]) -> dict[Hashable, float]:
        """When each live key among ``keys`` expires (epoch seconds; ``NEVER_EXPIRES``: no ttl).

        Reading an expiry is not a use: the eviction order stays as it was.
        """
        peek = self._peek()
        found: dict[Hashable, float] = {}
        with self._lock:
            self._check_open()
            data = self._data
            now = monotonic()
            wall = time() - now  # expiries are kept on the monotonic clock
            for key in keys:
                try:
                    item = peek(data, key)
                except KeyError:
                    continue
                if type(item) is not _Expiring:
                    found[key] = NEVER_EXPIRES
                elif now < item.expires:
                    found[key] = wall + item.expires
        return found

    def keys(self) -> Iterator[Hashable]:
        """Iterate over a snapshot of the live keys, without counting it as use."""
        peek = self._peek()
        with self._lock:
            self._check_open()
            data = self._data
            now = monotonic()
            live = []
            for key in list(data):
                item = peek(data, key)
                if type(item) is not _Expiring or now < item.expires:
                    live.append(key)
        return iter(live)

    def __len__(self) -> int:
        """The number of entries held, counting expired ones not yet dropped."""
        with self._lock:
            return len(self._data)

    def _close(self) -> None:
        with self._lock:
            self._data.clear()
