"""twat-cache-sqlite: the behaviour suite (twat_cache.testing.CacheBehaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest
from twat_cache.testing import CacheBehaviour


class TestSqliteBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'cache.db'}"
