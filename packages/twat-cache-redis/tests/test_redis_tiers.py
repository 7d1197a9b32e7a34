"""twat-cache-redis: tiers over a real server -- the tier scenario, channel loss, a dead server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from twat_cache import ucache
from twat_cache.testing import TierBehaviour, wait_until
from twat_cache.tiers import TieredCache
from twat_cache_redis import RedisBackend
from twat_cache_redis.channel import RedisChannel


class TestRedisTiers(TierBehaviour):
    @pytest.fixture
    def cache_url(self, redis_server: Any) -> str:
        return str(redis_server.url)


def test_the_engine_declares_its_channel(redis_server: Any) -> None:
    backend = RedisBackend.from_url(redis_server.url, namespace="app")
    assert backend.capabilities.invalidation_channel
    channel = backend.invalidation_channel()
    assert isinstance(channel, RedisChannel)
    assert channel.name == "twat_cache:invalidate:0:app"
    subscription = channel.subscribe()
    channel.publish("one")
    assert wait_until(lambda: subscription.receive(0.1) == ["one"])
    subscription.close()
    channel.close()
    channel.close()
    backend.close()


def test_a_restarted_server_flushes_the_near_tier_until_resubscribed(
    fresh_redis_server: Any,
) -> None:
    namespace = "t-" + uuid.uuid4().hex[:8]
    with TieredCache(["memory://", fresh_redis_server.url], namespace=namespace) as cache:
        assert cache.coherent
        cache.set("k", "old")
        assert cache.tiers[0].get("k") == "old"
        fresh_redis_server.restart()  # no persistence: the server comes back empty
        assert wait_until(lambda: cache.tiers[0].get("k") is None)
        assert wait_until(lambda: cache.coherent)
        assert cache.get("k") is None  # never the near copy of an entry the server lost


def test_a_dead_server_runs_the_function_fail_open(fresh_redis_server: Any) -> None:
    runs: list[int] = []
    namespace = "t-" + uuid.uuid4().hex[:8]

    @ucache(["memory://", fresh_redis_server.url], namespace=namespace, retry_after=60)
    def f(x: int) -> int:
        runs.append(x)
        return x

    assert f(1) == 1
    fresh_redis_server.kill()
    # the channel goes with the server: near copies can no longer be trusted, the
    # function runs (fail-open) instead of failing
    assert f(1) == 1
    assert f(2) == 2
    assert runs[-1] == 2
    f.cache.close()
