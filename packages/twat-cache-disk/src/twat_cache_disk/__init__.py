"""twat-cache-disk: the ``disk://`` engine, a persistent multi-process cache on diskcache."""

from twat_cache.paths import default_folder

from twat_cache_disk.backend import (
    DEFAULT_MIN_FILE_SIZE,
    DEFAULT_SIZE_LIMIT,
    DEFAULT_TIMEOUT,
    EVICTION_POLICIES,
    DiskBackend,
)

__all__ = [
    "DEFAULT_MIN_FILE_SIZE",
    "DEFAULT_SIZE_LIMIT",
    "DEFAULT_TIMEOUT",
    "EVICTION_POLICIES",
    "DiskBackend",
    "default_folder",
]
