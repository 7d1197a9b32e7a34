"""twat-cache-flask: a Flask-Caching backend over any twat-cache engine.

``CACHE_TYPE = "twat_cache_flask.TwatCache"`` with ``CACHE_TWAT_URL = "redis://..."``.
"""

from twat_cache_flask.backend import DEFAULT_NAMESPACE, TwatCache

__all__ = ["DEFAULT_NAMESPACE", "TwatCache"]
