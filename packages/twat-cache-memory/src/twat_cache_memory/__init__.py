"""twat-cache-memory: the ``memory://`` engine, an in-process cache over cachetools."""

from twat_cache_memory.backend import DEFAULT_MAXSIZE, POLICIES, MemoryBackend

__all__ = ["DEFAULT_MAXSIZE", "POLICIES", "MemoryBackend"]
