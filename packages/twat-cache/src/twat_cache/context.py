"""Scoped caches and process-wide helpers: ``CacheContext``, ``clear_cache``, ``get_stats``."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from twat_cache import legacy
from twat_cache.cache import Cache, live_caches
from twat_cache.config import CacheOptions
from twat_cache.legacy import engine_context, get_or_create_engine
from twat_cache.stats import CacheStats

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - 3.10
    from typing_extensions import Unpack

__all__ = ["CacheContext", "clear_cache", "engine_context", "get_or_create_engine", "get_stats"]


class CacheContext:
    """A cache that lives for a ``with`` (or ``async with``) block and is closed after.

    Args:
        url: Where entries live (see :class:`~twat_cache.Cache`).
        **options: Any :class:`~twat_cache.config.CacheOptions`.

    Example:
        >>> with CacheContext("memory://", ttl=5) as cache:
        ...     cache.set("k", 1)
        ...     cache.get("k")
        True
        1
    """

    def __init__(self, url: str | None = None, /, **options: Unpack[CacheOptions]) -> None:
        self._cache: Cache | None = None
        if options.keys() & legacy.KEYWORDS:  # engine_name=, config=, folder_name= of 2.x
            url, options = legacy.translate_options(url, dict(options), "CacheContext")  # type: ignore[assignment]
        self._url = url
        self._options = options
        # fail at construction, like a decorator, for a bad URL or option
        from twat_cache.config import resolve_config

        self._config = resolve_config(url, **options)

    def _open(self) -> Cache:
        self._cache = Cache(config=self._config)
        return self._cache

    def __enter__(self) -> Cache:
        return self._open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cache is not None:
            self._cache.close()

    async def __aenter__(self) -> Cache:
        return self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cache is not None:
            await self._cache.aclose()


def clear_cache(name: str | None = None) -> int:
    """Clear every open cache of this process (or only the one called ``name``).

    Each cache clears only its own namespace. Returns how many caches were cleared.
    """
    cleared = 0
    for cache in live_caches():
        if name is None or cache.name == name:
            cache.clear()
            cache.stats.reset()
            cleared += 1
    return cleared


def get_stats(name: str | None = None) -> dict[str, Any]:
    """Return the figures of every open cache by name, and their ``total``.

    Each entry is :meth:`CacheStats.as_dict <twat_cache.stats.CacheStats.as_dict>`:
    counters, hit ratio, time saved, latency percentiles and bytes.

    Args:
        name: Return only the figures of the caches called ``name`` (summed); a
            decorated function's cache is called ``module.qualname``, and its plain
            function name is accepted too. Zeros when no such cache is open.

    Example:
        >>> stats = get_stats()
        >>> sorted(stats["total"])[:3]
        ['bytes_read', 'bytes_written', 'compute_count']
    """
    caches = live_caches()
    if name is not None:
        chosen = [c.stats for c in caches if c.name == name or c.name.endswith("." + name)]
        return CacheStats.combined(chosen).as_dict()
    by_name: dict[str, list[CacheStats]] = {}
    for cache in caches:
        by_name.setdefault(cache.name, []).append(cache.stats)
    result: dict[str, Any] = {n: CacheStats.combined(s).as_dict() for n, s in by_name.items()}
    result["total"] = CacheStats.combined(c.stats for c in caches).as_dict()
    return result
