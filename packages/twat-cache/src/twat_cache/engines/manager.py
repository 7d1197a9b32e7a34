"""The twat-cache 2.x engine manager, kept for the 3.x line (gone in 4.0).

3.x finds engines by URL scheme (:mod:`twat_cache.registry`); this module answers the 2.x
questions in 2.x engine names (``diskcache``, ``cachetools``...), which ``engine_name=`` and
``preferred_engine=`` still accept (see :data:`twat_cache.legacy.ENGINE_ALIASES`).
"""

from __future__ import annotations

from twat_cache.legacy import ENGINE_ALIASES, deprecated
from twat_cache.registry import available_engines

__all__ = ["CacheEngineManager", "get_engine_manager"]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0]


class CacheEngineManager:
    """The 2.x engine names: all of them, and those this environment can serve."""

    @classmethod
    def list_engines(cls) -> list[str]:
        """Return every 2.x engine name 3.x understands (2.x: the registered engines)."""
        deprecated("CacheEngineManager.list_engines()", "twat_cache.registry.available_engines()")
        return sorted(ENGINE_ALIASES)

    @classmethod
    def get_available_engines(cls) -> list[str]:
        """Return the 2.x engine names whose 3.x engine is installed here."""
        deprecated(
            "CacheEngineManager.get_available_engines()", "twat_cache.registry.available_engines()"
        )
        schemes = set(available_engines())
        return sorted(name for name, url in ENGINE_ALIASES.items() if _scheme(url) in schemes)


def get_engine_manager() -> CacheEngineManager:
    """Return the engine manager (2.x; write ``twat_cache.registry.available_engines()``)."""
    deprecated("get_engine_manager()", "twat_cache.registry.available_engines()")
    return CacheEngineManager()
