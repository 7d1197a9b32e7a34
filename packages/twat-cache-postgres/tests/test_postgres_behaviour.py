"""twat-cache-postgres: the behaviour suite on a real server (from the harness)."""

from __future__ import annotations

from typing import Any

import pytest
from twat_cache.testing import CacheBehaviour


class TestPostgresBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, postgres_server: Any) -> str:
        return str(postgres_server.url)
