"""Tiers (twat_cache.tiers): fills, writes through every tier, TTL caps, failures, coherence.

The shared tier here is an in-test byte engine whose namespace storage is shared
by every instance, with an in-process invalidation channel standing for Redis
pub/sub: two TieredCache objects on it behave as two processes would. The
engine packages run the same scenarios against real servers and processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

import pytest
from twat_cache import Cache, ucache
from twat_cache.engines.base import check_int64
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.protocols import Capabilities
from twat_cache.registry import register_engine
from twat_cache.serializers import encode_int
from twat_cache.testing import TierBehaviour, wait_until
from twat_cache.testing.tiers import READER_MODULE
from twat_cache.tiers import TieredCache


class _Subscription:
    def __init__(self, hub: _Hub) -> None:
        self.hub = hub
        self.inbox: queue.Queue[str | None] = queue.Queue()

    def receive(self, timeout: float) -> list[str]:
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        if message is None:
            raise ConnectionError("channel lost")
        return [message]

    def close(self) -> None:
        self.hub.subscribers.discard(self)


class _Hub:
    """An invalidation channel in process memory; ``down`` refuses subscriptions."""

    def __init__(self) -> None:
        self.subscribers: set[_Subscription] = set()
        self.down = False
        self.lock = threading.Lock()

    def publish(self, message: str) -> None:
        with self.lock:
            for subscriber in list(self.subscribers):
                subscriber.inbox.put(message)

    def subscribe(self) -> _Subscription:
        if self.down:
            raise ConnectionError("server down")
        subscription = _Subscription(self)
        with self.lock:
            self.subscribers.add(subscription)
        return subscription

    def close(self) -> None:
        """Nothing to close: the hub lives in process memory."""

    def drop_all(self) -> None:
        with self.lock:
            for subscriber in list(self.subscribers):
                subscriber.inbox.put(None)


class ChannelEngine(BuiltinMemoryBackend):
    """A "server": bytes shared by every instance of a namespace, with an invalidation channel."""

    stores_objects = False
    blocking = True
    capabilities = Capabilities(native_ttl=False, invalidation_channel=True)
    hubs: ClassVar[dict[str, _Hub]] = {}
    _stores: ClassVar[dict[str, OrderedDict[Any, tuple[Any, float | None]]]] = {}
    _locks: ClassVar[dict[str, threading.RLock]] = {}

    def __init__(self, namespace: str = "default", maxsize: int | None = None) -> None:
        super().__init__(namespace, maxsize)
        self._data = self._stores.setdefault(namespace, OrderedDict())
        self._lock = self._locks.setdefault(namespace, threading.RLock())

    def incr(self, key: Any, delta: int = 1) -> int:
        with self._lock:
            item = self._live(key, time.monotonic())
            if item is None:
                raise ValueError(key)
            value = check_int64(int(item[0]) + delta)
            self._data[key] = (encode_int(value), item[1])
            return value

    def invalidation_channel(self) -> _Hub:
        return self.hubs.setdefault(self.namespace, _Hub())


register_engine("coretest-channel", ChannelEngine)


@pytest.fixture
def folder(tmp_path: Path) -> str:
    return f"disk://{tmp_path}"


def test_a_list_of_urls_makes_tiers_and_a_lower_hit_fills_the_tiers_above(folder: str) -> None:
    with Cache(["memory://?maxsize=100", "memory://", folder], ttl=30) as cache:
        assert isinstance(cache, TieredCache)
        assert cache.set("k", {"a": 1}) is True
        assert [t.get("k") for t in cache.tiers] == [{"a": 1}] * 3
        cache.tiers[0].clear()
        cache.tiers[1].clear()
        assert cache.get("k") == {"a": 1}
        assert cache.tiers[0].get("k") == {"a": 1}
        assert cache.tiers[1].get("k") == {"a": 1}
        assert "k" in cache
        assert cache.tiers[0].config.maxsize == 100


def test_a_fill_of_an_in_process_tier_is_a_counted_write_none_included(folder: str) -> None:
    """A lower hit fills the near tier as ``set`` would: ``None`` cached, the write counted."""
    with TieredCache(["memory://", folder], ttl=30) as cache:
        near = cache.tiers[0]
        calls: list[int] = []

        @ucache(["memory://", folder], namespace=cache.config.namespace, ttl=30)
        def nothing(x: int) -> None:
            calls.append(x)

        assert nothing(1) is None
        tiers = nothing.cache
        assert isinstance(tiers, TieredCache)
        tiers.tiers[0].clear()
        sets = tiers.tiers[0].stats.sets
        assert nothing(1) is None  # a lower hit: the near tier filled with None
        assert tiers.tiers[0].stats.sets == sets + 1
        # stored as the marker of a cached None (a bare None would read as a miss)
        assert tiers.tiers[0].backend.get(nothing.cache_key(1)) is not None
        assert nothing(1) is None  # a near hit
        assert calls == [1]
        cache.set("k", 2)
        near.clear()
        hits = cache.stats.hits
        assert cache.get("k") == 2
        assert cache.stats.hits == hits + 1
        assert near.get("k") == 2


def test_a_corrupt_lower_entry_is_a_miss_and_fills_nothing(folder: str) -> None:
    with TieredCache(["memory://", folder], ttl=30) as cache:
        assert cache.set("k", {"a": 1}) is True
        lower = cache.tiers[-1]
        stored = lower.backend.get("k")
        assert isinstance(stored, bytes)
        lower.backend.set("k", stored[: lower._plain_size] + b"not a pickle")
        cache.tiers[0].clear()
        assert cache.get("k") is None
        assert lower.stats.corrupt == 1  # counted and logged by the full decode
        assert cache.tiers[0].get("k") is None


def test_deletes_clear_and_many_reach_every_tier(folder: str) -> None:
    with TieredCache(["memory://", folder], ttl=30) as cache:
        assert cache.set_many({"a": 1, "b": 2}) is True
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert cache.delete("a") is True
        assert [t.get("a") for t in cache.tiers] == [None, None]
        assert cache.delete_many(["b"]) == 1
        assert [t.get("b") for t in cache.tiers] == [None, None]
        cache.set("c", 3)
        assert sorted(cache.keys()) == ["c"]
        assert cache.clear() is True
        assert [t.get("c") for t in cache.tiers] == [None, None]


def test_add_incr_and_touch_keep_the_tiers_agreeing(folder: str) -> None:
    with TieredCache(["memory://", folder], ttl=30) as cache:
        assert cache.add("a", 1) is True
        assert cache.add("a", 2) is False
        assert cache.tiers[0].get("a") == 1
        assert cache.incr("a", 5) == 6
        assert cache.tiers[0].get("a") is None  # the stale near copy went
        assert cache.get("a") == 6
        assert cache.decr("a") == 5
        assert cache.touch("a", 60) is True
        assert cache.touch("missing") is False


def test_an_upper_copy_never_outlives_l1_ttl_nor_the_lowest_entry(folder: str) -> None:
    with TieredCache(["memory://", folder], ttl=30, l1_ttl=5) as cache:
        assert cache.tiers[0].config.ttl == 5
        assert cache.tiers[1].config.ttl == 30
    with TieredCache(["memory://", folder], ttl=0.3, l1_ttl=5) as short:
        assert short.tiers[0].config.ttl == 0.3
        short.set("k", 1, ttl=0.2)
        time.sleep(0.3)
        assert short.tiers[0].get("k") is None
        assert short.get("k") is None
    with TieredCache(["memory://", folder], ttl=30, l1_ttl=0.2) as capped:
        capped.set("k", 1)
        time.sleep(0.3)
        assert capped.tiers[0].get("k") is None  # the near copy expired first
        assert capped.get("k") == 1  # refilled from the lower tier


def test_tags_invalidate_every_tier_including_fills(folder: str) -> None:
    with TieredCache(["memory://", folder], ttl=30) as cache:
        cache.set("k", 1, tags=["users"])
        cache.tiers[0].clear()
        assert cache.get("k") == 1  # filled, with its tag
        cache.invalidate_tags("users")
        assert cache.get("k") is None
        assert [t.get("k") for t in cache.tiers] == [None, None]


def test_a_decorated_function_uses_the_tiers_sync_and_async(folder: str) -> None:
    runs: list[int] = []

    @ucache(["memory://", folder], ttl=30)
    def double(x: int) -> int:
        runs.append(x)
        return x * 2

    assert (double(2), double(2)) == (4, 4)
    assert runs == [2]
    assert isinstance(double.cache, TieredCache)
    double.cache.tiers[0].clear()
    assert double(2) == 4
    assert runs == [2]  # from the lower tier

    @ucache(["memory://", folder], ttl=30)
    async def triple(x: int) -> int:
        runs.append(x)
        return x * 3

    assert asyncio.run(triple(3)) == 9
    assert asyncio.run(triple(3)) == 9
    assert runs == [2, 3]
    double.cache.close()
    triple.cache.close()


def test_async_operations_go_through_every_tier(folder: str) -> None:
    async def main() -> None:
        async with TieredCache(["memory://", folder], ttl=30) as cache:
            assert await cache.aset("k", 1, tags=["t"]) is True
            assert await cache.aget("k") == 1
            assert await cache.aadd("n", 1) is True
            assert await cache.aincr("n") == 2
            assert await cache.aset_many({"a": 1}) is True
            assert await cache.aget_many(["a"]) == {"a": 1}
            assert await cache.atouch("a") is True
            assert [k async for k in cache.akeys()]
            await cache.ainvalidate_tags("t")
            assert await cache.aget("k") is None
            assert await cache.adelete("a") is True
            assert await cache.adelete_many(["n"]) == 1
            assert await cache.aclear() is True
            assert cache.tiers[0].get("a") is None

    asyncio.run(main())


def test_a_failing_lower_tier_leaves_the_upper_serving_and_misses_run(namespace: str) -> None:
    runs: list[int] = []

    @ucache(["memory://", "coretest-failing://"], namespace=namespace, ttl=30, retry_after=60)
    def f(x: int) -> int:
        runs.append(x)
        return x

    cache = f.cache
    assert isinstance(cache, TieredCache)
    lowest: Any = cache.tiers[-1]._raw
    lowest.down = False
    assert f(1) == 1
    lowest.down = True
    assert f(1) == 1
    assert runs == [1]  # the near copy still serves
    assert f(2) == 2
    assert f(2) == 2
    assert runs == [1, 2, 2]  # misses run, fail-open, uncached
    assert cache.set("y", 1) is False  # the truth did not take it...
    assert cache.tiers[0].get("y") is None  # ...so no tier above claims it
    assert cache.tiers[-1].stats.errors >= 1
    cache.close()


def test_a_failing_lower_tier_raises_under_strict(namespace: str) -> None:
    with TieredCache(
        ["memory://", "coretest-failing://"], namespace=namespace, strict=True
    ) as cache:
        with pytest.raises(BackendError):
            cache.get("k")


def test_tiers_refuse_a_bad_list() -> None:
    with pytest.raises(ConfigurationError):
        TieredCache([])
    with pytest.raises(ConfigurationError):
        TieredCache(["memory://"], backend=object())
    with pytest.raises(ConfigurationError):
        TieredCache(["memory://"], l1_ttl=0)


def test_another_cache_on_the_channel_drops_its_near_copy(namespace: str) -> None:
    urls = ["memory://", "coretest-channel://"]
    with (
        TieredCache(urls, namespace=namespace) as one,
        TieredCache(urls, namespace=namespace) as two,
    ):
        assert one.coherent
        assert two.coherent
        one.set("k", "old")
        assert two.get("k") == "old"
        assert two.tiers[0].get("k") == "old"
        one.set("k", "new")
        assert wait_until(lambda: two.tiers[0].get("k") is None)
        assert two.get("k") == "new"
        one.delete("k")
        assert wait_until(lambda: two.get("k") is None)
        two.set("t", 1, tags=["g"])
        assert one.get("t") == 1
        one.invalidate_tags("g")
        assert wait_until(lambda: two.tiers[0].get("t") is None)
        two.set("c", 1)
        one.clear()
        assert wait_until(lambda: two.tiers[0].get("c") is None)
        asyncio.run(one.adelete("nothing"))


def test_a_lost_channel_flushes_the_near_tier_and_bypasses_it_until_back(namespace: str) -> None:
    urls = ["memory://", "coretest-channel://"]
    hub = ChannelEngine.hubs.setdefault(namespace, _Hub())
    with TieredCache(urls, namespace=namespace) as cache:
        cache.set("k", 1)
        hub.down = True
        hub.drop_all()
        assert wait_until(lambda: not cache.coherent)
        assert cache.tiers[0].get("k") is None  # flushed
        assert cache.get("k") == 1  # served by the lowest tier, not refilled above
        assert cache.tiers[0].get("k") is None
        hub.down = False
        assert wait_until(lambda: cache.coherent)
        assert cache.get("k") == 1
        assert cache.tiers[0].get("k") == 1


def test_a_fill_racing_an_invalidation_drops_its_copy(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TieredCache(["memory://", "coretest-channel://"], namespace=namespace) as cache:
        cache.tiers[-1].set("k", "old")
        engine = cache.tiers[-1].async_backend
        real_get = engine.get

        async def get_then_invalidated(key: str) -> Any:
            raw = await real_get(key)
            cache._apply("someone-else|k|k")  # arrives while the old value is in flight
            return raw

        monkeypatch.setattr(engine, "get", get_then_invalidated)
        assert asyncio.run(cache.aget("k")) == "old"
        assert cache.tiers[0].get("k") is None


class TestDiskTiers(TierBehaviour):
    """The tier scenario over disk: no channel, so another process's near copy lasts l1_ttl."""

    @pytest.fixture
    def cache_url(self, tmp_path: Path) -> str:
        return f"disk://{tmp_path}"


