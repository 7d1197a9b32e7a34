"""The decorators: ``ucache`` (any engine), ``mcache``, ``bcache``, ``fcache``, ``acache``.

A decorated function keeps its signature for type checkers (``ParamSpec``) and
gains ``cache_info()``, ``cache_clear()``, ``invalidate(...)``, ``cache_key(...)``
and ``.cache``. Exceptions raised by the function are never cached. When the
backend fails, the function still runs (fail-open) unless ``strict=True``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Coroutine, Hashable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, overload, runtime_checkable

from twat_cache import legacy
from twat_cache._async.calls import acall_path
from twat_cache._async.entries import abatch_path, atagged_path
from twat_cache._sync.calls import call_path
from twat_cache._sync.entries import batch_path, tagged_path
from twat_cache.cache import Cache
from twat_cache.config import CacheOptions, resolve_config
from twat_cache.entries import EntryOptions, WarmReport, pop_entry_options
from twat_cache.exceptions import CacheValueError, ConfigurationError, SerializationError
from twat_cache.keys import KeyPlan
from twat_cache.registry import engine_class
from twat_cache.warming import Progress, async_warmer, warmer

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
R_co = TypeVar("R_co", covariant=True)
KeyFunc = Callable[..., Hashable]


class _Info(NamedTuple):
    hits: int
    misses: int
    maxsize: int | None
    currsize: int


def _bound(cache: Cache) -> int | None:
    """The most entries the cache's engine keeps: its own ``maxsize`` when it has one."""
    bound = getattr(cache._raw, "maxsize", cache.config.maxsize)
    if bound is None or (isinstance(bound, int) and not isinstance(bound, bool)):
        return bound
    return cache.config.maxsize  # an engine attribute of another meaning


class CacheInfo(_Info):
    """Like :func:`functools.lru_cache`'s: hits, misses, maxsize, currsize (``-1`` if unknown).

    A four-tuple as functools' is; :attr:`stats` has every other figure
    (:meth:`~twat_cache.stats.CacheStats.as_dict`: latencies, bytes, time saved).
    """

    stats: dict[str, Any]


