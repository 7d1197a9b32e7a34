"""Cross-package fixtures: one URL per engine, each on a real server from the harness."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from twat_cache.cache import live_caches

# engines the cross-package tests run the same decorated code against
LOCAL = ["memory", "builtin"]
SHARED = ["disk", "redis", "redis-cluster", "memcached-ring"]


def make_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if name == "memory":
        return "memory://"
    if name == "builtin":
        return "builtin://"
    if name == "disk":
        return f"disk://{tmp_path / 'disk'}"
    fixture = {
        "redis": "redis_server",
        "redis-cluster": "redis_cluster",
        "memcached-ring": "memcached_ring",
    }[name]
    url: str = request.getfixturevalue(fixture).url
    return url


@pytest.fixture(params=LOCAL + SHARED)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for every engine; servers are started lazily by the harness fixtures."""
    return make_url(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for every engine that several processes can share."""
    return make_url(request.param, request, tmp_path)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses (servers are shared by the session)."""
    return "x" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _close_caches() -> Iterator[None]:
    """Close every cache a test opened (decorators included), so no socket leaks into the next test."""
    yield
    for cache in live_caches():
        cache.close()
