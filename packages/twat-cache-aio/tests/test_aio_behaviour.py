"""twat-cache-aio: the behaviour suite through aiocache's memory, Redis and memcached backends."""

from __future__ import annotations

from typing import Any

import pytest
from twat_cache.testing import CacheBehaviour


class TestAiocacheMemoryBehaviour(CacheBehaviour):
    shared = False  # each cache object has its own aiocache memory store

    @pytest.fixture
    def cache_url(self) -> str:
        return "aiocache+memory://"


class TestAiocacheRedisBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, redis_server: Any) -> str:
        return f"aiocache+redis://{redis_server.host}:{redis_server.port}/0"


class TestAiocacheMemcachedBehaviour(CacheBehaviour):
    ttl_resolution = 1.0  # memcached expires in whole seconds

    @pytest.fixture
    def cache_url(self, memcached_server: Any) -> str:
        return f"aiocache+memcached://{memcached_server.host}:{memcached_server.port}"
