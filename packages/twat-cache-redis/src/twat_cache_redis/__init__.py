"""twat-cache engine for Redis and Redis Cluster: redis-py, sync and asyncio.

Installed, it serves the ``redis://``, ``rediss://``, ``unix://``,
``redis+cluster://`` and ``rediss+cluster://`` cache URLs.
"""

from twat_cache_redis._async.backend import AsyncRedisBackend
from twat_cache_redis.backend import RedisBackend
from twat_cache_redis.settings import RedisSettings

__all__ = ["AsyncRedisBackend", "RedisBackend", "RedisSettings"]