def test_the_other_process_of_the_tier_scenario_starts_without_warnings(tmp_path: Path) -> None:
    """``python -m`` finds the reader module fresh: no runpy warning, even as an error."""
    import subprocess
    import sys

    import twat_cache.testing._reader as reader  # the same module, imported here as well

    assert callable(reader.serve)
    with Cache(f"disk://{tmp_path}", namespace="reader") as cache:
        cache.set("k", "v")
    url = f"disk://{tmp_path}"
    done = subprocess.run(  # noqa: S603 - this interpreter, no shell
        [sys.executable, "-W", "error", "-m", READER_MODULE, url, "reader", "null"],
        input="get k\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ['"ready"', '"v"']


@dataclasses.dataclass(frozen=True)
class Point:
    x: int


def test_the_typed_serializer_rebuilds_values_in_every_tier(folder: str) -> None:
    @ucache(["memory://", folder], serializer="typed")
    def point(x: int) -> Point:
        return Point(x)

    assert point(1) == Point(1)
    assert isinstance(point.cache, TieredCache)
    point.cache.tiers[0].clear()
    assert point(1) == Point(1)  # read from the disk tier as a Point, not a dict
    assert point.cache.tiers[0].get(point.cache_key(1)) == Point(1)
    assert point.cache.get(point.cache_key(1), type=Point) == Point(1)
    point.cache.close()
