"""twat_cache.testing's helpers for users' suites: clock, fixtures, waits, strategies."""

from __future__ import annotations

import asyncio
import copy
import importlib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import twat_cache_memory.backend
from hypothesis import HealthCheck, given, settings
from twat_cache import Cache, acache, ucache
from twat_cache.freshness import needs_refresh
from twat_cache.testing import (
    FrozenClock,
    afresh_cache,
    async_cache_fixture,
    await_refreshes,
    cache_fixture,
    fresh_cache,
    frozen_clock,
    wait_for_refreshes,
    wait_until,
)
from twat_cache.testing import clock as clock_module
from twat_cache.testing import strategies as cs

# every in-process engine the clock drives, with each policy of twat-cache-memory
CLOCKED = [
    "builtin://",
    "builtin://?policy=ttl",
    "builtin://?policy=fifo",
    *(f"memory://?policy={policy}" for policy in twat_cache_memory.backend.POLICIES),
    "sqlite://",
]
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _open(url: str, folder: Path, **options: Any) -> Cache:
    if url == "sqlite://":
        url = f"sqlite:///{folder / 'clock.sqlite3'}"
    return Cache(url, namespace="clock", **options)


# -- the frozen clock ---------------------------------------------------------------------
@pytest.mark.parametrize("url", CLOCKED)
def test_frozen_clock_drives_cache_ttl(url: str, folder: Path) -> None:
    with frozen_clock() as clock, _open(url, folder, ttl=60) as cache:
        cache.set("k", "v")
        cache.set("short", "v", ttl=5)
        clock.advance(59)
        assert cache.get("k") == "v"
        assert cache.get("short") is None
        clock.advance(2)
        assert cache.get("k") is None
        assert "k" not in list(cache.keys())


@pytest.mark.parametrize("url", CLOCKED)
def test_frozen_clock_drives_decorated_functions(url: str, folder: Path) -> None:
    calls: list[int] = []
    if url == "sqlite://":
        url = f"sqlite:///{folder / 'deco.sqlite3'}"
    with frozen_clock() as clock:

        @ucache(url, ttl=60)
        def square(x: int) -> int:
            calls.append(x)
            return x * x

        assert square(3) == 9
        clock.advance(30)
        assert square(3) == 9
        assert calls == [3]
        clock.advance(31)
        assert square(3) == 9
        assert calls == [3, 3]
        square.cache.close()


def test_frozen_clock_drives_touch_add_and_incr(folder: Path) -> None:
    for url in CLOCKED:
        with frozen_clock() as clock, _open(url, folder) as cache:
            cache.set("t", 1, ttl=10)
            assert cache.touch("t", ttl=100)
            cache.incr("t")
            clock.advance(50)
            assert cache.get("t") == 2, url
            assert not cache.add("t", 3, ttl=10)
            clock.advance(51)
            assert cache.add("t", 3, ttl=10), url
            cache.clear()


def test_clock_references_are_restored() -> None:
    modules = [
        (importlib.import_module(module), name, kind)
        for module, name, kind in clock_module.CLOCK_TARGETS
    ]
    assert {module.__name__ for module, _, _ in modules} >= {
        "twat_cache.engines.builtin",
        "twat_cache_memory.backend",
        "twat_cache_sqlite.backend",
        "twat_cache.freshness",
    }
    with frozen_clock() as clock:
        for module, name, kind in modules:
            assert getattr(module, name) == getattr(clock, kind), module.__name__
    for module, name, kind in modules:
        assert getattr(module, name) is getattr(time, kind), module.__name__


def test_frozen_clock_stands_still_and_moves_both_clocks() -> None:
    clock = FrozenClock()
    wall, mono = clock.time(), clock.monotonic()
    assert abs(wall - time.time()) < 3600
    assert mono <= time.monotonic()
    clock.advance(0)
    clock.advance(1.5)
    assert (clock.time() - wall, clock.monotonic() - mono) == (1.5, 1.5)
    with pytest.raises(ValueError, match="zero or more"):
        clock.advance(-1)
    assert "FrozenClock(monotonic=" in repr(clock)


