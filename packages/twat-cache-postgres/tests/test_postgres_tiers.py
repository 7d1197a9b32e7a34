"""twat-cache-postgres: tiers over a real server -- the tier scenario and channel loss."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from twat_cache.testing import TierBehaviour, wait_until
from twat_cache.tiers import TieredCache
from twat_cache_postgres import PostgresBackend
from twat_cache_postgres.channel import PostgresChannel


class TestPostgresTiers(TierBehaviour):
    @pytest.fixture
    def cache_url(self, postgres_server: Any) -> str:
        return str(postgres_server.url)


def test_the_engine_declares_its_channel(postgres_server: Any) -> None:
    backend = PostgresBackend(postgres_server.url, namespace="app")
    assert backend.capabilities.invalidation_channel
    channel = backend.invalidation_channel()
    assert isinstance(channel, PostgresChannel)
    assert len(channel.name) <= 63
    subscription = channel.subscribe()
    channel.publish("one")
    assert wait_until(lambda: subscription.receive(0.1) == ["one"])
    subscription.close()
    channel.close()
    backend.close()


def test_a_restarted_server_flushes_the_near_tier_until_listening_again(
    fresh_postgres_server: Any,
) -> None:
    namespace = "t-" + uuid.uuid4().hex[:8]
    with TieredCache(["memory://", fresh_postgres_server.url], namespace=namespace) as cache:
        assert cache.coherent
        cache.set("k", "old")
        assert cache.tiers[0].get("k") == "old"
        fresh_postgres_server.restart()
        assert wait_until(lambda: cache.tiers[0].get("k") is None)
        assert wait_until(lambda: cache.coherent)
        assert cache.get("k") == "old"  # the server kept it: refilled from below
        assert cache.tiers[0].get("k") == "old"


def test_a_publisher_whose_server_went_away_connects_again(fresh_postgres_server: Any) -> None:
    channel = PostgresBackend(fresh_postgres_server.url).invalidation_channel()
    channel.publish("before")
    fresh_postgres_server.kill()
    with pytest.raises(Exception):  # noqa: B017, PT011 - psycopg's own error for a dead server
        channel.publish("during")
    fresh_postgres_server.start()
    assert wait_until(lambda: _published(channel))
    channel.close()


def _published(channel: PostgresChannel) -> bool:
    try:
        channel.publish("after")
    except Exception:  # noqa: BLE001 - the server is still starting
        return False
    return True
