"""twat-cache engine for memcached: one server or a consistent-hashing ring (pymemcache)."""

from twat_cache_memcached.backend import MemcachedBackend
from twat_cache_memcached.protocol import DEFAULT_ITEM_SIZE_LIMIT, DEFAULT_PORT

__all__ = ["DEFAULT_ITEM_SIZE_LIMIT", "DEFAULT_PORT", "MemcachedBackend"]
