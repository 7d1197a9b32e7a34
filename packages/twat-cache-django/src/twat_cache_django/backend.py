"""A Django cache backend over twat-cache: ``BACKEND = "twat_cache_django.TwatCache"``.

Django's cache API is mapped onto one :class:`twat_cache.Cache`, shared by every
thread (Django makes one backend object per thread), so ``LOCATION`` can be any
twat-cache URL. Keys are Django's own (``make_key``: ``KEY_PREFIX``, ``VERSION``,
``KEY_FUNCTION``); timeouts follow Django: the backend's default, ``None`` for
never, and ``<= 0`` for "expire at once" (nothing is stored). In-process engines
keep pickled copies (see :mod:`twat_cache.copies`), as LocMemCache does.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from twat_cache import Cache, ConfigurationError
from twat_cache.config import resolve_config
from twat_cache.copies import freeze, thaw

__all__ = ["DEFAULT_NAMESPACE", "TwatCache", "close_shared_caches", "shared_cache"]

DEFAULT_NAMESPACE = "django"
"""The twat-cache namespace of a Django cache whose ``OPTIONS`` name none."""


class _Expiry(enum.Enum):
    NOW = "now"


_NOW: Final = _Expiry.NOW
# an add() that expires at once writes for at most this long (if its delete is lost)
_MOMENT = 1.0

_shared: dict[tuple[str, str], Cache] = {}
_shared_lock = threading.Lock()


def _twat_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a Django ``OPTIONS`` dict into twat-cache keyword options."""
    result: dict[str, Any] = {"namespace": DEFAULT_NAMESPACE}
    for name, value in options.items():
        if name == "MAX_ENTRIES":
            result["maxsize"] = value
        elif name == "CULL_FREQUENCY":
            continue  # engines evict by their own policy (lru by default), not by culling
        elif name == "ttl":
            raise ConfigurationError(
                "OPTIONS['ttl']", value, "no ttl in OPTIONS: Django's TIMEOUT is the default ttl"
            )
        else:
            result[name] = value
    return result


def shared_cache(location: str, options: Mapping[str, Any]) -> Cache:
    """Return the twat-cache :class:`~twat_cache.Cache` for ``LOCATION`` and ``OPTIONS``.

    One cache (and so one connection pool, or one in-process store) serves every
    thread and every alias with the same settings. It fails open unless
    ``OPTIONS`` ask ``strict``: a failed read is a miss, a failed write answers
    False (the cache's writes say whether they happened).

    Raises:
        ConfigurationError: for a bad URL or option, naming the field.
        EngineNotAvailableError: when the engine's package is not installed.
    """
    twat_options = _twat_options(options)
    signature = (location, repr(sorted(twat_options.items())))
    with _shared_lock:
        cache = _shared.get(signature)
        if cache is None or cache.closed:
            cache = Cache(config=resolve_config(location or None, **twat_options))
            _shared[signature] = cache
    return cache


def close_shared_caches() -> None:
    """Close every engine the backends opened; a backend's next call opens its engine again.

    For a process about to fork, or the end of a test; Django's per-request
    ``close()`` leaves engines open. In-process engines start empty again.
    """
    with _shared_lock:
        caches = list(_shared.values())
        _shared.clear()
    for cache in caches:
        cache.close()


