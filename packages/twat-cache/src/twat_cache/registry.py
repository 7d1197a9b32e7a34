"""Finding engines: URL scheme -> engine class, through entry points.

Engines register in the ``twat_cache.engines`` entry-point group::

    [project.entry-points."twat_cache.engines"]
    redis = "twat_cache_redis:RedisBackend"

Core never imports an engine package by name; a third-party engine plugs in the
same way. ``memory`` falls back to the built-in engine when twat-cache-memory is
not installed.
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from twat_cache.config import CacheConfig
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.exceptions import ConfigurationError, EngineNotAvailableError

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_engines",
    "create_backend",
    "engine_class",
    "register_engine",
]

logger = logging.getLogger("twat_cache")

ENTRY_POINT_GROUP = "twat_cache.engines"

# scheme -> the meta package extra that provides it (for the error message only)
_EXTRAS = {
    "memory": "memory",
    "disk": "disk",
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "rediss+cluster": "redis",
    "unix": "redis",
    "memcached": "memcached",
    "postgresql": "postgres",
    "postgres": "postgres",
    "s3": "s3",
    "aiocache+memory": "aio",
    "aiocache+redis": "aio",
    "aiocache+memcached": "aio",
}
_BUILTIN: dict[str, type[Any]] = {"builtin": BuiltinMemoryBackend}
_registered: dict[str, type[Any]] = {}


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register_engine(scheme: str, engine: type[Any]) -> None:
    """Register ``engine`` for ``scheme`` at run time (tests, or code not installed as a package).

    A registered engine wins over an entry point of the same name.
    """
    _registered[scheme.lower()] = engine


def available_engines() -> list[str]:
    """Return the schemes an engine is installed for."""
    return sorted({*_BUILTIN, "memory", *_entry_points(), *_registered})


def engine_class(scheme: str) -> type[Any]:
    """Return the engine class registered for ``scheme``.

    Raises:
        EngineNotAvailableError: when the engine's package is not installed; the
            message says what to ``pip install``.
        ConfigurationError: when no engine is known by that name at all.
    """
    scheme = scheme.lower()
    if scheme in _registered:
        return _registered[scheme]
    entry = _entry_points().get(scheme)
    if entry is not None:
        try:
            return entry.load()  # type: ignore[no-any-return]
        except ImportError as exc:
            raise EngineNotAvailableError(
                f"the {scheme!r} engine failed to import ({exc}); reinstall its package"
            ) from exc
    if scheme in _BUILTIN:
        return _BUILTIN[scheme]
    if scheme == "memory":
        return BuiltinMemoryBackend
    if scheme in _EXTRAS:
        extra = _EXTRAS[scheme]
        raise EngineNotAvailableError(
            f'the {scheme!r} engine needs twat-cache-{extra}: pip install "twat-cache[{extra}]"'
        )
    raise ConfigurationError("url scheme", scheme, "one of " + ", ".join(available_engines()))


def create_backend(config: CacheConfig) -> Any:
    """Create (without connecting) the engine ``config`` asks for.

    Raises:
        ConfigurationError: for a bad URL or engine option.
        EngineNotAvailableError: when the engine's package is missing.
    """
    url = config.engine_url()
    cls = engine_class(url.scheme)
    backend = cls.from_config(config, url)
    logger.debug("created %s engine", url.scheme, extra={"engine": url.scheme, "url": url.redacted})
    return backend
