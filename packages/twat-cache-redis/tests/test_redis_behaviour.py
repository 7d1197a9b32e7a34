"""twat-cache-redis: the behaviour suite on a real server and Cluster (from the harness)."""

from __future__ import annotations

from typing import Any

import pytest
from twat_cache.testing import CacheBehaviour


class TestStandaloneBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, redis_server: Any) -> str:
        return str(redis_server.url)


class TestClusterBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, redis_cluster: Any) -> str:
        return str(redis_cluster.url)
