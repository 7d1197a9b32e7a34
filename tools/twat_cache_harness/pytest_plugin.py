"""pytest fixtures that start real servers on loopback ports, lazily, once per session.

Register with ``pytest_plugins = ["twat_cache_harness.pytest_plugin"]`` in the root conftest.
A server that cannot be started fails the test with what to install; it is never skipped.

Every coroutine test is also watched for what asyncio reports only in its log (never as
an exception): a task destroyed while pending, a coroutine never awaited, an unclosed
transport or event loop. Any of these fails the test (the warnings themselves are already
errors under the workspace's ``filterwarnings = ["error"]``).
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Iterator
from typing import Protocol, TypeVar

import pytest

from .errors import HarnessError
from .servers import (
    MemcachedRing,
    MemcachedServer,
    MotoServer,
    PostgresServer,
    RedisCluster,
    RedisServer,
)

# what asyncio logs (at ERROR, through loop.call_exception_handler) when async code leaks
ASYNCIO_LEAKS = ("Task was destroyed but it is pending", "was never awaited", "nclosed ")


class AsyncioLeaks(logging.Handler):
    """Collects the asyncio log records that say some async code leaked."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(sign in message for sign in ASYNCIO_LEAKS):
            self.found.append(message.splitlines()[0])


@pytest.fixture(autouse=True)
def _no_asyncio_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a coroutine test after which asyncio logs a leak (see the module docstring)."""
    if not inspect.iscoroutinefunction(getattr(request, "function", None)):
        yield
        return
    handler = AsyncioLeaks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()  # a dropped task or coroutine reports itself when it is collected
    finally:
        logger.removeHandler(handler)
    if handler.found:
        pytest.fail("asyncio reported a leak: " + "; ".join(handler.found), pytrace=False)


class _Lifecycle(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


_T = TypeVar("_T", bound=_Lifecycle)


def _serve(server: _T, what: str) -> Iterator[_T]:
    try:
        server.start()
    except HarnessError as exc:
        server.stop()
        reason = str(exc)
    else:
        reason = ""
    if reason:  # failed outside the except block: no "during handling" chain in the report
        pytest.fail(f"twat-cache test harness could not start {what}: {reason}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the session; tests that kill or restart use fresh_redis_server."""
    yield from _serve(RedisServer(), "redis-server")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster shared by the session."""
    yield from _serve(RedisCluster(), "a Redis Cluster")


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[MemcachedServer]:
    """A memcached shared by the session."""
    yield from _serve(MemcachedServer(), "memcached")


@pytest.fixture(scope="session")
def memcached_ring() -> Iterator[MemcachedRing]:
    """Three memcached servers shared by the session; stopping nodes needs fresh_memcached_ring."""
    yield from _serve(MemcachedRing(), "a memcached ring")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server with database ``twat_cache_test``, shared by the session."""
    yield from _serve(PostgresServer(), "PostgreSQL")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's server (S3 endpoint at ``moto_server.endpoint_url``), shared by the session."""
    yield from _serve(MotoServer(), "moto's S3 server")


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A private redis-server for one test, which may kill() and restart() it."""
    yield from _serve(RedisServer(), "redis-server")


@pytest.fixture
def fresh_redis_cluster() -> Iterator[RedisCluster]:
    """A private 3-master Redis Cluster for one test (nodes may be killed and restarted)."""
    yield from _serve(RedisCluster(), "a Redis Cluster")


@pytest.fixture
def fresh_memcached_ring() -> Iterator[MemcachedRing]:
    """A private memcached ring for one test, which may stop_node()/start_node()."""
    yield from _serve(MemcachedRing(), "a memcached ring")


@pytest.fixture
def fresh_postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for one test, which may kill() and restart() it."""
    yield from _serve(PostgresServer(), "PostgreSQL")


@pytest.fixture
def fresh_moto_server() -> Iterator[MotoServer]:
    """A private moto server for one test, which may kill() and restart() it."""
    yield from _serve(MotoServer(), "moto's S3 server")
