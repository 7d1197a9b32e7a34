"""stale_ttl= and early_refresh=True: stale values served at once, refreshed in the background."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable

import pytest
from twat_cache import Cache, ConfigurationError, freshness, ucache
from twat_cache.constants import LOCK_PREFIX
from twat_cache.pipeline import DEFAULT
from twat_cache.testing import wait_for_refreshes

URLS = ["builtin://", "coretest-bytes://"]


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the background refresh never happened"
        time.sleep(0.01)


@pytest.mark.parametrize("url", URLS)
def test_stale_value_served_while_one_refresh_runs(url: str, namespace: str) -> None:
    calls: list[int] = []
    gate = threading.Event()

    @ucache(url, namespace=namespace, ttl=0.2, stale_ttl=60)
    def version(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            gate.wait(10)  # the refresh is slow: callers must not wait for it
        return len(calls)

    assert version(1) == 1
    time.sleep(0.3)  # past ttl, inside stale_ttl
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(version(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [1] * 8  # the stale value, at once, to everyone
    assert len(calls) == 2  # one refresh for the key in this process
    gate.set()
    _eventually(lambda: version(1) == 2)
    assert len(calls) == 2


def test_fresh_value_is_not_refreshed(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=60, stale_ttl=60)
    def f(x: int) -> list[int]:
        calls.append(x)
        return [x]

    assert f(1) == [1]
    assert f(1) == [1]
    assert calls == [1]


def test_failing_refresh_keeps_the_stale_value(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=0.1, stale_ttl=60)
    def f() -> str:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("source down")
        return "old"

    assert f() == "old"
    time.sleep(0.2)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert f() == "old"
        _eventually(lambda: any("refreshing" in r.getMessage() for r in caplog.records))
    assert f() == "old"


@pytest.mark.parametrize("url", URLS)
def test_a_failed_refresh_is_tried_again_by_a_later_hit(
    url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace, ttl=0.1, stale_ttl=60)
    def f() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("source down")
        return len(calls)

    assert f() == 1
    time.sleep(0.2)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert f() == 1  # stale, served at once; its refresh fails
        _eventually(lambda: any("refreshing" in r.getMessage() for r in caplog.records))
    wait_for_refreshes()
    _eventually(lambda: f() == 3)  # the next stale hit refreshed it again
    assert len(calls) == 3


@pytest.mark.parametrize("url", ["builtin://", "coretest-abytes://"])
async def test_async_held_stale_value_and_its_refresh(url: str, namespace: str) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace, ttl=0.1, stale_ttl=60)
    async def f() -> int | None:
        calls.append(1)
        await asyncio.sleep(0.05)
        return None if len(calls) == 1 else len(calls)

    assert await f() is None
    await asyncio.sleep(0.2)
    assert await asyncio.gather(*(f() for _ in range(5))) == [None] * 5  # stale None, at once
    deadline = time.monotonic() + 10
    while await f() != 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert len(calls) == 2


def test_json_entries_keep_their_frame(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=0.1, stale_ttl=60, serializer="json")
    def f() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    assert f() == {"n": 1}
    time.sleep(0.2)
    assert f() == {"n": 1}
    _eventually(lambda: f() == {"n": 2})


def test_refresh_with_lock_skips_when_another_refreshes(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=0.1, stale_ttl=60, lock=True)
    def f() -> int:
        calls.append(1)
        return len(calls)

    assert f() == 1
    cache = f.cache
    key = f.cache_key()
    lock_key = cache._key(LOCK_PREFIX + str(key))
    assert cache.backend.add(lock_key, b"another-process", 30)
    time.sleep(0.2)
    assert f() == 1  # stale; the refresh finds the lock busy and leaves it to its holder
    time.sleep(0.1)
    assert calls == [1]
    cache.backend.delete(lock_key)
    assert f() == 1
    _eventually(lambda: f() == 2)  # now this process holds the lock and refreshes
    assert cache.backend.get(lock_key) is None


def test_a_lock_waiter_gets_the_value_another_process_stored(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=60, stale_ttl=60, lock=True)
    def f() -> dict[str, int]:
        calls.append(1)
        return {"mine": 1}

    cache = f.cache
    key = f.cache_key()
    lock_key = cache._key(LOCK_PREFIX + str(key))
    assert cache.backend.add(lock_key, b"another-process", 30)

    def other_process_stores() -> None:  # what the lock's holder does: a frame, then release
        time.sleep(0.2)
        cache.store(key, *freshness.entry(cache.config, {"theirs": 1}, 0.1))
        cache.backend.delete(lock_key)

    holder = threading.Thread(target=other_process_stores)
    holder.start()
    try:
        assert f() == {"theirs": 1}  # the value, never the stored frame
    finally:
        holder.join()
    assert calls == []
    assert f() == {"theirs": 1}


def test_early_refresh_refreshes_before_expiry(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, ttl=0.5, early_refresh=True)
    def f() -> int:
        calls.append(1)
        time.sleep(0.05)
        return len(calls)

    assert f() == 1
    monkeypatch.setattr(random, "random", lambda: 0.0)  # the least likely draw
    assert f() == 1
    assert calls == [1]
    monkeypatch.setattr(random, "random", lambda: 0.99999)  # a likely one
    assert f() == 1  # still fresh: served, while a refresh starts
    _eventually(lambda: f() == 2)


async def test_async_stale_value_refreshed_by_a_task(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-abytes://", namespace=namespace, ttl=0.1, stale_ttl=60)
    async def f() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    assert await f() == 1
    await asyncio.sleep(0.2)
    assert await asyncio.gather(*(f() for _ in range(5))) == [1] * 5
    deadline = time.monotonic() + 10
    while await f() != 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert len(calls) == 2


def test_frames() -> None:
    config = Cache("memory://", ttl=10, stale_ttl=5).config
    stored, ttl = freshness.entry(config, "v", 0.5)
    assert ttl == 15.0
    assert freshness.unwrap(stored)[2:] == (0.5, "v")  # type: ignore[index]
    assert freshness.unwrap(list(stored)) is not None  # as JSON and msgpack give it back
    assert freshness.entry(Cache("memory://", ttl=10).config, "v", 0.5) == ("v", DEFAULT)
    for value in ("v", (1, 2, 3, 4), ["__twat_fresh__", "x", 0, 1], None):
        assert freshness.unwrap(value) is None
    assert freshness.needs_refresh(time.time() - 1, 0.0, early=False)
    assert not freshness.needs_refresh(time.time() + 60, 1.0, early=False)
    assert not freshness.needs_refresh(time.time() + 60, 0.0, early=True)


def test_freshness_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="stale_ttl"):
        Cache("memory://", ttl=None, stale_ttl=5)
    with pytest.raises(ConfigurationError, match="stale_ttl"):
        Cache("memory://", ttl=5, stale_ttl=0)
    with pytest.raises(ConfigurationError, match="early_refresh"):
        Cache("memory://", ttl=None, early_refresh=True)
    with pytest.raises(ConfigurationError, match="early_refresh"):
        Cache("memory://", ttl=5, early_refresh="yes")  # type: ignore[arg-type]
    config = Cache("memory://?ttl=5&stale_ttl=30&early_refresh=true").config
    assert (config.stale_ttl, config.early_refresh) == (30.0, True)
    assert Cache("memory://?stale_ttl=none").config.stale_ttl is None
