"""The :class:`Cache` object: one namespace on one engine, sync and async.

It owns everything that is not storage: key normalisation, serialization and
signing, tags, TTL jitter, the circuit breaker (fail-open unless ``strict``),
stats and logging. Engines only move bytes (or, in-process, objects).

Its operations are written once: the I/O-free steps in
:class:`~twat_cache.pipeline.Pipeline`, the engine calls in the async source
:mod:`twat_cache._async.ops`, whose sync twin :mod:`twat_cache._sync.ops` is
generated. ``Cache`` combines the two twins over the one shared core.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast, overload

from twat_cache._async.ops import AsyncOps
from twat_cache._sync.ops import SyncOps
from twat_cache.adapters import AsyncAdapter, as_async, as_sync, run_blocking
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.engines.base import ClosesOnExit
from twat_cache.legacy_names import module_getattr
from twat_cache.pipeline import DEFAULT, MISSING, NONE_VALUE, TAG_PREFIX, Tagged
from twat_cache.protocols import AsyncBackend, Backend, ReportsEvictions, capabilities_of
from twat_cache.registry import create_backend
from twat_cache.stats import Publisher
from twat_cache.timeouts import AsyncTimeLimit, SyncTimeLimit

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - 3.10
    from typing_extensions import Self, Unpack

from twat_cache.config import CacheOptions

if TYPE_CHECKING:
    from twat_cache.tiers import TieredCache

__all__ = ["DEFAULT", "MISSING", "NONE_VALUE", "TAG_PREFIX", "Cache", "Tagged", "live_caches"]

logger = logging.getLogger("twat_cache")

_live: weakref.WeakSet[Cache] = weakref.WeakSet()


def _close_quietly(backend: Backend) -> None:
    """Close a dropped cache's engine so that its sockets and files are released."""
    try:
        backend.close()
    except Exception:
        logger.debug("closing a dropped cache's engine failed", exc_info=True)


def live_caches() -> list[Cache]:
    """Return every cache object that is still open in this process."""
    return [cache for cache in list(_live) if not cache.closed]


class Cache(SyncOps, AsyncOps, ClosesOnExit):
    """A cache: one namespace on one engine, with sync and async methods.

    Every sync method (``get``, ``set``, ``add``, ``incr``...) has an async twin
    with an ``a`` prefix (``aget``, ``aset``...), generated from one source.
    Writes return whether they happened: False when the engine declined the value
    or failed (fail-open); ``strict=True`` raises
    :class:`~twat_cache.exceptions.BackendError` on a failure instead.

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
        True
        {'a': 1}
    """

    @overload
    def __new__(cls, url: list[str] | tuple[str, ...], /, **kwargs: Any) -> TieredCache: ...
    @overload
    def __new__(cls, url: str | None = None, /, **kwargs: Any) -> Self: ...
    def __new__(cls, url: str | Sequence[str] | None = None, /, **kwargs: Any) -> Cache:
        """A list of URLs makes a :class:`~twat_cache.tiers.TieredCache` (see docs/tiers.md)."""
        if cls is Cache and isinstance(url, (list, tuple)):
            from twat_cache.tiers import TieredCache

            return object.__new__(TieredCache)
        return object.__new__(cls)

    def __init__(
        self,
        url: str | Sequence[str] | None = None,
        /,
        *,
        config: CacheConfig | None = None,
        backend: Backend | AsyncBackend | None = None,
        name: str | None = None,
        **options: Unpack[CacheOptions],
    ) -> None:
        if config is None or url is not None or options:
            config = resolve_config(url, base=config, **options)  # type: ignore[arg-type]
        raw: Backend | AsyncBackend = backend if backend is not None else create_backend(config)
        self._raw = raw
        self.backend = as_sync(raw)
        self._abackend = None
        self._setup(config, capabilities_of(raw), name)
        if self.capabilities.reports_evictions:
            self.stats.engine = cast(ReportsEvictions, raw)
            self.stats.evictions = 0  # counted from now: a caller's engine may have evicted before
        self._limited: AsyncBackend | None = None
        if config.timeout is not None and self.capabilities.blocking:  # timeout=, on every engine
            self.backend = SyncTimeLimit(self.backend, config.timeout)
        # a cache dropped without close() (say, a decorated local function) releases its engine
        self._finalizer = weakref.finalize(self, _close_quietly, self.backend)
        if backend is not None:
            self._finalizer.detach()  # the caller's engine: theirs to close
        self._closed = False
        _live.add(self)
        self._publisher = (
            None if config.publish_stats is None else Publisher(self, config.publish_stats)
        )

    @property
    def async_backend(self) -> AsyncBackend:
        """The engine, as an :class:`~twat_cache.protocols.AsyncBackend`."""
        limited = self._limited
        if limited is not None:
            return limited
        twin = self._abackend
        if twin is None:
            twin = self._abackend = as_async(self._raw)
            if self.config.timeout is not None and self.capabilities.blocking:
                self._limited = AsyncTimeLimit(twin, self.config.timeout)
                return self._limited
        return twin

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __repr__(self) -> str:
        return f"<Cache {self.name!r} {type(self._raw).__name__}>"

    def __contains__(self, key: object) -> bool:
        return self.lookup(self._key(key)) is not MISSING

    def close(self) -> None:
        """Close the engine (idempotent)."""
        if not self._closed:
            self._closed = True
            self._finalizer.detach()
            if self._publisher is not None:
                self._publisher.stop()
            self.backend.close()
            twin = self._abackend
            if twin is not None and twin is not self._raw and not isinstance(twin, AsyncAdapter):
                run_blocking(twin.close())

    async def aclose(self) -> None:
        """Close the engine (idempotent)."""
        if not self._closed:
            self._closed = True
            self._finalizer.detach()
            if self._abackend is not None:
                await self._abackend.close()
            await asyncio.to_thread(self.backend.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


__getattr__ = module_getattr(__name__)  # the twat-cache 2.x names (twat_cache.legacy)
