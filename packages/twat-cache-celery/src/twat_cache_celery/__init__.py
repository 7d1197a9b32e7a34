"""twat-cache-celery: a Celery result backend over any twat-cache engine.

``result_backend = "twat+redis://127.0.0.1:6379/0"`` (any twat-cache URL after ``twat+``).
"""

from twat_cache_celery.backend import DEFAULT_NAMESPACE, SCHEME, TwatBackend

__all__ = ["DEFAULT_NAMESPACE", "SCHEME", "TwatBackend"]