def test_frozen_clock_installs_a_given_clock_and_refuses_nesting() -> None:
    mine = FrozenClock()
    with frozen_clock(mine) as clock:
        assert clock is mine
        with pytest.raises(RuntimeError, match="do not nest"), frozen_clock():
            pass  # pragma: no cover - never entered
    with frozen_clock():  # the refused block left nothing installed
        pass


def test_frozen_clock_skips_packages_that_are_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets = (*clock_module.CLOCK_TARGETS, ("twat_cache_not_installed.backend", "now", "time"))
    monkeypatch.setattr(clock_module, "CLOCK_TARGETS", targets)
    with frozen_clock() as clock, Cache("builtin://", ttl=1) as cache:
        cache.set("k", 1)
        clock.advance(2)
        assert cache.get("k") is None


def test_freshness_decisions_read_the_frozen_clock() -> None:
    with frozen_clock() as clock:
        fresh_until = clock.time() + 60
        assert not needs_refresh(fresh_until, 0.0, early=True)
        clock.advance(60)
        assert needs_refresh(fresh_until, 0.0, early=False)


# -- background refreshes -----------------------------------------------------------------
def test_stale_value_then_refreshed_value_without_sleeping() -> None:
    calls: list[int] = []
    with frozen_clock() as clock:

        @ucache("builtin://", ttl=60, stale_ttl=600)
        def version() -> int:
            calls.append(1)
            return len(calls)

        assert version() == 1
        clock.advance(61)
        assert version() == 1  # stale, served at once; a refresh starts
        wait_for_refreshes()
        assert version() == 2
        clock.advance(700)  # past ttl + stale_ttl: gone, computed in the call
        assert version() == 3
        version.cache.close()


def test_wait_for_refreshes_times_out_on_a_stuck_refresh() -> None:
    gate = threading.Event()
    calls: list[int] = []
    with frozen_clock() as clock:

        @ucache("builtin://", ttl=60, stale_ttl=600)
        def slow() -> int:
            calls.append(1)
            if len(calls) > 1:  # the refresh waits on the gate
                gate.wait(30)
            return len(calls)

        assert slow() == 1
        clock.advance(61)
        assert slow() == 1
        with pytest.raises(TimeoutError, match="still running"):
            wait_for_refreshes(timeout=0.01)
        gate.set()
        wait_for_refreshes()
        assert slow() == 2
        slow.cache.close()


async def test_await_refreshes_waits_for_tasks_and_threads() -> None:
    acalls: list[int] = []
    calls: list[int] = []
    gate = threading.Event()
    with frozen_clock() as clock:

        @acache("builtin://", ttl=60, stale_ttl=600)
        async def aversion() -> int:
            await asyncio.sleep(0)
            acalls.append(1)
            return len(acalls)

        @ucache("builtin://", ttl=60, stale_ttl=600)
        def version() -> int:
            calls.append(1)
            if len(calls) > 1:  # the refresh thread runs until the loop opens the gate
                gate.wait(30)
            return len(calls)

        assert (await aversion(), version()) == (1, 1)
        clock.advance(61)
        assert (await aversion(), version()) == (1, 1)
        asyncio.get_running_loop().call_soon(gate.set)
        await await_refreshes()
        assert (await aversion(), version()) == (2, 2)
        await aversion.cache.aclose()
        version.cache.close()


async def test_await_refreshes_times_out() -> None:
    gate = asyncio.Event()
    calls: list[int] = []
    with frozen_clock() as clock:

        @acache("builtin://", ttl=60, stale_ttl=600)
        async def slow() -> int:
            calls.append(1)
            if len(calls) > 1:
                await gate.wait()
            return len(calls)

        assert await slow() == 1
        clock.advance(61)
        assert await slow() == 1
        with pytest.raises(TimeoutError, match="still running"):
            await await_refreshes(timeout=0.01)
        gate.set()
        await await_refreshes()
        assert await slow() == 2
        await slow.cache.aclose()


# -- fixtures -----------------------------------------------------------------------------
SHARED = "sqlite:///:memory:"  # the process's shared in-memory database
shared_cache = cache_fixture(SHARED, ttl=60)
ashared_cache = async_cache_fixture(SHARED, ttl=60)


