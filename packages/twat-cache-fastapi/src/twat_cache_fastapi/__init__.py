"""twat-cache-fastapi: HTTP response caching for FastAPI and Starlette on any twat-cache engine.

``@responses.cached(ttl=60, tags=["items"])`` under a route decorator,
``dependencies=[Depends(responses.dependency(ttl=60))]`` on a route, or
``app.add_middleware(CacheMiddleware, cache="redis://...")`` for a whole app;
``Depends(get_cache)`` gives handlers the :class:`twat_cache.Cache` itself.
"""

from twat_cache_fastapi.dependency import CachedHit
from twat_cache_fastapi.http import DEFAULT_STATUSES, StoredResponse
from twat_cache_fastapi.middleware import CacheMiddleware
from twat_cache_fastapi.routes import DEFAULT_NAMESPACE, ResponseCache, get_cache

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_STATUSES",
    "CacheMiddleware",
    "CachedHit",
    "ResponseCache",
    "StoredResponse",
    "get_cache",
]
