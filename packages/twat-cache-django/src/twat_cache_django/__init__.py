"""twat-cache-django: a Django cache backend over any twat-cache engine.

``CACHES = {"default": {"BACKEND": "twat_cache_django.TwatCache", "LOCATION": "redis://..."}}``
"""

from twat_cache_django.backend import (
    DEFAULT_NAMESPACE,
    TwatCache,
    close_shared_caches,
    shared_cache,
)

__all__ = ["DEFAULT_NAMESPACE", "TwatCache", "close_shared_caches", "shared_cache"]