class TwatCache(BaseCache):
    """Django's cache API over any twat-cache engine.

    Args:
        location: ``LOCATION``: a twat-cache URL (``builtin://``, ``disk:///path``,
            ``redis://127.0.0.1:6379/0``...); empty means ``TWAT_CACHE_URL`` or ``memory://``.
        params: The rest of the ``CACHES`` entry: ``TIMEOUT``, ``KEY_PREFIX``, ``VERSION``,
            ``KEY_FUNCTION`` and ``OPTIONS`` (twat-cache options such as ``namespace``,
            ``serializer``, ``secret``, ``strict``; ``MAX_ENTRIES`` becomes ``maxsize``).

    Raises:
        ConfigurationError: for a bad URL or option.

    Example:
        >>> CACHES = {"default": {
        ...     "BACKEND": "twat_cache_django.TwatCache",
        ...     "LOCATION": "redis://127.0.0.1:6379/0",
        ...     "TIMEOUT": 300,
        ...     "OPTIONS": {"namespace": "web", "secret": "s3cret"},
        ... }}
    """

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._location = location
        self._options: Mapping[str, Any] = params.get("OPTIONS") or {}
        self._twat = shared_cache(location, self._options)

    @property
    def twat_cache(self) -> Cache:
        """The twat-cache :class:`~twat_cache.Cache` behind this backend.

        After :func:`close_shared_caches`, the next call opens the engine again.
        """
        if self._twat.closed:
            self._twat = shared_cache(self._location, self._options)
        return self._twat

    def _ttl(self, timeout: Any) -> float | Literal[_Expiry.NOW] | None:
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if timeout <= 0:
            return _NOW
        return float(timeout)

    def _value(self, value: Any) -> Any:
        """What to store: in-process engines keep a pickled copy (see :mod:`twat_cache.copies`)."""
        return freeze(value) if self.twat_cache.local else value

    def _keys(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        return {self.make_and_validate_key(key, version=version): key for key in keys}

    # -- sync ------------------------------------------------------------------------
    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it was stored."""
        made, value = self.make_and_validate_key(key, version=version), self._value(value)
        ttl = self._ttl(timeout)
        if ttl is _NOW:  # as Django's backends: True when the key was free, nothing kept
            added = self.twat_cache.add(made, value, _MOMENT)
            if added:
                self.twat_cache.delete(made)
            return added
        return self.twat_cache.add(made, value, ttl)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Return the value under ``key``, or ``default``."""
        made = self.make_and_validate_key(key, version=version)
        return thaw(self.twat_cache.get(made, default))

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` under ``key`` (a timeout <= 0 deletes it instead)."""
        made = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            self.twat_cache.delete(made)
        else:
            self.twat_cache.set(made, self._value(value), ttl)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Give ``key`` a new timeout; return whether it was present."""
        made = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            return self.twat_cache.delete(made)
        return self.twat_cache.touch(made, ttl)

    def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove ``key``; return whether it was present."""
        made = self.make_and_validate_key(key, version=version)
        return self.twat_cache.delete(made)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        """Return ``{key: value}`` for the keys present, in one round trip where possible."""
        made = self._keys(keys, version)
        found = self.twat_cache.get_many(made)
        return {made[k]: thaw(value) for k, value in found.items()}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """Return whether ``key`` holds a live value."""
        made = self.make_and_validate_key(key, version=version)
        return made in self.twat_cache

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            BackendError: when the backend fails (a counter has no fail-open answer).
        """
        made = self.make_and_validate_key(key, version=version)
        return self.twat_cache.incr(made, delta)

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Store every item; return the keys that could not be stored (all, or none)."""
        if not data:
            return []
        made = self._keys(data, version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            self.twat_cache.delete_many(list(made))
            return []
        items = {k: self._value(data[key]) for k, key in made.items()}
        return [] if self.twat_cache.set_many(items, ttl) else list(made.values())

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Remove ``keys``."""
        made = list(self._keys(keys, version))
        if made:
            self.twat_cache.delete_many(made)

    def clear(self) -> None:
        """Remove every entry of this cache's namespace (nothing outside it)."""
        self.twat_cache.clear()

    def close(self, **kwargs: Any) -> None:
        """Keep the engine open: it is shared by every thread (see :func:`close_shared_caches`).

        Django calls this when each request ends; as with Django's Redis and
        local-memory backends, connection pools stay warm between requests.
        """

    # -- async -----------------------------------------------------------------------
    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Async :meth:`add`."""
        made, value = self.make_and_validate_key(key, version=version), self._value(value)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            added = await self.twat_cache.aadd(made, value, _MOMENT)
            if added:
                await self.twat_cache.adelete(made)
            return added
        return await self.twat_cache.aadd(made, value, ttl)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Async :meth:`get`."""
        made = self.make_and_validate_key(key, version=version)
        return thaw(await self.twat_cache.aget(made, default))

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Async :meth:`set`."""
        made = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            await self.twat_cache.adelete(made)
        else:
            await self.twat_cache.aset(made, self._value(value), ttl)

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Async :meth:`touch`."""
        made = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            return await self.twat_cache.adelete(made)
        return await self.twat_cache.atouch(made, ttl)

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        """Async :meth:`delete`."""
        made = self.make_and_validate_key(key, version=version)
        return await self.twat_cache.adelete(made)

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        """Async :meth:`get_many`."""
        made = self._keys(keys, version)
        found = await self.twat_cache.aget_many(made)
        return {made[k]: thaw(value) for k, value in found.items()}

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        """Async :meth:`has_key`."""
        made = self.make_and_validate_key(key, version=version)
        absent = object()
        return await self.twat_cache.aget(made, absent) is not absent

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Async :meth:`incr`."""
        made = self.make_and_validate_key(key, version=version)
        return await self.twat_cache.aincr(made, delta)

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Async :meth:`set_many`."""
        if not data:
            return []
        made = self._keys(data, version)
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            await self.twat_cache.adelete_many(list(made))
            return []
        items = {k: self._value(data[key]) for k, key in made.items()}
        return [] if await self.twat_cache.aset_many(items, ttl) else list(made.values())

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Async :meth:`delete_many`."""
        made = list(self._keys(keys, version))
        if made:
            await self.twat_cache.adelete_many(made)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.twat_cache.aclear()

    async def aclose(self, **kwargs: Any) -> None:
        """Async :meth:`close` (the engine stays open)."""
