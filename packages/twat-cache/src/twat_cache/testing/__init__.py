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
No test is skipped: where the engine does not declare an optional capability
(``reports_expiry``, ``reports_evictions``, ``compare_and_delete``,
``delete_wakeups``, or has no ``get_heads``), the test checks core's path
without it instead.

Class attributes tune the kit to what an engine honestly cannot do (each
documented in the engine's README):

* ``max_value_size``: the largest value the kit stores (default 10 MiB);
* ``ttl_resolution``: seconds of expiry granularity (memcached: 1).

The behaviour suite checks what a user sees through an engine -- decorators
and :class:`~twat_cache.Cache`, sync and async: which calls share an entry
(docs/keys.md), methods keyed by state, one-shot results refused, long keys,
exceptions, ``None``, invalidation, tags and expiry. It needs only the engine's
URL::

    from twat_cache.testing import CacheBehaviour

    class TestRedisBehaviour(CacheBehaviour):
        @pytest.fixture
        def cache_url(self, redis_server):
            return redis_server.url

``ttl_resolution`` tunes it as it does the kit.

The tier scenario (:class:`TierBehaviour`, docs/tiers.md) puts a near memory
tier over the engine and checks fills, writes through every tier, ``l1_ttl``
and that another process stops serving a deleted value; it takes the same
``cache_url`` fixture.

Helpers for a user's own test suite (docs/testing.md): :func:`frozen_clock`
drives the expiry of in-process engines without sleeping; :func:`fresh_cache`
(:func:`afresh_cache`) opens a cache in a namespace of its own and cleans it up,
:func:`cache_fixture` and :func:`async_cache_fixture` make fixtures of them;
:func:`wait_for_refreshes` and :func:`await_refreshes` wait for ``stale_ttl=``
background refreshes; :func:`wait_until` polls for what another thread or process
does (a message on an invalidation channel, a write) up to a generous deadline;
:mod:`twat_cache.testing.strategies` holds hypothesis strategies for keys, arguments
and values.

Requires pytest, pytest-asyncio and hypothesis (``pip install "twat-cache[testing]"``).
"""

import pytest

# the kit's asserts are plain asserts in an installed module: have pytest rewrite them
# (as it does for test files) so that a failing engine sees the values compared
pytest.register_assert_rewrite(
    "twat_cache.testing.conformance", "twat_cache.testing.behaviour", "twat_cache.testing.tiers"
)

from twat_cache.testing.behaviour import CacheBehaviour  # noqa: E402
from twat_cache.testing.clock import FrozenClock, frozen_clock  # noqa: E402
from twat_cache.testing.conformance import AsyncBackendConformance, BackendConformance  # noqa: E402
from twat_cache.testing.fixtures import (  # noqa: E402
    afresh_cache,
    async_cache_fixture,
    cache_fixture,
    fresh_cache,
)
from twat_cache.testing.polling import wait_until  # noqa: E402
from twat_cache.testing.refreshes import await_refreshes, wait_for_refreshes  # noqa: E402
from twat_cache.testing.tiers import TierBehaviour  # noqa: E402

__all__ = [
    "AsyncBackendConformance",
    "BackendConformance",
    "CacheBehaviour",
    "FrozenClock",
    "TierBehaviour",
    "afresh_cache",
    "async_cache_fixture",
    "await_refreshes",
    "cache_fixture",
    "fresh_cache",
    "frozen_clock",
    "wait_for_refreshes",
    "wait_until",
]
