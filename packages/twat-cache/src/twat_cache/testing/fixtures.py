"""A fresh, private cache per test: pytest fixtures and the context managers behind them.

::

    # conftest.py
    from twat_cache.testing import async_cache_fixture, cache_fixture

    cache = cache_fixture("memory://", ttl=60)
    acache = async_cache_fixture("redis://127.0.0.1:6379/0")

Each test gets a new :class:`~twat_cache.Cache` in a namespace of its own, so
tests sharing a server never see each other's entries; after the test, pending
background refreshes are waited for, the namespace is cleared and the engine closed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import pytest_asyncio

from twat_cache.cache import Cache
from twat_cache.testing.refreshes import await_refreshes, wait_for_refreshes

__all__ = ["afresh_cache", "async_cache_fixture", "cache_fixture", "fresh_cache"]


def _open(url: str, options: dict[str, Any]) -> Cache:
    options.setdefault("namespace", f"test-{uuid.uuid4().hex}")
    return Cache(url, **options)


@contextmanager
def fresh_cache(url: str = "memory://", **options: Any) -> Iterator[Cache]:
    """Open a cache in a namespace of its own; wait for refreshes, clear and close it after.

    Args:
        url: The engine URL.
        **options: Cache options (``ttl=``, ``serializer=`` ...); unless ``namespace``
            is given, the cache gets a unique one.

    Yields:
        The cache.

    Example:
        >>> with fresh_cache("memory://", ttl=60) as cache:
        ...     cache.set("k", 1)
        True
    """
    cache = _open(url, dict(options))
    try:
        yield cache
    finally:
        wait_for_refreshes()
        if not cache.closed:
            cache.clear()
            cache.close()


@asynccontextmanager
async def afresh_cache(url: str = "memory://", **options: Any) -> AsyncIterator[Cache]:
    """The async twin of :func:`fresh_cache`: awaits refreshes, then ``aclear()`` and ``aclose()``.

    Args:
        url: The engine URL.
        **options: Cache options; unless ``namespace`` is given, the cache gets a unique one.

    Yields:
        The cache.
    """
    cache = _open(url, dict(options))
    try:
        yield cache
    finally:
        await await_refreshes()
        if not cache.closed:
            await cache.aclear()
            await cache.aclose()


def cache_fixture(url: str = "memory://", *, scope: str = "function", **options: Any) -> Any:
    """Make a pytest fixture giving each test a :func:`fresh_cache`.

    Assign the result to the fixture's name in a test module or ``conftest.py``.

    Args:
        url: The engine URL.
        scope: The pytest scope of the fixture.
        **options: Cache options, as for :func:`fresh_cache`.

    Returns:
        The fixture.

    Example:
        >>> cache = cache_fixture("memory://", ttl=60)
    """

    def fixture() -> Iterator[Cache]:
        with fresh_cache(url, **options) as cache:
            yield cache

    return pytest.fixture(scope=scope)(fixture)  # type: ignore[call-overload]


def async_cache_fixture(url: str = "memory://", *, scope: str = "function", **options: Any) -> Any:
    """Make a pytest-asyncio fixture giving each async test an :func:`afresh_cache`.

    Set up and torn down on the test's event loop (of the fixture's scope).

    Args:
        url: The engine URL.
        scope: The pytest scope of the fixture and of its event loop.
        **options: Cache options, as for :func:`fresh_cache`.

    Returns:
        The fixture.
    """

    async def fixture() -> AsyncIterator[Cache]:
        async with afresh_cache(url, **options) as cache:
            yield cache

    return pytest_asyncio.fixture(scope=scope, loop_scope=scope)(fixture)  # type: ignore[call-overload]
