# GENERATED from packages/twat-cache/src/twat_cache/_async/ops.py
# by tools/unasync.py -- do not edit; run: bash tools/unasync
"""The engine-facing half of :class:`~twat_cache.Cache`, written once.

This async module is the source; ``twat_cache/_sync/ops.py`` is generated from it
by ``bash tools/unasync`` (``aget`` becomes ``get``, ``async_backend`` becomes
``backend``, ``await`` goes). Everything that does not wait lives in
:class:`~twat_cache.pipeline.Pipeline`, shared by both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from time import perf_counter
from time import time as wall_time
from typing import Any, cast

from twat_cache._sync.entries import WARM_CHUNK, live_keys, read_many, write_all
from twat_cache._sync.locks import locked
from twat_cache._sync.retrying import retry
from twat_cache.constants import LOCK_PREFIX
from twat_cache.entries import check_batch_size
from twat_cache.exceptions import BackendError, BackendUnavailableError, CacheOperationError
from twat_cache.freshness import FRAME_SIZE, FRESH_MARK, Stale, plain
from twat_cache.locking import uses_lock
from twat_cache.pipeline import (
    DEFAULT,
    INCR_ANSWERS,
    MISSING,
    NONE_VALUE,
    SLOW,
    TAG_PREFIX,
    TTL,
    Cached,
    KeyOf,
    Miss,
    Pipeline,
    SyncCall,
    T,
    Tagged,
    WriteVersions,
    caller,
)
from twat_cache.protocols import ReportsExpiry

__all__ = ["SyncOps"]


class SyncOps(Pipeline):
    """The async operations of a cache (see :class:`~twat_cache.Cache`)."""

    def _call(self, fallback: T, call: SyncCall[T], *args: Any) -> T:
        """Call the engine; a failure answers ``fallback`` (fail-open) or raises (strict)."""
        breaker = self._breaker
        if breaker.open_until and self._unavailable():  # closed: no call to ask it
            return fallback
        start = time.perf_counter() if self._timed else 0.0
        try:
            result = call(*args)
        except Exception as exc:
            try:  # retries= tries again after a transient error
                result = retry(self.config.retries, exc, call, *args)
            except Exception as last:
                self._failed(last)
                return fallback
        if breaker.open_until:  # a half-open breaker closes again
            breaker.success()
        if start:
            self._obs.called(call, args, start)
        return result

    def _reread(self, key: Any, exc: Exception) -> tuple[Any, Mapping[Any, Any] | None]:
        """The read of :meth:`lookup` raised ``exc``: ``(raw, found)`` after any retries."""
        backend = self.backend
        retries = self.config.retries
        try:
            if self._tag_keys:
                found = retry(retries, exc, backend.get_many, [key, *self._tag_keys])
                return found.get(key), found
            return retry(retries, exc, backend.get, key), None
        except Exception as last:
            self._read_failed(key, last)
            return None, None

    def _read_with(self, key: Any, asked: Sequence[str]) -> Mapping[Any, Any]:
        """Read ``key`` and the tag counters ``asked`` in one ``get_many``, as lookups read.

        Fail-open like :meth:`_acall` (``{}`` when the engine fails), timed like
        :meth:`alookup`: the hit path of computed tags.
        """
        breaker = self._breaker
        if breaker.open_until and self._unavailable():
            return {}
        start = perf_counter() if self._timed else 0.0
        keys = [key, *asked]
        get_many = self.backend.get_many
        try:
            found = get_many(keys)
        except Exception as exc:
            try:  # retries= tries again after a transient error
                found = retry(self.config.retries, exc, get_many, keys)
            except Exception as last:
                self._failed(last)
                return {}
        if breaker.open_until:
            breaker.success()
        if start:
            if self._watched:  # logged or traced too
                self._obs.called(get_many, (keys,), start)
            else:
                self.stats.reads.record(perf_counter() - start)
        return found

    def _current_versions(self, tags: Iterable[str], create: bool) -> dict[str, int | None]:
        tags = list(tags)
        backend = self.backend
        found: Mapping[str, Any] = self._call(
            {}, backend.get_many, [self._tag_key(t) for t in tags]
        )
        versions = self._versions_from(tags, found)
        if create:
            for tag, version in versions.items():
                if version is None:
                    start = time.time_ns()  # never reuse a version a lost counter once had
                    self._call(False, backend.add, self._tag_key(tag), self._raw_int(start))
                    again: Mapping[str, Any] = self._call(
                        {}, backend.get_many, [self._tag_key(tag)]
                    )
                    versions[tag] = self._versions_from([tag], again)[tag]
        return versions

    def _versions_for_write(self, tags: Iterable[str]) -> WriteVersions:
        tags = tuple(tags) or self.config.tags
        return self._writable(self._current_versions(tags, create=True) if tags else {})

    def _check_tags(
        self, value: Any, stored: dict[str, int], found: Mapping[Any, Any] | None
    ) -> Any:
        """``value`` if the tag versions it was written under are current, else MISSING."""
        current = self._current_in(stored, found)
        if current is None:  # tags of its own, written through Cache.set(tags=...)
            versions = self._current_versions(stored, create=False)
            return self._fresh(value, stored, versions)
        return value if current else MISSING

    def _settle(
        self, key: Any, raw: Any, found: Mapping[Any, Any] | None, type_: Any = None
    ) -> Any:
        """Decode ``raw`` and check its tag versions: the live value, or MISSING (counted)."""
        if raw is None:
            return self._counted(MISSING)
        value, stored = self._decode(key, raw, type_)
        if stored is not None and value is not MISSING:
            value = self._check_tags(value, stored, found)
        return self._counted(value)

    def lookup(self, key: Any, type_: Any = None) -> Any:  # noqa: PLR0912 - flat: the hit path
        """Return the live value under ``key``, or MISSING (counts a hit or a miss).

        One engine read: with ``tags=`` configured the entry and its tag counters
        are read together. ``type_`` is what ``serializer="typed"`` rebuilds.
        """
        breaker = self._breaker
        found: Mapping[Any, Any] | None = None
        start = perf_counter() if self._timed else 0.0
        if breaker.open_until and self._unavailable():
            raw = None
        else:
            try:
                if self._tag_keys:
                    found = self.backend.get_many([key, *self._tag_keys])
                    raw = found.get(key)
                else:
                    raw = self.backend.get(key)
            except Exception as exc:
                raw, found = self._reread(key, exc)
            else:
                if breaker.open_until:
                    breaker.success()
        size = self._plain_size
        if size and type(raw) is bytes and raw[:size] == self._plain_head:
            # the common frame (plain serializer, nothing else), read inline: the codec's fast path
            try:
                value = self._plain_load(raw[size:])  # type: ignore[misc]
            except Exception:  # corrupt: the codec says why, and it counts as a miss
                value = self._settle(key, raw, found, type_)
            else:
                self.stats.hits += 1
        elif size and found is not None and type(raw) is bytes and raw[:size] == self._tagged_head:
            # a tagged frame, read with its counters: inline too
            value = self._tagged_read(raw, found, self._tag_keys)
            if value is SLOW:
                value = self._settle(key, raw, found, type_)
            elif value is MISSING:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
        else:
            value = self._settle(key, raw, found, type_)
        if start:
            if self._watched:  # logged or traced too
                self._obs.looked_up(key, start, raw, value is not MISSING)
            else:  # the figures only (Observer.looked_up's first half, inline)
                stats = self.stats
                stats.reads.record(perf_counter() - start)
                if type(raw) is bytes:
                    stats.bytes_read += len(raw)
        return value

    def hit_path(
        self, key_of: KeyOf, nargs: int, on_miss: Miss, stale: Stale | None = None
    ) -> Cached:
        """Return the call path of a decorated function over this cache.

        Args:
            key_of: Builds the (hashable) key from ``(args, kwargs)``.
            nargs: On an in-process engine, calls with exactly this many positional
                arguments key on the argument tuple itself (``-1``: never).
            on_miss: Computes, stores and returns the result on a miss.
            stale: With ``stale_ttl=`` or ``early_refresh=True``: hits are frames, served
                through it (see :mod:`twat_cache.freshness`).

        One engine read per call; the key is built once and handed to ``on_miss``.
        """
        stats, local_get, local_miss = self.stats, self._local_get, self._local_miss
        # timed (DEBUG records on, see twat_cache.observe): every hit goes through alookup
        if not self.inline_hits:
            lookup = self.lookup
            if stale is not None:
                served = stale.served

                def looked_up_fresh(*args: Any, **kwargs: Any) -> Any:
                    key = key_of(args, kwargs)
                    value = lookup(key)
                    if value is MISSING:  # a lock's waiter may get the frame another stored
                        value = on_miss(key, args, kwargs)
                    return served(key, value, args, kwargs)

                return looked_up_fresh

            def looked_up(*args: Any, **kwargs: Any) -> Any:
                key = key_of(args, kwargs)
                value = lookup(key)
                if value is MISSING:
                    return on_miss(key, args, kwargs)
                return value

            return looked_up
        # in-process, untagged, never blocking: the hot path is one dict read, inline (also
        # from a coroutine, which it cannot stall)
        if stale is not None:
            return self._fresh_local(key_of, nargs, on_miss, stale)
        get: Callable[[Any], Any] = self.backend.get
        settle = self._settle

        def cached(*args: Any, **kwargs: Any) -> Any:
            key = args if not kwargs and len(args) == nargs else key_of(args, kwargs)
            try:
                value = get(key)
            except Exception as exc:  # unhashable arguments, or a failing engine
                key, value = local_get(key, args, kwargs, key_of, exc)
            if value is not None and type(value) is not Tagged:
                stats.hits += 1
                return None if value is NONE_VALUE else value
            if value is None and key is args:  # off the hit path: plain arguments hit above
                key, value = local_miss(args, kwargs, key_of)
            value = settle(key, value, None)
            if value is MISSING:
                return on_miss(key, args, kwargs)
            return value

        return cached

    def _fresh_local(self, key_of: KeyOf, nargs: int, on_miss: Miss, stale: Stale) -> Cached:
        """The hit path's inline in-process path, for entries stored as frames.

        A frame the engine hands back is the stored object itself: a fresh one is
        served at once, inline; one that is due for a refresh goes through
        ``stale.served``, which stores its value as a plain entry while the refresh
        runs, so that the hits in the meantime cost what a plain hit costs.
        """
        stats, local_get, local_miss = self.stats, self._local_get, self._local_miss
        get: Callable[[Any], Any] = self.backend.get
        settle = self._settle
        served, early = stale.served, stale.early

        def cached_fresh(*args: Any, **kwargs: Any) -> Any:
            key = args if not kwargs and len(args) == nargs else key_of(args, kwargs)
            try:
                value = get(key)
            except Exception as exc:  # unhashable arguments, or a failing engine
                key, value = local_get(key, args, kwargs, key_of, exc)
            if type(value) is tuple and len(value) == FRAME_SIZE and value[0] is FRESH_MARK:
                stats.hits += 1
                if not early and wall_time() < value[1]:
                    return value[3]
                return served(key, value, args, kwargs)
            if value is not None and type(value) is not Tagged:
                stats.hits += 1
                return None if value is NONE_VALUE else value
            if value is None and key is args:  # off the hit path: plain arguments hit above
                key, value = local_miss(args, kwargs, key_of)
            value = settle(key, value, None)
            if value is MISSING:  # a lock's waiter may get the frame another stored
                value = on_miss(key, args, kwargs)
            return served(key, value, args, kwargs)

        return cached_fresh

    def store(self, key: Any, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()) -> bool:
        """Encode and write ``value`` under a ready key; return whether it was written.

        Raises:
            SerializationError: when the value cannot be encoded (nothing is written).
        """
        versions: dict[str, int] | None = None  # untagged (the common case): none to read
        if tags or self._tag_keys:
            written = self._versions_for_write(tags)
            if written is MISSING:
                return False
            versions = written
        data = self._encode(value, versions)
        return self._wrote(self._call(False, self.backend.set, key, data, self._ttl(ttl)))

    def get_or_set(
        self,
        key: Hashable,
        compute: Callable[[], Any],
        ttl: TTL = DEFAULT,
        *,
        lock: bool | None = None,
    ) -> Any:
        """Return the value under ``key``; on a miss, compute it, store it and return it.

        Args:
            key: A string (any hashable for in-process engines).
            compute: Makes the value (no arguments; a coroutine function for ``aget_or_set``
                runs on the loop, a plain one in a thread).
            ttl: Seconds to live; default: the cache's ``ttl``.
            lock: Compute once in the whole fleet (see the ``lock`` option); default:
                the cache's ``lock``.

        Raises:
            LockTimeoutError: with ``on_lock_timeout="raise"``, when another process
                held the key's lock past ``lock_timeout``.

        Example:
            >>> from twat_cache import Cache
            >>> cache = Cache("memory://")
            >>> cache.get_or_set("answer", lambda: 42)
            42
        """
        made = self._key(key)
        value = self.lookup(made)
        if value is not MISSING:
            return plain(value)
        func = caller(compute)

        def run() -> Any:
            result = func()
            self.store(made, result, ttl)
            return result

        if uses_lock(self, lock):
            return locked(self, made, run)
        return run()

    def get(self, key: Hashable, default: Any = None, *, type: Any = None) -> Any:
        """Return the value under ``key``, or ``default`` when absent, expired or unreadable.

        ``type`` is the type ``serializer="typed"`` rebuilds the value into
        (``cache.get(key, type=Point)``); other serializers ignore it.
        """
        value = self.lookup(self._key(key), type)
        return default if value is MISSING else plain(value)

    def set(self, key: Hashable, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()) -> bool:
        """Store ``value`` under ``key``; return whether it was written.

        False when the engine declined the value (too large, say) or failed
        (fail-open); a failure raises :class:`~twat_cache.exceptions.BackendError`
        only with ``strict=True``.

        Args:
            key: A string (any hashable for in-process engines).
            value: Anything the serializer can encode.
            ttl: Seconds to live; ``None`` for never; default: the cache's ``ttl``.
            tags: Tags of this entry (see :meth:`invalidate_tags`).

        Raises:
            SerializationError: when the value cannot be encoded (the old entry stays);
                it is also a :class:`pickle.PickleError`.
        """
        return self.store(self._key(key), value, ttl, tags)

    def add(self, key: Hashable, value: Any, ttl: TTL = DEFAULT) -> bool:
        """Store ``value`` only if ``key`` is absent (atomic); return whether it was stored.

        Raises:
            SerializationError: when the value cannot be encoded.
        """
        versions = self._versions_for_write(())
        if versions is MISSING:
            return False
        data = self._encode(value, versions)
        return self._call(False, self.backend.add, self._key(key), data, self._ttl(ttl))

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was present."""
        deleted = self._call(False, self.backend.delete, self._key(key))
        self.stats.deletes += deleted
        return deleted

    def get_many(self, keys: Iterable[Hashable]) -> dict[Any, Any]:
        """Return ``{key: value}`` for the keys present (one round trip where the engine can)."""
        wanted = {self._key(k): k for k in keys}
        # the distinct tag counters of the whole batch are read once, with the entries once seen
        live, _ = read_many(self, list(wanted), guess=True)
        return {wanted[key]: plain(value) for key, value in live.items()}

    def warm(
        self,
        items: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
        ttl: TTL = DEFAULT,
        *,
        batch_size: int = WARM_CHUNK,
    ) -> int:
        """Write a mapping or an iterable of ``(key, value)`` pairs in ``set_many`` batches.

        Args:
            items: The entries; an iterable is read lazily, a batch at a time.
            ttl: Seconds to live; default: the cache's ``ttl``.
            batch_size: Entries per ``set_many``.

        Returns:
            How many entries were written.

        Raises:
            ConfigurationError: when ``batch_size`` is not a positive integer.
        """
        return write_all(self, items, ttl, check_batch_size(batch_size))

    def set_many(self, items: Mapping[Any, Any], ttl: TTL = DEFAULT) -> bool:
        """Store every item with the same ``ttl``; return whether all were written.

        Raises:
            SerializationError: when any value cannot be encoded (nothing is written).
        """
        versions = self._versions_for_write(())
        if versions is MISSING:
            return False
        encoded = {self._key(k): self._encode(v, versions) for k, v in items.items()}
        written = self._call(False, self.backend.set_many, encoded, self._ttl(ttl))
        return self._wrote(written, len(encoded))

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys``; return how many were present (0 when the engine failed)."""
        return self.try_delete_many(keys) or 0

    def try_delete_many(self, keys: Iterable[Hashable]) -> int | None:
        """Remove ``keys``; return how many were present, ``None`` when the engine failed.

        :meth:`adelete_many`'s fail-open answer (0) is also that of keys that were
        all absent; this call's answer tells the two apart (``strict=True`` raises
        as ever). The failure is counted and logged as any other.
        """
        made = [self._key(k) for k in keys]
        count: int | None = self._call(None, self.backend.delete_many, made)
        if count is not None:
            self.stats.deletes += count
        return count

    def incr(self, key: Hashable, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Integers are stored raw so that the server increments them; a tagged entry
        is not raw, so keep counters out of tags (and out of a cache made with ``tags=``).

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer (or is a tagged entry).
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
            BackendError: when the backend fails (a counter has no fail-open answer).
        """
        if self._unavailable():
            raise BackendUnavailableError(f"cache {self.name}: backend unavailable")
        start = time.perf_counter() if self._timed else 0.0
        incr = self.backend.incr
        try:
            result = incr(self._key(key), delta)
        except INCR_ANSWERS:
            raise
        except Exception as exc:
            self._failed(exc)
            raise BackendError(f"cache {self.name}: incr failed: {exc}") from exc
        self._breaker.success()
        if start:
            self._obs.called(incr, (key, delta), start)
        return result

    def decr(self, key: Hashable, delta: int = 1) -> int:
        """Subtract ``delta`` (see :meth:`incr`)."""
        return self.incr(key, -delta)

    def touch(self, key: Hashable, ttl: TTL = DEFAULT) -> bool:
        """Give ``key`` a new ttl; return whether it was present."""
        made = self._key(key)
        return self._call(False, self.backend.touch, made, self._ttl(ttl))

    def clear(self) -> bool:
        """Remove every entry of this namespace (nothing outside it); False when it failed."""
        failed: bool | None = False  # the engine's clear() answers None when it worked
        return self._wrote(self._call(failed, self.backend.clear), 0)

    def _expiries(self, made: Sequence[Any]) -> dict[Any, float | None]:
        """Seconds left of each present entry among the ready keys ``made`` (None: no expiry)."""
        if not self.capabilities.reports_expiry:
            raise CacheOperationError(
                f"cache {self.name}: the engine cannot tell when its entries expire"
            )
        engine = cast("ReportsExpiry", self.backend)
        found: Mapping[Any, float] = self._call({}, engine.expiries, made)
        return self._remaining(found)

    def ttl(self, key: Hashable) -> float | None:
        """Return the seconds ``key`` has left to live, or ``None`` if it never expires.

        The lifetime of the stored entry: with ``stale_ttl=`` it includes the window
        in which a stale value is still served, and an entry made stale by
        :meth:`invalidate_tags` answers until it expires or is overwritten.

        Raises:
            KeyError: when ``key`` is absent or expired (also when the engine failed,
                as a read would miss; ``strict=True`` raises BackendError instead).
            CacheOperationError: when the engine cannot tell (its capabilities say
                ``reports_expiry=False``: memcached servers without meta commands).

        Example:
            >>> from twat_cache import Cache
            >>> cache = Cache("memory://")
            >>> cache.set("a", 1, ttl=60)
            True
            >>> 59 < cache.ttl("a") <= 60
            True
        """
        made = self._key(key)
        found = self._expiries([made])
        if made not in found:
            raise KeyError(key)
        return found[made]

    def ttl_many(self, keys: Iterable[Hashable]) -> dict[Any, float | None]:
        """Return ``{key: seconds left}`` for the keys present (``None``: never expires).

        One round trip where the engine can (see :meth:`ttl`).

        Raises:
            CacheOperationError: when the engine cannot tell when its entries expire.
        """
        wanted = {self._key(k): k for k in keys}
        found = self._expiries(list(wanted))
        return {wanted[made]: left for made, left in found.items()}

    def keys(self) -> Iterator[Any]:
        """Iterate over the keys of this namespace (tag counters left out).

        Raises:
            CacheOperationError: when the engine cannot list its keys (its
                capabilities say ``lists_keys=False``: memcached).
        """
        if not self.capabilities.lists_keys:
            raise CacheOperationError(f"cache {self.name}: the engine cannot list its keys")
        if self._unavailable():
            return
        try:
            keys = self.backend.keys()  # an engine's scan, not a dict view
            listed = (
                k for k in keys if not (type(k) is str and k.startswith((TAG_PREFIX, LOCK_PREFIX)))
            )
            # an entry that is expired, unreadable or invalidated by a tag is not listed
            for key in live_keys(self, listed):
                yield key
        except Exception as exc:
            self._failed(exc)
            return
        self._breaker.success()

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written under any of ``tags`` a miss, in every process.

        One ``incr`` per tag; no scan of the keyspace.
        """
        for tag in tags:
            if self._unavailable():
                return
            try:
                self.backend.incr(self._tag_key(tag), 1)
            except ValueError:  # no counter: no live entry was written under this tag
                continue
            except Exception as exc:
                self._failed(exc)
                continue
            self._breaker.success()
