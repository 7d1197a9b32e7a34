"""The :class:`Cache` object: one namespace on one engine, sync and async.

It owns everything that is not storage: key normalisation, serialization and
signing, tags, TTL jitter, the circuit breaker (fail-open unless ``strict``),
stats and logging. Engines only move bytes (or, in-process, objects).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sys
import time
import weakref
from collections.abc import AsyncIterator, Hashable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, Literal

from twat_cache.adapters import AsyncAdapter, as_async, as_sync, run_blocking
from twat_cache.config import CacheConfig, _check_ttl, resolve_config
from twat_cache.constants import TAG_PREFIX
from twat_cache.exceptions import BackendError, BackendUnavailableError, NodeError
from twat_cache.keys import digest
from twat_cache.policies import CacheStats, CircuitBreaker, jittered
from twat_cache.registry import create_backend
from twat_cache.serializers import CorruptEntryError, Serializer, encode_int

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - 3.10
    from typing_extensions import Self, Unpack

from twat_cache.config import CacheOptions

__all__ = ["DEFAULT", "MISSING", "Cache", "live_caches"]

logger = logging.getLogger("twat_cache")


class _Sentinel(enum.Enum):
    MISSING = "MISSING"
    DEFAULT = "DEFAULT"


MISSING: Final = _Sentinel.MISSING
"""Returned by internal lookups on a miss (``None`` is a valid cached value)."""
DEFAULT: Final = _Sentinel.DEFAULT
"""``ttl=DEFAULT`` means: the cache's configured ttl."""

# what counts as the backend failing (engines wrap client errors in BackendError)
_FAILURES = (BackendError, OSError)


class _NoneValue:
    """Stands for a cached ``None`` in in-process engines (where ``None`` means a miss)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NONE_VALUE"


NONE_VALUE: Final = _NoneValue()


class Tagged:
    """An in-process entry with the tag versions it was written under."""

    __slots__ = ("value", "versions")

    def __init__(self, value: Any, versions: dict[str, int]) -> None:
        self.value = value
        self.versions = versions


_live: weakref.WeakSet[Cache] = weakref.WeakSet()


def _close_quietly(backend: Any) -> None:
    """Close a dropped cache's engine so that its sockets and files are released."""
    try:
        backend.close()
    except Exception:
        logger.debug("closing a dropped cache's engine failed", exc_info=True)


def _counter(raw: Any) -> int | None:
    """A tag counter's value, or ``None`` when it is absent or unreadable."""
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


def live_caches() -> list[Cache]:
    """Return every cache object that is still open in this process."""
    return [cache for cache in list(_live) if not cache.closed]


TTL = float | None | _Sentinel
# the tag versions an entry is written with; MISSING: do not write it
_WriteVersions = dict[str, int] | Literal[_Sentinel.MISSING] | None


