"""The behaviour suite (twat_cache.testing.CacheBehaviour) on core's own engines.

The built-in in-process engine, and the test-only byte engines standing for a
server: a blocking one and a native async one (see conftest.py).
"""

from __future__ import annotations

import pytest
from twat_cache.testing import CacheBehaviour


class TestBuiltinBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self) -> str:
        return "builtin://"


class TestBytesEngineBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self) -> str:
        return "coretest-bytes://"


class TestAsyncBytesEngineBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self) -> str:
        return "coretest-abytes://"
