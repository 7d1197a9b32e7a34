"""A backend that is down never breaks the caller: fail-open, one warning, strict on request."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from twat_cache import BackendError, Cache, ucache
from twat_cache_harness import free_port


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "twat_cache" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("scheme", ["redis", "memcached"])
def test_server_not_running_at_decoration_time(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    url = f"{scheme}://127.0.0.1:{port}"
    calls = 0

    @ucache(url, retry_after=60)
    def double(x: int) -> int:
        nonlocal calls
        calls += 1
        return 2 * x

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [double(i) for i in range(5)] == [0, 2, 4, 6, 8]
        assert double(1) == 2
    assert calls == 6, "every call ran the function"
    assert len(_warnings(caplog)) == 1, "one warning while the breaker is open, not one per call"
    assert double.cache.stats.errors >= 1

    @ucache(url, strict=True)
    def strict_double(x: int) -> int:
        return 2 * x

    with pytest.raises(BackendError) as info:
        strict_double(1)
    assert f"127.0.0.1:{port}" in str(info.value) or f"127.0.0.1:{port}" in str(
        info.value.__cause__
    )


def test_redis_killed_between_calls_then_back(fresh_redis_server: Any) -> None:
    calls = 0

    @ucache(fresh_redis_server.url, retry_after=0.2)
    def square(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert calls == 1
    fresh_redis_server.kill()
    assert square(3) == 9, "fail-open: the function runs while the server is down"
    assert square(4) == 16
    fresh_redis_server.restart()
    deadline = time.monotonic() + 30
    while True:  # the breaker retries after retry_after; then entries are written again
        assert square(5) == 25
        if square.cache.backend.get(square.cache_key(5)) is not None:
            break
        assert time.monotonic() < deadline, "the cache did not come back after the server restarted"
        time.sleep(0.1)
    before = calls
    assert square(5) == 25
    assert calls == before, "served from the restarted server"


def test_memcached_ring_with_a_node_down(fresh_memcached_ring: Any) -> None:
    # a long retry_after: one dead node must not pause caching for the whole ring
    cache = Cache(fresh_memcached_ring.url, retry_after=300)
    values = {f"key-{i}": i for i in range(60)}
    cache.set_many(values)
    assert cache.get_many(values) == values
    fresh_memcached_ring.stop_node(0)
    deadline = time.monotonic() + 20
    while True:
        found = {k: cache.get(k) for k in values}
        hits = {k: v for k, v in found.items() if v is not None}
        assert all(values[k] == v for k, v in hits.items()), "a hit always returns the right value"
        if len(hits) >= len(values) // 3:
            break  # keys on the two live nodes keep hitting
        assert time.monotonic() < deadline, f"only {len(hits)} of {len(values)} keys still hit"
        time.sleep(0.2)
    assert len(hits) < len(values), "the stopped node's keys are misses"
    cache.close()