class Cache:
    """A cache: one namespace on one engine, with sync and async methods.

    Args:
        url: Where entries live (``memory://``, ``disk:///path``, ``redis://host/0``...).
        config: A ready :class:`CacheConfig` (keyword options are applied over it).
        backend: A ready engine instance, instead of creating one from the URL.
        name: A label for stats and logs.
        **options: Any :class:`~twat_cache.config.CacheOptions`.

    Raises:
        ConfigurationError: for a bad URL or option.
        EngineNotAvailableError: when the engine's package is not installed.

    Example:
        >>> cache = Cache("memory://", ttl=60)
        >>> cache.set("k", {"a": 1}); cache.get("k")
        {'a': 1}
    """

    def __init__(
        self,
        url: str | None = None,
        /,
        *,
        config: CacheConfig | None = None,
        backend: Any = None,
        name: str | None = None,
        **options: Unpack[CacheOptions],
    ) -> None:
        if config is None or url is not None or options:
            config = resolve_config(url, base=config, **options)
        self.config = config
        raw = backend if backend is not None else create_backend(config)
        self._raw = raw
        self._backend = as_sync(raw)
        # a cache dropped without close() (say, a decorated local function) releases its engine
        self._finalizer = weakref.finalize(self, _close_quietly, self._backend)
        if backend is not None:
            self._finalizer.detach()  # the caller's engine: theirs to close
        self._abackend: Any = None
        self.local: bool = bool(raw.stores_objects)
        self._serializer = (
            None
            if self.local
            else Serializer(config.serializer, compress=config.compress, secret=config.secret_bytes)
        )
        self.name = name or f"{config.engine}:{config.namespace}"
        self.stats = CacheStats()
        self._breaker = CircuitBreaker(self.name, config.retry_after)
        self._closed = False
        _live.add(self)

    # -- plumbing --------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        """The engine, as a sync :class:`~twat_cache.protocols.Backend`."""
        return self._backend

    @property
    def async_backend(self) -> Any:
        """The engine, as an :class:`~twat_cache.protocols.AsyncBackend`."""
        if self._abackend is None:
            self._abackend = as_async(self._raw)
        return self._abackend

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __repr__(self) -> str:
        return f"<Cache {self.name!r} {type(self._raw).__name__}>"

    def _key(self, key: Any) -> Any:
        if self.local or type(key) is str:
            return key
        return digest(key)

    def _ttl(self, ttl: TTL) -> float | None:
        value = self.config.ttl if ttl is DEFAULT else _check_ttl("ttl", ttl)
        return jittered(value, self.config.jitter)

    def _encode(self, value: Any, versions: dict[str, int] | None) -> Any:
        if self._serializer is None:
            if versions:
                return Tagged(value, versions)
            return NONE_VALUE if value is None else value
        return self._serializer.dumps(value, versions)

    def _decode(self, key: Any, raw: Any) -> tuple[Any, dict[str, int] | None]:
        """Return ``(value, versions)``, or ``(MISSING, None)`` for a corrupt entry."""
        if self._serializer is None:
            if type(raw) is Tagged:
                return raw.value, raw.versions
            return (None if raw is NONE_VALUE else raw), None
        try:
            return self._serializer.loads(raw)
        except CorruptEntryError as exc:
            self.stats.corrupt += 1
            logger.warning(
                "cache %s: entry %r rejected as a miss: %s", self.name, key, exc,
                extra={"cache": self.name, "key": str(key)},
            )  # fmt: skip
            return MISSING, None

    def _unavailable(self) -> bool:
        """True when the breaker keeps calls away (raises instead in strict mode)."""
        if self._breaker.allow():
            return False
        if self.config.strict:
            raise BackendUnavailableError(
                f"cache {self.name}: backend unavailable, "
                f"retrying after {self.config.retry_after} s"
            )
        return True

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        if isinstance(exc, NodeError):  # the engine routes around one node: keep using it
            logger.warning(
                "cache %s: %s", self.name, exc, extra={"cache": self.name, "error": repr(exc)}
            )
        else:
            self._breaker.failure(exc)
        if self.config.strict:
            if isinstance(exc, BackendError):
                raise exc
            raise BackendError(f"cache {self.name}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _tag_key(tag: str) -> str:
        return TAG_PREFIX + tag

    def _versions_from(
        self, tags: Iterable[str], found: Mapping[Any, Any]
    ) -> dict[str, int | None]:
        versions: dict[str, int | None] = {}
        for tag in tags:
            versions[tag] = _counter(found.get(self._tag_key(tag)))
        return versions

    def _fresh(
        self, value: Any, stored: dict[str, int] | None, current: dict[str, int | None]
    ) -> Any:
        if stored is None or all(current.get(t) == v for t, v in stored.items()):
            return value
        return MISSING

    # -- sync ------------------------------------------------------------------------
    def _call(self, fallback: Any, method: str, *args: Any) -> Any:
        if self._unavailable():
            return fallback
        try:
            result = getattr(self._backend, method)(*args)
        except _FAILURES as exc:
            self._failed(exc)
            return fallback
        self._breaker.success()
        return result

    def _current_versions(self, tags: Iterable[str], create: bool) -> dict[str, int | None]:
        tags = list(tags)
        found = self._call({}, "get_many", [self._tag_key(t) for t in tags])
        versions = self._versions_from(tags, found)
        if create:
            for tag, version in versions.items():
                if version is None:
                    start = time.time_ns()  # never reuse a version a lost counter once had
                    self._call(False, "add", self._tag_key(tag), self._raw_int(start))
                    versions[tag] = self._versions_from(
                        [tag], self._call({}, "get_many", [self._tag_key(tag)])
                    )[tag]
        return versions

    @staticmethod
    def _writable(versions: dict[str, int | None]) -> _WriteVersions:
        """The tag versions to store with an entry, or MISSING when a tag has no counter.

        An entry whose tag counter could not be read or created (the backend failed)
        could not be invalidated by that tag, so it must not be written at all.
        """
        if not versions:
            return None
        if any(v is None for v in versions.values()):
            return MISSING
        return {t: v for t, v in versions.items() if v is not None}

    def _versions_for_write(self, tags: Iterable[str]) -> _WriteVersions:
        tags = tuple(tags) or self.config.tags
        return self._writable(self._current_versions(tags, create=True) if tags else {})

    def _raw_int(self, value: int) -> Any:
        return value if self.local else encode_int(value)

    def lookup(self, key: Any) -> Any:
        """Return the live value under ``key``, or :data:`MISSING` (counts hit or miss)."""
        breaker = self._breaker
        if breaker.open_until and self._unavailable():
            raw = None
        else:
            try:  # _call() inlined: this is every engine's hit path
                raw = self._backend.get(key)
            except _FAILURES as exc:
                self._failed(exc)
                raw = None
            else:
                if breaker.open_until:
                    breaker.success()
        if raw is not None:
            value, stored = self._decode(key, raw)
            if stored is not None and value is not MISSING:
                value = self._fresh(value, stored, self._current_versions(stored, create=False))
            if value is not MISSING:
                self.stats.hits += 1
                return value
        self.stats.misses += 1
        return MISSING

    def store(self, key: Any, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()) -> None:
        """Encode and write ``value`` (fail-open); raises SerializationError first if it cannot."""
        versions = self._versions_for_write(tags)
        if versions is MISSING:
            return
        data = self._encode(value, versions)
        if self._call(MISSING, "set", key, data, self._ttl(ttl)) is not MISSING:
            self.stats.sets += 1

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value under ``key``, or ``default`` when absent, expired or unreadable."""
        value = self.lookup(self._key(key))
        return default if value is MISSING else value

    def set(self, key: Hashable, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()) -> None:
        """Store ``value`` under ``key``.

        Args:
            key: A string (any hashable for in-process engines).
            value: Anything the serializer can encode.
            ttl: Seconds to live; ``None`` for never; default: the cache's ``ttl``.
            tags: Tags of this entry (see :meth:`invalidate_tags`).

        Raises:
            SerializationError: when the value cannot be encoded (the old entry stays).
        """
        self.store(self._key(key), value, ttl, tags)

    def add(self, key: Hashable, value: Any, ttl: TTL = DEFAULT) -> bool:
        """Store ``value`` only if ``key`` is absent (atomic); return whether it was stored."""
        versions = self._versions_for_write(())
        if versions is MISSING:
            return False
        stored: bool = self._call(
            False, "add", self._key(key), self._encode(value, versions), self._ttl(ttl)
        )
        return stored

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was present."""
        deleted: bool = self._call(False, "delete", self._key(key))
        self.stats.deletes += deleted
        return deleted

    def get_many(self, keys: Iterable[Hashable]) -> dict[Any, Any]:
        """Return ``{key: value}`` for the keys present (one round trip where the engine can)."""
        wanted = {self._key(k): k for k in keys}
        found = self._call({}, "get_many", list(wanted))
        result: dict[Any, Any] = {}
        for key, raw in found.items():
            value, stored = self._decode(key, raw)
            if stored is not None and value is not MISSING:
                value = self._fresh(value, stored, self._current_versions(stored, create=False))
            if value is not MISSING:
                result[wanted[key]] = value
        self.stats.hits += len(result)
        self.stats.misses += len(wanted) - len(result)
        return result

    def set_many(self, items: Mapping[Any, Any], ttl: TTL = DEFAULT) -> None:
        """Store every item with the same ``ttl``.

        Raises:
            SerializationError: when any value cannot be encoded (nothing is written).
        """
        versions = self._versions_for_write(())
        if versions is MISSING:
            return
        encoded = {self._key(k): self._encode(v, versions) for k, v in items.items()}
        if self._call(MISSING, "set_many", encoded, self._ttl(ttl)) is not MISSING:
            self.stats.sets += len(encoded)

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys``; return how many were present."""
        count: int = self._call(0, "delete_many", [self._key(k) for k in keys])
        self.stats.deletes += count
        return count

    def incr(self, key: Hashable, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Integers are stored raw so that the server increments them; a tagged entry
        is not raw, so keep counters out of tags (and out of a cache made with ``tags=``).

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer (or is a tagged entry).
            BackendError: when the backend fails (a counter has no fail-open answer).
        """
        if self._unavailable():
            raise BackendUnavailableError(f"cache {self.name}: backend unavailable")
        try:
            result: int = self._backend.incr(self._key(key), delta)
        except _FAILURES as exc:
            self._failed(exc)
            raise BackendError(f"cache {self.name}: incr failed: {exc}") from exc
        self._breaker.success()
        return result

    def decr(self, key: Hashable, delta: int = 1) -> int:
        """Subtract ``delta`` (see :meth:`incr`)."""
        return self.incr(key, -delta)

    def touch(self, key: Hashable, ttl: TTL = DEFAULT) -> bool:
        """Give ``key`` a new ttl; return whether it was present."""
        touched: bool = self._call(False, "touch", self._key(key), self._ttl(ttl))
        return touched

    def clear(self) -> None:
        """Remove every entry of this namespace (nothing outside it)."""
        self._call(None, "clear")

    def keys(self) -> Iterator[Any]:
        """Iterate over the keys of this namespace (tag counters left out).

        Raises:
            CacheOperationError: when the engine cannot list its keys (memcached).
        """
        if self._unavailable():
            return
        try:
            keys = self._backend.keys()  # an engine's key scan, not a dict view
            for key in keys:
                if not (type(key) is str and key.startswith(TAG_PREFIX)):
                    yield key
        except _FAILURES as exc:  # fail-open, also when a lazy scan fails half-way
            self._failed(exc)
            return
        self._breaker.success()

    def __contains__(self, key: Hashable) -> bool:
        return self.lookup(self._key(key)) is not MISSING

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written under any of ``tags`` a miss, in every process.

        One ``incr`` per tag; no scan of the keyspace.
        """
        for tag in tags:
            # ValueError: no counter, so no live entry was written under this tag
            with contextlib.suppress(ValueError):
                self._call(None, "incr", self._tag_key(tag), 1)

    def close(self) -> None:
        """Close the engine (idempotent)."""
        if not self._closed:
            self._closed = True
            self._finalizer.detach()
            self._backend.close()
            twin = self._abackend
            if twin is not None and twin is not self._raw and not isinstance(twin, AsyncAdapter):
                run_blocking(twin.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- async -----------------------------------------------------------------------
    async def _acall(self, fallback: Any, method: str, *args: Any) -> Any:
        if self._unavailable():
            return fallback
        try:
            result = await getattr(self.async_backend, method)(*args)
        except _FAILURES as exc:
            self._failed(exc)
            return fallback
        self._breaker.success()
        return result

    async def _acurrent_versions(self, tags: Iterable[str], create: bool) -> dict[str, int | None]:
        tags = list(tags)
        found = await self._acall({}, "get_many", [self._tag_key(t) for t in tags])
        versions = self._versions_from(tags, found)
        if create:
            for tag, version in versions.items():
                if version is None:
                    await self._acall(
                        False, "add", self._tag_key(tag), self._raw_int(time.time_ns())
                    )
                    again = await self._acall({}, "get_many", [self._tag_key(tag)])
                    versions[tag] = self._versions_from([tag], again)[tag]
        return versions

    async def _aversions_for_write(self, tags: Iterable[str]) -> _WriteVersions:
        tags = tuple(tags) or self.config.tags
        return self._writable(await self._acurrent_versions(tags, create=True) if tags else {})

    async def alookup(self, key: Any) -> Any:
        """Async :meth:`lookup`."""
        raw = await self._acall(None, "get", key)
        if raw is not None:
            value, stored = self._decode(key, raw)
            if stored is not None and value is not MISSING:
                value = self._fresh(
                    value, stored, await self._acurrent_versions(stored, create=False)
                )
            if value is not MISSING:
                self.stats.hits += 1
                return value
        self.stats.misses += 1
        return MISSING

    async def astore(
        self, key: Any, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()
    ) -> None:
        """Async :meth:`store`."""
        versions = await self._aversions_for_write(tags)
        if versions is MISSING:
            return
        data = self._encode(value, versions)
        if await self._acall(MISSING, "set", key, data, self._ttl(ttl)) is MISSING:
            return  # the backend failed (fail-open): nothing was written
        self.stats.sets += 1

    async def aget(self, key: Hashable, default: Any = None) -> Any:
        """Async :meth:`get`."""
        value = await self.alookup(self._key(key))
        return default if value is MISSING else value

    async def aset(
        self, key: Hashable, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()
    ) -> None:
        """Async :meth:`set`."""
        await self.astore(self._key(key), value, ttl, tags)

    async def aadd(self, key: Hashable, value: Any, ttl: TTL = DEFAULT) -> bool:
        """Async :meth:`add`."""
        versions = await self._aversions_for_write(())
        if versions is MISSING:
            return False
        added: bool = await self._acall(
            False, "add", self._key(key), self._encode(value, versions), self._ttl(ttl)
        )
        return added

    async def adelete(self, key: Hashable) -> bool:
        """Async :meth:`delete`."""
        deleted: bool = await self._acall(False, "delete", self._key(key))
        self.stats.deletes += deleted
        return deleted

    async def aget_many(self, keys: Iterable[Hashable]) -> dict[Any, Any]:
        """Async :meth:`get_many`."""
        wanted = {self._key(k): k for k in keys}
        found = await self._acall({}, "get_many", list(wanted))
        result: dict[Any, Any] = {}
        for key, raw in found.items():
            value, stored = self._decode(key, raw)
            if stored is not None and value is not MISSING:
                value = self._fresh(
                    value, stored, await self._acurrent_versions(stored, create=False)
                )
            if value is not MISSING:
                result[wanted[key]] = value
        self.stats.hits += len(result)
        self.stats.misses += len(wanted) - len(result)
        return result

    async def aset_many(self, items: Mapping[Any, Any], ttl: TTL = DEFAULT) -> None:
        """Async :meth:`set_many`."""
        versions = await self._aversions_for_write(())
        if versions is MISSING:
            return
        encoded = {self._key(k): self._encode(v, versions) for k, v in items.items()}
        if await self._acall(MISSING, "set_many", encoded, self._ttl(ttl)) is MISSING:
            return  # the backend failed (fail-open): nothing was written
        self.stats.sets += len(encoded)

    async def adelete_many(self, keys: Iterable[Hashable]) -> int:
        """Async :meth:`delete_many`."""
        count: int = await self._acall(0, "delete_many", [self._key(k) for k in keys])
        self.stats.deletes += count
        return count

    async def aincr(self, key: Hashable, delta: int = 1) -> int:
        """Async :meth:`incr`."""
        if self._unavailable():
            raise BackendUnavailableError(f"cache {self.name}: backend unavailable")
        try:
            result: int = await self.async_backend.incr(self._key(key), delta)
        except _FAILURES as exc:
            self._failed(exc)
            raise BackendError(f"cache {self.name}: incr failed: {exc}") from exc
        self._breaker.success()
        return result

    async def adecr(self, key: Hashable, delta: int = 1) -> int:
        """Async :meth:`decr`."""
        return await self.aincr(key, -delta)

    async def atouch(self, key: Hashable, ttl: TTL = DEFAULT) -> bool:
        """Async :meth:`touch`."""
        touched: bool = await self._acall(False, "touch", self._key(key), self._ttl(ttl))
        return touched

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._acall(None, "clear")

    async def akeys(self) -> AsyncIterator[Any]:
        """Async :meth:`keys`."""
        if self._unavailable():
            return
        try:
            async for key in self.async_backend.keys():
                if not (type(key) is str and key.startswith(TAG_PREFIX)):
                    yield key
        except _FAILURES as exc:
            self._failed(exc)
            return
        self._breaker.success()

    async def ainvalidate_tags(self, *tags: str) -> None:
        """Async :meth:`invalidate_tags`."""
        for tag in tags:
            with contextlib.suppress(ValueError):  # no counter: no live entry under this tag
                await self._acall(None, "incr", self._tag_key(tag), 1)

    async def aclose(self) -> None:
        """Close the engine (idempotent)."""
        if not self._closed:
            self._closed = True
            self._finalizer.detach()
            if self._abackend is not None:
                await self._abackend.close()
            await asyncio.to_thread(self._backend.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def __getattr__(name: str) -> Any:
    """Resolve the twat-cache 2.x names of this module (see :mod:`twat_cache.legacy`)."""
    if name.startswith("_"):  # import machinery probing a half-initialized module
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from twat_cache.legacy import module_attribute

    return module_attribute(__name__, name)
