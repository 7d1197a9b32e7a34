"""Remaining lifetimes: ``Cache.ttl``/``ttl_many`` and the engines' ``expiries`` contract."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from twat_cache import Cache
from twat_cache.engines.base import BaseAsyncBackend, BaseBackend
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.exceptions import BackendError, CacheOperationError
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.registry import engine_class
from twat_cache.tiers import TieredCache

# conftest's test engines, by the schemes it registers them under (a BuiltinMemoryBackend)
BytesEngine: type[BuiltinMemoryBackend] = engine_class("coretest-bytes")
FailingEngine: Any = engine_class("coretest-failing")

_REPORTS = Capabilities(native_ttl=False, persistent=False, reports_expiry=True)


class OneByOne(BaseBackend):
    """An engine that answers one key's expiry at a time: ``expiries`` is derived from it."""

    capabilities = _REPORTS

    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self.inner = BytesEngine(namespace)
        self.asked: list[str] = []

    def get(self, key: Any) -> Any:
        return self.inner.get(key)

    def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        return self.inner.set(key, value, ttl)

    def expiry(self, key: Any) -> float | None:
        self.asked.append(key)
        found: dict[Any, float] = self.inner.expiries([key])
        return found.get(key)


class AsyncOneByOne(BaseAsyncBackend):
    """The async form: sync callers reach its derived ``expiries`` through SyncAdapter."""

    capabilities = replace(_REPORTS, native_async=True)

    def __init__(self, namespace: str = "default") -> None:
        super().__init__(namespace)
        self.inner = BytesEngine(namespace)

    async def get(self, key: Any) -> Any:
        return self.inner.get(key)

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        return self.inner.set(key, value, ttl)

    async def expiry(self, key: Any) -> float | None:
        found: dict[Any, float] = self.inner.expiries([key])
        return found.get(key)


class FailingReporter(FailingEngine):  # type: ignore[misc]
    """A server engine that reports expiries, while it is up."""

    capabilities = _REPORTS

    def expiries(self, keys: Any) -> dict[Any, float]:
        self._server()
        found: dict[Any, float] = super().expiries(keys)
        return found


def test_ttl_counts_down_and_none_never_expires() -> None:
    with Cache("memory://") as cache:
        cache.set("a", 1, ttl=60)
        cache.set("b", 2, ttl=None)
        first = cache.ttl("a")
        assert first is not None
        assert 59 < first <= 60
        time.sleep(0.05)
        later = cache.ttl("a")
        assert later is not None
        assert later < first, "the remaining lifetime shrinks"
        assert cache.ttl("b") is None
        cache.touch("b", 30)
        touched = cache.ttl("b")
        assert touched is not None
        assert 29 < touched <= 30
        with pytest.raises(KeyError):
            cache.ttl("absent")
        assert cache.ttl_many(["a", "absent"]) == {"a": pytest.approx(60, abs=1)}


def test_an_expired_entry_is_absent() -> None:
    with Cache("memory://") as cache:
        cache.set("a", 1, ttl=0.05)
        time.sleep(0.1)
        with pytest.raises(KeyError):
            cache.ttl("a")
        assert cache.ttl_many(["a"]) == {}


