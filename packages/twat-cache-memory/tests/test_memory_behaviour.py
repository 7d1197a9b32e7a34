"""twat-cache-memory: the behaviour suite (twat_cache.testing.CacheBehaviour)."""

from __future__ import annotations

import pytest
from twat_cache.testing import CacheBehaviour


class TestMemoryBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self) -> str:
        return "memory://"