@pytest.fixture(autouse=True)
def keep_shared_database() -> Iterator[None]:
    """Keep the shared database alive between tests (it goes when its last engine closes)."""
    with Cache(SHARED, namespace="keeper"):
        yield


@pytest.mark.parametrize("run", [1, 2])
def test_cache_fixture_gives_each_test_a_fresh_cache(shared_cache: Cache, run: int) -> None:
    assert shared_cache.config.ttl == 60
    assert shared_cache.config.namespace.startswith("test-")
    assert shared_cache.get("k") is None  # the other run's entry is in another namespace
    shared_cache.set("k", run)


@pytest.mark.parametrize("run", [1, 2])
async def test_async_cache_fixture_gives_each_test_a_fresh_cache(
    ashared_cache: Cache, run: int
) -> None:
    assert await ashared_cache.aget("k") is None
    await ashared_cache.aset("k", run)
    assert await ashared_cache.aget("k") == run


def test_fresh_cache_clears_its_namespace_after_use() -> None:
    with fresh_cache(SHARED, namespace="named") as cache:
        cache.set("k", 1)
        with fresh_cache(SHARED) as other:
            assert other.config.namespace != cache.config.namespace
            other.close()  # closed by the test: teardown leaves it alone
    assert cache.closed
    with Cache(SHARED, namespace="named") as reader:
        assert reader.get("k") is None


async def test_afresh_cache_clears_its_namespace_after_use() -> None:
    async with afresh_cache(SHARED, namespace="anamed") as cache:
        await cache.aset("k", 1)
        async with afresh_cache(SHARED) as other:
            assert other.config.namespace != cache.config.namespace
            await other.aclose()  # closed by the test: teardown leaves it alone
    assert cache.closed
    with Cache(SHARED, namespace="anamed") as reader:
        assert reader.get("k") is None


# -- strategies ---------------------------------------------------------------------------
@PROPERTY
@given(cs.arguments())
def test_equal_arguments_share_an_entry(call: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    args, kwargs = call
    for url in ("builtin://", "coretest-bytes://"):
        calls: list[int] = []

        @ucache(url, namespace="strategies")
        def f(*args: Any, **kwargs: Any) -> int:
            calls.append(1)
            return len(calls)

        assert f(*args, **kwargs) == 1
        assert f(*copy.deepcopy(args), **copy.deepcopy(kwargs)) == 1, url
        f.cache.clear()
        f.cache.close()


@PROPERTY
@given(cs.cache_keys(), cs.picklable_values())
def test_picklable_values_read_back_equal(key: str, value: Any) -> None:
    for serializer in ("pickle", "json"):
        with Cache("coretest-bytes://", namespace="values", serializer=serializer) as cache:
            assert cache.set(key, value)
            assert cache.get(key) == value, serializer
            cache.clear()


@PROPERTY
@given(cs.json_values())
def test_json_values_read_back_equal_with_every_serializer(value: Any) -> None:
    for serializer in ("pickle", "json", "msgpack"):
        with Cache("coretest-bytes://", namespace="json", serializer=serializer) as cache:
            cache.set("k", value)
            assert cache.get("k") == value, serializer
            cache.clear()


def test_strategies_name_the_extra_when_hypothesis_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "twat_cache.testing.strategies")
    with pytest.raises(ImportError, match=r'pip install "twat-cache\[testing\]"'):
        importlib.import_module("twat_cache.testing.strategies")


def test_wait_until_sees_what_another_thread_does() -> None:
    with fresh_cache("memory://") as cache:
        writer = threading.Timer(0.05, cache.set, ("k", "v"))
        writer.start()
        try:
            assert wait_until(lambda: cache.get("k") == "v")
        finally:
            writer.join()


def test_wait_until_answers_false_when_the_condition_never_holds() -> None:
    calls: list[None] = []

    def never() -> bool:
        calls.append(None)
        return False

    assert wait_until(never, timeout=0.05, interval=0.01) is False
    assert len(calls) >= 2  # polled, then asked once more at the deadline