def test_an_engine_that_cannot_tell_says_so(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("a", 1, ttl=60)
        with pytest.raises(CacheOperationError, match="cannot tell when its entries expire"):
            cache.ttl("a")
        with pytest.raises(CacheOperationError):
            cache.ttl_many(["a"])


def test_expiries_derived_from_expiry_one_key_at_a_time(namespace: str) -> None:
    engine = OneByOne(namespace)
    before = time.time()
    engine.set("a", b"1", 60)
    engine.set("b", b"2", None)
    found = engine.expiries(["a", "b", "c"])
    assert engine.asked == ["a", "b", "c"]
    assert set(found) == {"a", "b"}
    assert found["b"] == NEVER_EXPIRES
    assert before + 59 < found["a"] <= time.time() + 60
    with Cache(backend=engine, namespace=namespace) as cache:
        assert asyncio.run(cache.attl_many(["a", "b"])) == {  # AsyncAdapter's worker thread
            "a": pytest.approx(60, abs=1),
            "b": None,
        }


def test_an_async_engine_reports_to_sync_callers(namespace: str) -> None:
    engine = AsyncOneByOne(namespace)
    with Cache(backend=engine, namespace=namespace) as cache:
        cache.set("a", 1, ttl=60)
        left = cache.ttl("a")  # SyncAdapter's private loop
        assert left is not None
        assert 59 < left <= 60
        with pytest.raises(KeyError):
            cache.ttl("absent")
    asyncio.run(engine.close())


def test_a_failing_engine_reads_as_absent_unless_strict(namespace: str) -> None:
    with Cache(backend=FailingReporter(namespace), namespace=namespace) as cache:
        with pytest.raises(KeyError):
            cache.ttl("a")
    with Cache(backend=FailingReporter(namespace), namespace=namespace, strict=True) as cache:
        with pytest.raises(BackendError):
            cache.ttl("a")
    engine = FailingReporter(namespace)
    engine.down = False
    with Cache(backend=engine, namespace=namespace, strict=True) as cache:
        cache.set("a", 1, ttl=60)
        assert cache.ttl("a") == pytest.approx(60, abs=1)


async def test_async_ttl() -> None:
    async with Cache("memory://") as cache:
        await cache.aset("a", 1, ttl=60)
        await cache.aset("b", 1, ttl=None)
        assert await cache.attl("a") == pytest.approx(60, abs=1)
        assert await cache.attl("b") is None
        with pytest.raises(KeyError):
            await cache.attl("absent")
        assert await cache.attl_many(["b", "absent"]) == {"b": None}


def test_a_tiered_cache_answers_for_its_lowest_tier(tmp_path: Path) -> None:
    with TieredCache(["memory://", f"disk://{tmp_path}"], ttl=60, l1_ttl=5) as cache:
        cache.set("a", 1)
        assert cache.get("a") == 1
        near = cache.tiers[0].ttl("a")
        assert near is not None
        assert near <= 5
        assert cache.ttl("a") == pytest.approx(60, abs=1)
        assert cache.ttl_many(["a", "absent"]) == {"a": pytest.approx(60, abs=1)}
        assert asyncio.run(cache.attl("a")) == pytest.approx(60, abs=1)
        assert asyncio.run(cache.attl_many(["a"])) == {"a": pytest.approx(60, abs=1)}


async def test_ttl_under_a_time_limit(tmp_path: Path) -> None:
    """``timeout=`` wraps the engine: the expiry read goes through the time limit too."""
    with Cache(f"disk://{tmp_path}", timeout=5) as cache:
        cache.set("a", 1, ttl=60)
        assert cache.ttl("a") == pytest.approx(60, abs=1)
        assert await cache.attl("a") == pytest.approx(60, abs=1)


async def test_server_version_through_adapters_and_time_limits(namespace: str) -> None:
    """Core's wrappers pass ``server_version`` on; an engine without one answers None."""
    from twat_cache.adapters import aserver_version_of, server_version_of

    with Cache("memory://", timeout=5) as cache:  # a time limit over the engine
        assert re.fullmatch(
            r"in-process \(\S+ \d+\.\d+\.\d+\)", server_version_of(cache.backend) or ""
        )
    with Cache(backend=AsyncOneByOne(namespace), namespace=namespace, timeout=5) as cache:
        assert server_version_of(cache.backend) is None  # SyncAdapter -> the base class's None
        assert await aserver_version_of(cache.async_backend) is None
    with Cache(backend=OneByOne(namespace), namespace=namespace, timeout=5) as cache:
        assert await aserver_version_of(cache.async_backend) is None  # AsyncAdapter
    assert server_version_of(object()) is None  # type: ignore[arg-type]
    assert await aserver_version_of(object()) is None  # type: ignore[arg-type]
