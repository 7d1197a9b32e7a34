"""twat-cache engine over aiocache's memory, Redis and Memcached backends."""

from twat_cache_aio.backend import SCHEMES, AiocacheBackend

__all__ = ["SCHEMES", "AiocacheBackend"]