@runtime_checkable
class CachedFunction(Protocol[P, R_co]):
    """A cached sync function: call it as the original; it also has the cache helpers.

    The object is a plain function (as fast to call as one) for functions, and a
    descriptor for methods, whose helpers then take the arguments after ``self``.
    """

    cache: Cache
    __wrapped__: Callable[..., Any]
    __name__: str
    __qualname__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Return the cached result of the call, running the function on a miss."""
        ...

    def cache_info(self) -> CacheInfo:
        """Return hits, misses, maxsize and current size."""
        ...

    def cache_clear(self) -> None:
        """Remove this function's entries."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry of a call with these arguments; return whether it existed."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Return the key a call with these arguments is stored under."""
        ...

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written under any of ``tags`` a miss (see docs/entries.md)."""
        ...

    def warm(
        self,
        items: Iterable[Any],
        concurrency: int = 8,
        progress: Progress | None = None,
        *,
        batch_size: int | None = None,
    ) -> WarmReport:
        """Call the function for each item not already cached, in threads (docs/entries.md)."""
        ...

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        """Bind to an instance (methods)."""
        ...


@runtime_checkable
class AsyncCachedFunction(Protocol[P, R_co]):
    """A cached coroutine function: ``await`` it as the original (see :class:`CachedFunction`)."""

    cache: Cache
    __wrapped__: Callable[..., Any]
    __name__: str
    __qualname__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """Return the cached result of the call, awaiting the function on a miss."""
        ...

    def cache_info(self) -> CacheInfo:
        """Return hits, misses, maxsize and current size."""
        ...

    def cache_clear(self) -> None:
        """Remove this function's entries."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry of a call with these arguments; return whether it existed."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Return the key a call with these arguments is stored under."""
        ...

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written under any of ``tags`` a miss (see docs/entries.md)."""
        ...

    def warm(
        self,
        items: Iterable[Any],
        concurrency: int = 8,
        progress: Progress | None = None,
        *,
        batch_size: int | None = None,
    ) -> Any:  # a coroutine of WarmReport; Any keeps it a CachedFunction of a coroutine
        """Await the function for each item not already cached, in tasks (docs/entries.md)."""
        ...

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        """Bind to an instance (methods)."""
        ...


class Controller:
    """Everything a cached function knows besides its call path: keys, helpers, stats.

    The call path itself is :func:`twat_cache._sync.calls.call_path` (or its async
    source), over the cache's own lookup strategy (:meth:`Cache.hit_path`).
    """

    def __init__(
        self, func: Callable[..., Any], cache: Cache, owns_cache: bool, key: KeyFunc | None
    ) -> None:
        self.func = func
        self.cache = cache
        self.owns_cache = owns_cache
        config = cache.config
        self.plan = KeyPlan(
            func, key, version=config.version, typed=config.typed, limit=cache.key_limit
        )
        cache.expect_return_type(func, self.plan.prefix)  # serializer="typed" needs the annotation
        self.local = cache.local
        self.stats = cache.stats
        # a decorator's own in-process cache needs no function prefix in its keys
        self.bare = owns_cache and cache.local and key is None
        self.nargs = self.plan.arity
        self.warn = cache.config.on_serialization_error == "warn"
        self.entry = EntryOptions()  # computed tags, batch (twat_cache.entries)
        # the key of a call, from (args, kwargs): on a shared engine the plan's own method,
        # one call less on every hit
        self.key: Callable[[tuple[Any, ...], dict[str, Any]], Any] = (
            self._local_key if self.local else self.plan.shared_key
        )

    def _local_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.plan.local_key(args, kwargs)
        # the prefix stays visible so that cache_clear() finds the key
        return key if self.bare else (self.plan.prefix, key)

    def cache_key(self, *args: Any, **kwargs: Any) -> Any:
        """Return the key a call with these arguments is stored under."""
        return self.key(args, kwargs)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Remove the entry of a call with these arguments; return whether it existed."""
        return self.cache.delete(self.key(args, kwargs))

    def cache_clear(self) -> None:
        """Remove this function's entries.

        An in-process cache of the function's own is emptied. On a shared engine
        the namespace also holds other functions' entries, so only the keys of
        this function are removed -- or, on an engine that cannot list its keys
        (its capabilities say ``lists_keys=False``: memcached), the whole
        namespace, which costs others misses but never serves a stale value.
        Entries stored under a ``key=`` function's own string are not found by the scan.
        """
        self.stats.reset()
        if self.owns_cache and self.local:
            self.cache.clear()
            return
        prefix = self.plan.prefix
        if not self.cache.capabilities.lists_keys:
            logger.info(
                "%s: the engine cannot list keys; clearing namespace %r",
                prefix,
                self.cache.config.namespace,
                extra={"function": prefix},
            )
            self.cache.clear()
            return
        self.cache.delete_many([key for key in list(self.cache.keys()) if self._mine(key)])

    def _mine(self, key: Any) -> bool:
        prefix = self.plan.prefix
        if isinstance(key, str):
            return key.startswith(prefix + ":")
        return isinstance(key, tuple) and key[:1] == (prefix,)

    def cache_info(self) -> CacheInfo:
        """Return hits, misses, maxsize and current size.

        ``maxsize`` is the bound the engine enforces (the built-in engine's default
        when none was configured; ``None``: no bound by count), as functools' is.
        The size is counted on in-process engines that list their keys; on
        shared ones (where counting means a scan of the server) it is ``-1``.
        """
        cache = self.cache
        capabilities = cache.capabilities
        size = -1
        if capabilities.stores_objects and capabilities.lists_keys:
            # a closed in-process engine has dropped its entries
            keys = [] if cache.closed else list(cache.keys())
            size = len(keys) if self.owns_cache else sum(map(self._mine, keys))
        info = CacheInfo(self.stats.hits, self.stats.misses, _bound(cache), size)
        info.stats = self.stats.as_dict()
        return info

    def not_stored(self, exc: CacheValueError) -> None:
        """A result could not be stored: raise, or log and go on, as configured.

        A value the serializer cannot encode raises unless ``on_serialization_error``
        is ``warn``; a value the engine refuses (too large) is logged, and raises
        only in ``strict`` mode -- the caller still gets the function's result.
        """
        if isinstance(exc, SerializationError) and not self.warn:
            raise exc
        if not isinstance(exc, SerializationError) and self.cache.config.strict:
            raise exc
        logger.warning(
            "%s: result not cached: %s", self.plan.prefix, exc, extra={"function": self.plan.prefix}
        )

    def attach(self, wrapper: Any) -> Any:
        """Give ``wrapper`` the function's metadata and the cache helpers."""
        functools.update_wrapper(wrapper, self.func)
        wrapper.cache = self.cache
        wrapper.cache_info = self.cache_info
        wrapper.cache_clear = self.cache_clear
        wrapper.invalidate = self.invalidate
        wrapper.cache_key = self.cache_key
        wrapper.invalidate_tags = self.cache.invalidate_tags
        wrapper.cache_delete = legacy.cache_delete(self.invalidate)  # the 2.x name of invalidate
        return wrapper


