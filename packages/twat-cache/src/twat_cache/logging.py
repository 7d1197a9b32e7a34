"""twat-cache 2.x's loguru logger lived here; 3.x logs through the standard ``logging`` module.

Importing this module fails with what to write instead: twat-cache 3.x logs under the
``twat_cache`` logger of the standard library and adds no handler unless asked, so an
application turns it on with ``logging.getLogger("twat_cache").setLevel(logging.DEBUG)``
(and a handler, e.g. ``logging.basicConfig()``), or calls ``twat_cache.debug()`` (or sets
``TWAT_CACHE_DEBUG=1``, as with 2.x), which adds a readable handler.
"""

raise ImportError(
    "twat_cache.logging (the loguru logger of twat-cache 2.x) was removed in 3.0: twat-cache "
    "logs through the standard logging module; write "
    'logging.getLogger("twat_cache").setLevel(logging.DEBUG), or call twat_cache.debug() '
    "(or set TWAT_CACHE_DEBUG=1) for a handler that shows the records (see docs/observing.md)"
)
