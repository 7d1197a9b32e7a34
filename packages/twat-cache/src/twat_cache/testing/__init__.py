"""The conformance kit: one set of tests every engine passes, sync and async.

An engine package runs it with a few lines in its own tests::

    import pytest
    from twat_cache.testing import AsyncBackendConformance, BackendConformance
    from twat_cache_redis import RedisBackend

    class _Redis:
        @pytest.fixture
        def make_backend(self, redis_server):
            def make(namespace: str) -> RedisBackend:
                return RedisBackend.from_url(redis_server.url, namespace=namespace)
            return make

    class TestRedisConformance(_Redis, BackendConformance): ...
    class TestRedisAsyncConformance(_Redis, AsyncBackendConformance): ...

``make_backend(namespace)`` returns a new, empty engine (sync or async) for the
namespace; the kit closes everything it makes.

The kit reads the engine's declared :class:`~twat_cache.protocols.Capabilities`
and checks that it keeps each promise: ``lists_keys=False`` means ``keys()``
raises :class:`~twat_cache.exceptions.CacheOperationError`; ``atomic_add`` and
``atomic_incr`` hold under racing threads (and tasks); ``stores_objects`` says
whether values come back as objects or bytes; a key of ``max_key_length`` bytes
works. It also pins the error types of ``incr``: a missing key raises
``ValueError``, a value that is not an integer ``TypeError``, and a result
outside the signed 64-bit range ``OverflowError`` with the value unchanged.

Class attributes tune the kit to what an engine honestly cannot do (each
documented in the engine's README):

* ``max_value_size``: the largest value the kit stores (default 10 MiB);
* ``ttl_resolution``: seconds of expiry granularity (memcached: 1).

Requires pytest and pytest-asyncio (``pip install "twat-cache[testing]"``).
"""

import pytest

# the kit's asserts are plain asserts in an installed module: have pytest rewrite them
# (as it does for test files) so that a failing engine sees the values compared
pytest.register_assert_rewrite("twat_cache.testing.conformance")

from twat_cache.testing.conformance import AsyncBackendConformance, BackendConformance  # noqa: E402

__all__ = ["AsyncBackendConformance", "BackendConformance"]
