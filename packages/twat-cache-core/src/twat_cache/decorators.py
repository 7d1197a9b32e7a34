"""The decorators: ``ucache`` (any engine), ``mcache``, ``bcache``, ``fcache``, ``acache``.

A decorated function keeps its signature for type checkers (``ParamSpec``) and
gains ``cache_info()``, ``cache_clear()``, ``invalidate(...)``, ``cache_key(...)``
and ``.cache``. Exceptions raised by the function are never cached. When the
backend fails, the function still runs (fail-open) unless ``strict=True``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, NamedTuple, TypeVar, cast, overload

from twat_cache.cache import _FAILURES, MISSING, NONE_VALUE, Cache, Tagged
from twat_cache.config import CacheOptions, resolve_config
from twat_cache.exceptions import CacheOperationError, ConfigurationError, SerializationError
from twat_cache.keys import KeyPlan, freeze
from twat_cache.registry import engine_class

if sys.version_info >= (3, 11):
    from typing import ParamSpec, Unpack
else:  # pragma: no cover - 3.10
    from typing_extensions import ParamSpec, Unpack

__all__ = [
    "AsyncCachedFunction",
    "CacheInfo",
    "CachedFunction",
    "acache",
    "bcache",
    "fcache",
    "mcache",
    "ucache",
]

logger = logging.getLogger("twat_cache")

P = ParamSpec("P")
R = TypeVar("R")
KeyFunc = Callable[..., Hashable]


class CacheInfo(NamedTuple):
    """Like :func:`functools.lru_cache`'s: hits, misses, maxsize, currsize (``-1`` if unknown)."""

    hits: int
    misses: int
    maxsize: int | None
    currsize: int


class _Cached(Generic[P, R]):
    """What sync and async cached functions share."""

    # copied from the function by functools.update_wrapper
    __name__: str
    __qualname__: str

    def __init__(
        self, func: Callable[..., Any], cache: Cache, owns_cache: bool, key: KeyFunc | None
    ) -> None:
        functools.update_wrapper(cast("Callable[..., Any]", self), func)
        self.__wrapped__ = func
        self.cache = cache
        self._owns_cache = owns_cache
        self._plan = KeyPlan(func, key)
        self._local = cache.local
        self._stats = cache.stats
        self._get = cache.backend.get
        # a decorator's own in-process cache needs no function prefix in its keys
        self._bare = owns_cache and cache.local and key is None
        self._nargs = len(inspect.signature(func).parameters) if self._plan_is_simple(func) else -1
        self._warn = cache.config.on_serialization_error == "warn"

    @staticmethod
    def _plan_is_simple(func: Callable[..., Any]) -> bool:
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            return False
        return all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)

    def _key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self._local:
            return self._plan.shared_key(args, kwargs)
        key = self._plan.local_key(args, kwargs)
        try:
            hash(key)
        except TypeError:  # an unhashable argument (list, dict, set...)
            key = freeze(key)
        # frozen or not, the prefix stays visible so that cache_clear() finds the key
        return key if self._bare else (self._plan.prefix, key)

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Return the key a call with these arguments is stored under."""
        return self._key(args, kwargs)

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry of a call with these arguments; return whether it existed."""
        return self.cache.delete(self._key(args, kwargs))

    def cache_clear(self) -> None:
        """Remove this function's entries.

        An in-process cache of the function's own is emptied. On a shared engine
        the namespace also holds other functions' entries, so only the keys of
        this function are removed -- or, on an engine that cannot list its keys
        (memcached), the whole namespace, which costs others misses but never
        serves a stale value. Entries stored under a ``key=`` function's own
        string are not found by the scan.
        """
        self._stats.reset()
        if self._owns_cache and self._local:
            self.cache.clear()
            return
        prefix = self._plan.prefix
        try:
            stale = [
                k
                for k in list(self.cache.keys())
                if (isinstance(k, str) and k.startswith(prefix + ":"))
                or (isinstance(k, tuple) and k[:1] == (prefix,))
            ]
        except CacheOperationError as exc:
            logger.info(
                "%s: cannot list keys (%s); clearing namespace %r",
                prefix,
                exc,
                self.cache.config.namespace,
                extra={"function": prefix},
            )
            self.cache.clear()
            return
        self.cache.delete_many(stale)

    def cache_info(self) -> CacheInfo:
        """Return hits, misses, maxsize and current size."""
        backend = self.cache.backend
        size = len(backend) if hasattr(backend, "__len__") else -1
        maxsize = getattr(backend, "maxsize", self.cache.config.maxsize)
        return CacheInfo(self._stats.hits, self._stats.misses, maxsize, size)

    def _encode_failed(self, exc: SerializationError) -> None:
        if not self._warn:
            raise exc
        logger.warning(
            "%s: result not cached: %s",
            self._plan.prefix,
            exc,
            extra={"function": self._plan.prefix},
        )

    def __repr__(self) -> str:
        return f"<cached {self._plan.prefix} on {self.cache!r}>"


