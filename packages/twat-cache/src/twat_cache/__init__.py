"""twat-cache: one caching API for Python functions and objects, sync and async.

The storage is picked by a URL (``memory://``, ``disk:///path``, ``redis://...``)
and can change without touching the code::

    from twat_cache import ucache

    @ucache(ttl=60)
    def slow(x: int) -> int: ...
"""

from importlib.metadata import PackageNotFoundError, version

from twat_cache.cache import Cache
from twat_cache.config import CacheConfig, CacheOptions
from twat_cache.context import CacheContext, clear_cache, get_stats
from twat_cache.decorators import (
    AsyncCachedFunction,
    CachedFunction,
    CacheInfo,
    acache,
    bcache,
    fcache,
    mcache,
    ucache,
)
from twat_cache.entries import WarmReport
from twat_cache.exceptions import (
    BackendError,
    BackendUnavailableError,
    CacheKeyError,
    CacheOperationError,
    CacheValueError,
    ConcurrencyError,
    ConfigurationError,
    EngineError,
    EngineNotAvailableError,
    LockTimeoutError,
    NodeError,
    PathError,
    ResourceError,
    SerializationError,
    TwatCacheError,
)
from twat_cache.legacy_names import module_getattr
from twat_cache.observe import debug, debug_from_environment
from twat_cache.protocols import AsyncBackend, Backend, Capabilities

__getattr__ = module_getattr(__name__)  # the 2.x names: engine_context... (twat_cache.legacy)

try:
    __version__ = version("twat-cache")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AsyncBackend",
    "AsyncCachedFunction",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "Cache",
    "CacheConfig",
    "CacheContext",
    "CacheInfo",
    "CacheKeyError",
    "CacheOperationError",
    "CacheOptions",
    "CacheValueError",
    "CachedFunction",
    "Capabilities",
    "ConcurrencyError",
    "ConfigurationError",
    "EngineError",
    "EngineNotAvailableError",
    "LockTimeoutError",
    "NodeError",
    "PathError",
    "ResourceError",
    "SerializationError",
    "TwatCacheError",
    "WarmReport",
    "__version__",
    "acache",
    "bcache",
    "clear_cache",
    "debug",
    "fcache",
    "get_stats",
    "mcache",
    "ucache",
]

debug_from_environment()  # TWAT_CACHE_DEBUG=1: the readable handler (see twat_cache.observe)