def _computes(tags: object) -> bool:
    """Whether a ``tags=`` option computes some tags from the arguments."""
    if callable(tags):
        return True
    return isinstance(tags, (list, tuple)) and any(callable(t) for t in tags)


def _defined_in_class(func: Callable[..., Any]) -> bool:
    """Whether ``func`` was written in a class body (so it will be a method)."""
    parts = getattr(func, "__qualname__", "").split(".")
    return len(parts) >= 2 and parts[-2] != "<locals>"


class _CachedMethod:
    """A cached function defined in a class: binds like a method, helpers included."""

    def __init__(self, ctl: Controller, call: Callable[..., Any]) -> None:
        ctl.attach(self)
        self._ctl = ctl
        self._call = call
        if inspect.iscoroutinefunction(call) and sys.version_info >= (3, 12):  # pragma: no cover
            inspect.markcoroutinefunction(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return _BoundCached(self, instance)

    def __repr__(self) -> str:
        return f"<cached method {self._ctl.plan.prefix} on {self._ctl.cache!r}>"


class _BoundCached:
    """A cached method bound to an instance (the instance is part of the key)."""

    __slots__ = ("__func__", "__self__")

    def __init__(self, func: _CachedMethod, instance: object) -> None:
        self.__func__ = func
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        return self.__func__._ctl.invalidate(self.__self__, *args, **kwargs)

    def cache_key(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__._ctl.cache_key(self.__self__, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__func__, name)


def _wrap(
    func: Callable[..., Any],
    cache: Cache,
    owns: bool,
    key: KeyFunc | None,
    is_async: bool,
    *,
    entry: EntryOptions | None = None,
) -> Any:
    ctl = Controller(func, cache, owns, key)
    ctl.entry = entry or ctl.entry
    if ctl.entry.batch:
        call = abatch_path(ctl) if is_async else batch_path(ctl)
    elif ctl.entry.tags_of is not None:
        call = atagged_path(ctl) if is_async else tagged_path(ctl)
    else:
        call = acall_path(ctl) if is_async else call_path(ctl)
    wrapped: Any = _CachedMethod(ctl, call) if _defined_in_class(func) else ctl.attach(call)
    wrapped.warm = async_warmer(ctl, call) if is_async else warmer(ctl, call)
    return wrapped


class Decorator:
    """What ``ucache(...)`` returns: apply it to a sync or async function."""

    def __init__(
        self,
        url: str | Sequence[str] | None,
        options: dict[str, Any],
        cache: Cache | None = None,
        key: KeyFunc | None = None,
        force_async: bool = False,
    ) -> None:
        # twat-cache 2.x keywords (twat_cache.legacy); a list of URLs (tiers) is never 2.x
        if (url is None or isinstance(url, str)) and options.keys() & legacy.KEYWORDS:
            url, options = legacy.translate_options(url, options)
        self._url = url
        self._options = options
        self._cache = cache
        self._key = key
        self._force_async = force_async
        # decorator-only options, read per function (twat_cache.entries)
        self._entry_options: dict[str, Any] = {
            name: options.pop(name) for name in ("batch", "cache_absent") if name in options
        }
        if "tags" in options and (cache is not None or _computes(options["tags"])):
            self._entry_options["tags"] = options.pop("tags")
        if cache is not None and (url is not None or options):
            raise ConfigurationError("cache", cache, "either cache= or a URL and options, not both")
        self._tiers: Sequence[str] = ()
        if cache is None and isinstance(url, (list, tuple)):  # tiers (twat_cache.tiers)
            self._tiers = url
            url = url[-1] if url else None
        if cache is None:
            # validate now, at decoration time, even before the function is known
            self._config = resolve_config(url, **options)  # type: ignore[arg-type]
            for each in self._tiers:
                engine_class(resolve_config(each).engine)
            engine_class(self._config.engine)  # an unknown or missing engine fails here too

    # A coroutine function matches both overloads; the first one, for it, must win.
    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]]) -> AsyncCachedFunction[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> CachedFunction[P, R]: ...
    def __call__(self, func: Callable[P, Any]) -> Any:
        if isinstance(func, (classmethod, staticmethod)):  # @ucache above @classmethod
            return type(func)(self(func.__func__))
        if not callable(func):
            raise TypeError(f"a cache decorator takes a function, not {func!r}")
        is_async = inspect.iscoroutinefunction(func) or self._force_async
        owns = self._cache is None
        entry = pop_entry_options(func, dict(self._entry_options), shared=True)
        cache = self._cache
        if cache is None:
            name = f"{func.__module__}.{func.__qualname__}"
            if self._tiers:
                cache = Cache(self._tiers, name=name, **self._options)
            else:
                cache = Cache(config=self._config, name=name)
        return _wrap(func, cache, owns, self._key, is_async, entry=entry)


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
def ucache(url: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncCachedFunction[P, R]: ...
@overload
def ucache(url: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def ucache(
    url: str | Sequence[str] | None = None,
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
            ``redis://host:6379/0``, ``memcached://h1,h2``, ``postgresql://...``...;
            a list of URLs makes tiers, nearest first (see docs/tiers.md).
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


@overload
def mcache(func: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncCachedFunction[P, R]: ...
@overload
def mcache(func: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def mcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator: ...
def mcache(*args: Any, key: KeyFunc | None = None, **options: Any) -> Any:
    """Cache in process memory (``memory://``): the fastest, per process.

    ``@mcache`` and ``@mcache()`` both work (as for every decorator here).

    Args:
        *args: Nothing, the function (bare ``@mcache``), or 2.x positional values
            (``maxsize, ttl, policy``: deprecated, see :mod:`twat_cache.legacy`).
        key: Optional key function (see :func:`ucache`).
        **options: ``maxsize``, ``ttl``, ``policy`` (lru, lfu, fifo, rr, ttl)...

    Example:
        >>> @mcache(maxsize=128)
        ... def f(x: int) -> int:
        ...     return x + 1
    """
    func, opts = legacy.decorator_args("mcache", args, dict(options)) if args else (None, options)
    decorator = Decorator("memory://", dict(opts), key=key)
    return decorator if func is None else decorator(func)


@overload
def bcache(func: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncCachedFunction[P, R]: ...
@overload
def bcache(func: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def bcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator: ...
def bcache(*args: Any, key: KeyFunc | None = None, **options: Any) -> Any:
    """Cache on local disk (``disk://``, diskcache): survives restarts, shared by processes.

    Args:
        *args: Nothing, the function (bare ``@bcache``), or 2.x positional values
            (``folder_name, maxsize, ttl, policy``: deprecated).
        key: Optional key function (see :func:`ucache`).
        **options: ``folder`` (default: the user cache folder), ``ttl``, ``maxbytes``...

    Raises:
        EngineNotAvailableError: without twat-cache-disk (``pip install "twat-cache[disk]"``).
    """
    func, opts = legacy.decorator_args("bcache", args, dict(options)) if args else (None, options)
    decorator = Decorator("disk://", dict(opts), key=key)
    return decorator if func is None else decorator(func)


@overload
def fcache(func: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncCachedFunction[P, R]: ...
@overload
def fcache(func: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def fcache(*, key: KeyFunc | None = None, **options: Unpack[CacheOptions]) -> Decorator: ...
def fcache(*args: Any, key: KeyFunc | None = None, **options: Any) -> Any:
    """Cache large values on disk, one file per value (``disk://`` with ``min_file_size=0``).

    Args:
        *args: Nothing, the function (bare ``@fcache``), or 2.x positional values
            (``folder_name, maxsize, ttl``: deprecated).
        key: Optional key function (see :func:`ucache`).
        **options: ``folder``, ``ttl``, ``compress``...
    """
    func, opts = legacy.decorator_args("fcache", args, dict(options)) if args else (None, options)
    engine_options = {"min_file_size": 0, **dict(opts.pop("options", {}))}
    decorator = Decorator("disk://", {**opts, "options": engine_options}, key=key)
    return decorator if func is None else decorator(func)


@overload
def acache(url: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncCachedFunction[P, R]: ...
@overload
def acache(url: Callable[P, R], /) -> AsyncCachedFunction[P, R]: ...
@overload
def acache(
    url: str | Sequence[str] | None = None,
    /,
    *,
    cache: Cache | None = None,
    key: KeyFunc | None = None,
    **options: Unpack[CacheOptions],
) -> AsyncDecorator: ...
def acache(
    url: Any = None,
    /,
    *args: Any,
    cache: Cache | None = None,
    key: KeyFunc | None = None,
    **options: Any,
) -> Any:
    """Cache an async function (or make a blocking one awaitable and cached).

    A sync function decorated with ``acache`` runs in a worker thread on a miss.

    Example:
        >>> @acache(ttl=10)
        ... async def fetch(url: str) -> str:
        ...     return url.upper()
    """
    tiers = isinstance(url, (list, tuple))
    if args or (url is not None and not isinstance(url, str) and not tiers):  # bare, or 2.x
        func, opts = legacy.decorator_args("acache", (url, *args), dict(options))
        decorator = AsyncDecorator(None, opts, cache, key, force_async=True)
        return decorator if func is None else decorator(func)
    return AsyncDecorator(url, dict(options), cache, key, force_async=True)