class CachedFunction(_Cached[P, R]):
    """A cached sync function. Call it as the original."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result of the call, running the function on a miss."""
        if self._bare:
            # hot path of in-process caches: the arguments are the key
            key: Any = (
                args
                if (not kwargs and len(args) == self._nargs)
                else self._plan.local_key(args, kwargs)
            )
            try:
                try:
                    value = self._get(key)
                except TypeError:  # an unhashable argument (list, dict, set...)
                    key = freeze(key)
                    value = self._get(key)
            except _FAILURES:  # fail-open: the lookup below records it (once, by the breaker)
                value = None
            if value is not None and type(value) is not Tagged:
                self._stats.hits += 1
                return None if value is NONE_VALUE else value  # type: ignore[return-value]
        else:
            key = self._key(args, kwargs)
        value = self.cache.lookup(key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        result = self.__wrapped__(*args, **kwargs)
        try:
            self.cache.store(key, result)
        except SerializationError as exc:
            self._encode_failed(exc)
        return result  # type: ignore[no-any-return]

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return _BoundCached(self, instance)


class AsyncCachedFunction(_Cached[P, R]):
    """A cached coroutine function: ``await`` it as the original."""

    def __init__(
        self, func: Callable[..., Any], cache: Cache, owns_cache: bool, key: KeyFunc | None
    ) -> None:
        super().__init__(func, cache, owns_cache, key)
        self._is_coroutine = inspect.iscoroutinefunction(func)
        # let inspect.iscoroutinefunction() see through us (the function exists from 3.12 on)
        if sys.version_info >= (3, 12):  # pragma: no cover - depends on the Python version
            inspect.markcoroutinefunction(self)

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._is_coroutine:
            return await self.__wrapped__(*args, **kwargs)
        return await asyncio.to_thread(self.__wrapped__, *args, **kwargs)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result of the call, awaiting the function on a miss."""
        if self._bare:
            key: Any = (
                args
                if (not kwargs and len(args) == self._nargs)
                else self._plan.local_key(args, kwargs)
            )
            try:
                try:
                    value = self._get(key)
                except TypeError:
                    key = freeze(key)
                    value = self._get(key)
            except _FAILURES:
                value = None
            if value is not None and type(value) is not Tagged:
                self._stats.hits += 1
                return None if value is NONE_VALUE else value  # type: ignore[return-value]
            value = self.cache.lookup(key)  # in-process: no need for a thread
        else:
            key = self._key(args, kwargs)
            value = await self.cache.alookup(key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        result = await self._run(args, kwargs)
        try:
            if self._local:
                self.cache.store(key, result)
            else:
                await self.cache.astore(key, result)
        except SerializationError as exc:
            self._encode_failed(exc)
        return result  # type: ignore[no-any-return]

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return _BoundCached(self, instance)


class _BoundCached:
    """A cached method bound to an instance (the instance is part of the key)."""

    __slots__ = ("__func__", "__self__")

    def __init__(self, func: _Cached[Any, Any], instance: object) -> None:
        self.__func__ = func
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)  # type: ignore[operator]

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        return self.__func__.invalidate(self.__self__, *args, **kwargs)

    def cache_key(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__.cache_key(self.__self__, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__func__, name)


class Decorator:
    """What ``ucache(...)`` returns: apply it to a sync or async function."""

    def __init__(
        self,
        url: str | None,
        options: dict[str, Any],
        cache: Cache | None = None,
        key: KeyFunc | None = None,
        force_async: bool = False,
    ) -> None:
        self._url = url
        self._options = options
        self._cache = cache
        self._key = key
        self._force_async = force_async
        if cache is not None and (url is not None or options):
            raise ConfigurationError("cache", cache, "either cache= or a URL and options, not both")
        if cache is None:
            # validate now, at decoration time, even before the function is known
            self._config = resolve_config(url, **options)
            engine_class(self._config.engine)  # an unknown or missing engine fails here too

    # A coroutine function matches both overloads; the first one, for it, must win.
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> AsyncCachedFunction[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> CachedFunction[P, R]: ...
    def __call__(self, func: Callable[P, Any]) -> Any:
        if isinstance(func, (classmethod, staticmethod)):  # @ucache above @classmethod
            return type(func)(self(func.__func__))
        if not callable(func):
            raise TypeError(f"a cache decorator takes a function, not {func!r}")
        is_async = inspect.iscoroutinefunction(func) or self._force_async
        owns = self._cache is None
        cache = self._cache
        if cache is None:
            cache = Cache(config=self._config, name=f"{func.__module__}.{func.__qualname__}")
        if is_async:
            return AsyncCachedFunction(func, cache, owns, self._key)
        return CachedFunction(func, cache, owns, self._key)


class AsyncDecorator(Decorator):
    """What ``acache(...)`` returns: every decorated function becomes awaitable."""

    @overload  # type: ignore[override]
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]]) -> AsyncCachedFunction[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> AsyncCachedFunction[P, R]: ...
    def __call__(self, func: Callable[P, Any]) -> Any:
        return super().__call__(func)


# A coroutine function matches both overloads; the first one, for it, must win.
@overload
def ucache(  # type: ignore[overload-overlap]
    url: Callable[P, Coroutine[Any, Any, R]], /
) -> AsyncCachedFunction[P, R]: ...
@overload
def ucache(url: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def ucache(
    url: str | None = None,
    /,
    *,
    cache: Cache | None = None,
    key: KeyFunc | None = None,
    **options: Unpack[CacheOptions],
) -> Decorator: ...
def ucache(
    url: Any = None,
    /,
    *,
    cache: Cache | None = None,
    key: KeyFunc | None = None,
    **options: Any,
) -> Any:
    """Cache a function's results on any engine, picked by URL (universal cache).

    Works on sync and async functions, methods and classmethods; ``@ucache`` and
    ``@ucache()`` both work. The config is validated here, at decoration time.

    Args:
        url: Where entries live: ``memory://`` (default), ``disk:///path``,
            ``redis://host:6379/0``, ``memcached://h1,h2``, ``postgresql://...``...
        cache: An existing :class:`Cache` to share between functions.
        key: A function of the same arguments returning the key (a ``str`` is used as is).
        **options: Any :class:`~twat_cache.config.CacheOptions` (``ttl``, ``maxsize``...).

    Returns:
        A decorator (or, used bare, the cached function).

    Raises:
        ConfigurationError: for a bad URL or option.
        EngineNotAvailableError: when the engine's package is not installed.

    Example:
        >>> @ucache(ttl=60)
        ... def square(x: int) -> int:
        ...     return x * x
        >>> square(3), square(3), square.cache_info().hits
        (9, 9, 1)
    """
    if callable(url) or isinstance(url, (classmethod, staticmethod)):
        return Decorator(None, {})(url)
    return Decorator(url, options, cache, key)


def mcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator:
    """Cache in process memory (``memory://``): the fastest, per process.

    Args:
        key: Optional key function (see :func:`ucache`).
        **options: ``maxsize``, ``ttl``, ``policy`` (lru, lfu, fifo, rr, ttl)...

    Example:
        >>> @mcache(maxsize=128)
        ... def f(x: int) -> int:
        ...     return x + 1
    """
    return Decorator("memory://", dict(options), key=key)


def bcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator:
    """Cache on local disk (``disk://``, diskcache): survives restarts, shared by processes.

    Args:
        key: Optional key function (see :func:`ucache`).
        **options: ``folder`` (default: the user cache folder), ``ttl``, ``maxbytes``...

    Raises:
        EngineNotAvailableError: without twat-cache-disk (``pip install "twat-cache[disk]"``).
    """
    return Decorator("disk://", dict(options), key=key)


def fcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator:
    """Cache large values on disk, one file per value (``disk://`` with ``min_file_size=0``).

    Args:
        key: Optional key function (see :func:`ucache`).
        **options: ``folder``, ``ttl``, ``compress``...
    """
    engine_options = {"min_file_size": 0, **dict(options.pop("options", {}))}
    return Decorator("disk://", {**options, "options": engine_options}, key=key)


def acache(
    url: str | None = None,
    /,
    *,
    cache: Cache | None = None,
    key: KeyFunc | None = None,
    **options: Unpack[CacheOptions],
) -> AsyncDecorator:
    """Cache an async function (or make a blocking one awaitable and cached).

    A sync function decorated with ``acache`` runs in a worker thread on a miss.

    Example:
        >>> @acache(ttl=10)
        ... async def fetch(url: str) -> str:
        ...     return url.upper()
    """
    return AsyncDecorator(url, dict(options), cache, key, force_async=True)
