"""twat-cache-memcached: the behaviour suite on a real server and a ring (from the harness)."""

from __future__ import annotations

from typing import Any

import pytest
from twat_cache.testing import CacheBehaviour


class TestServerBehaviour(CacheBehaviour):
    ttl_resolution = 1.0  # memcached expires in whole seconds

    @pytest.fixture
    def cache_url(self, memcached_server: Any) -> str:
        return str(memcached_server.url)


class TestRingBehaviour(CacheBehaviour):
    ttl_resolution = 1.0

    @pytest.fixture
    def cache_url(self, memcached_ring: Any) -> str:
        return str(memcached_ring.url)
