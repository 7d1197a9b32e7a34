"""The behaviour suite: decorators and :class:`~twat_cache.Cache` give the same results everywhere.

Where the conformance kit checks an engine's storage contract, this suite checks
what a user sees through an engine, sync and async: which calls share an entry
(docs/keys.md), methods keyed by state, one-shot results refused, long keys,
exceptions never cached, ``None`` cached, invalidation, tags and expiry.
Subclass it with a ``cache_url`` fixture (see :mod:`twat_cache.testing`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from twat_cache.cache import Cache
from twat_cache.decorators import acache, ucache
from twat_cache.exceptions import CacheOperationError, SerializationError
from twat_cache.keys import MAX_KEY_LENGTH
from twat_cache.protocols import capabilities_of
from twat_cache.testing.clock import frozen_clock
from twat_cache.testing.entries import EntryBehaviour
from twat_cache.testing.refreshes import wait_for_refreshes

__all__ = ["CacheBehaviour"]

_DEADLINE = 10.0  # seconds an expiry may take before the suite calls it a failure


@dataclass(frozen=True)
class Point:
    """A frozen dataclass argument: keyed by its fields."""

    x: int
    y: int


class Account:
    """A class whose methods are cached: keyed by the instance's state."""

    def __init__(self, balance: int) -> None:
        self.balance = balance

    def interest(self, rate: int) -> int:
        return self.balance * rate


class Tagged:
    """A class keyed by ``__cache_key__`` (its ``noise`` is left out of the key)."""

    def __init__(self, ident: int, noise: int) -> None:
        self.ident, self.noise = ident, noise

    def __cache_key__(self) -> int:
        return self.ident


class Counter:
    """Counts calls of the functions under test."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)


def _strings(key: Any) -> list[str]:
    """The strings a key is made of (an in-process key may be a tuple)."""
    if isinstance(key, str):
        return [key]
    if isinstance(key, tuple):
        return [part for item in key for part in _strings(item)]
    return []


class Kit:
    """Makes caches and cached functions on the engine under test, each in a new namespace."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = "b" + uuid.uuid4().hex[:12]
        self.made: list[Cache] = []

    def cache(self, **options: Any) -> Cache:
        """A :class:`Cache` on the engine, in this test's namespace."""
        cache = Cache(self.url, namespace=self.namespace, **options)
        self.made.append(cache)
        return cache

    def cached(self, **options: Any) -> Callable[[Any], Any]:
        """``ucache`` on the engine, in this test's namespace."""

        def decorate(func: Any) -> Any:
            wrapped = ucache(self.url, namespace=self.namespace, **options)(func)
            self.made.append(wrapped.cache)
            return wrapped

        return decorate


class CacheBehaviour(EntryBehaviour):
    """What a user sees, on one engine; subclass with a ``cache_url`` fixture.

    ``ttl_resolution``: seconds of expiry granularity of the engine (memcached: 1);
    ``shared``: whether two cache objects on one URL see the same entries (default:
    the engine's ``capabilities.shared``).
    """

    ttl_resolution: float = 0.0
    shared: bool | None = None

    def shares(self, cache: Cache) -> bool:
        """Whether another cache object on the same URL and namespace sees ``cache``'s entries."""
        if self.shared is not None:
            return self.shared
        return capabilities_of(cache.backend).shared

    @pytest.fixture
    def cache_url(self) -> str:
        """Override: the URL of the engine under test."""
        raise NotImplementedError("subclass the suite and provide a cache_url fixture")

    @pytest.fixture
    def kit(self, cache_url: str) -> Iterator[Kit]:
        """Caches for one sync test; closed afterwards."""
        kit = Kit(cache_url)
        yield kit
        for cache in kit.made:
            cache.close()

    @pytest_asyncio.fixture
    async def akit(self, cache_url: str) -> AsyncIterator[Kit]:
        """Caches for one async test; closed from the test's own event loop."""
        kit = Kit(cache_url)
        yield kit
        for cache in kit.made:
            await cache.aclose()

    def short_ttl(self) -> float:
        """The ttl of expiry tests (at least ``ttl_resolution``)."""
        return max(0.5, self.ttl_resolution)

    # -- which calls share an entry ----------------------------------------------------
    def test_equal_arguments_share_one_entry(self, kit: Kit) -> None:
        """``f(1)``, ``f(True)``, ``f(1.0)`` are one call, as Python calls them equal."""
        seen = Counter()

        @kit.cached()
        def f(x: object) -> object:
            seen(x)
            return x

        first = f(1)
        assert (f(True), f(1.0), f([1][0])) == (1, 1, 1)
        assert all(type(r) is int for r in (first, f(True), f(1.0)))
        assert f([True, 2.0]) == f([1, 2]) == [True, 2.0]
        assert f(1.5) == 1.5
        assert seen.calls == [(1,), ([True, 2.0],), (1.5,)]

    def test_typed_keeps_types_apart(self, kit: Kit) -> None:
        """With ``typed=True`` each type is its own entry, inside containers too."""
        seen = Counter()

        @kit.cached(typed=True)
        def f(x: object) -> object:
            seen(x)
            return x

        results = [f(1), f(True), f(1.0), f([1]), f([True]), f(1), f(True), f(1.0)]
        assert [type(r) for r in results[:3]] == [int, bool, float]
        assert results[5:] == results[:3]
        assert type(results[6]) is bool
        assert len(seen.calls) == 5

    def test_keyword_default_and_positional_forms_share_one_entry(self, kit: Kit) -> None:
        """A call's spelling does not matter; its arguments' values do."""
        seen = Counter()

        @kit.cached(ttl=60)
        def describe(p: Point, tags: list[str], scale: int = 1) -> dict[str, object]:
            seen(p, tuple(tags), scale)
            return {"sum": (p.x + p.y) * scale, "tags": tags, "none": None}

        first = describe(Point(1, 2), ["a", "b"])
        assert first == {"sum": 3, "tags": ["a", "b"], "none": None}
        assert describe(Point(1, 2), ["a", "b"]) == first
        assert describe(Point(1, 2), tags=["a", "b"], scale=1) == first
        assert describe(p=Point(1, 2), tags=["a", "b"]) == first
        assert len(seen.calls) == 1
        assert describe(Point(1, 2), ["a", "b"], scale=2)["sum"] == 6
        assert describe(Point(2, 1), ["a", "b"])["sum"] == 3
        assert len(seen.calls) == 3

    def test_methods_are_keyed_by_the_instance_state(self, kit: Kit) -> None:
        """A mutated instance is a new key; equal instances share; ``__cache_key__`` wins."""
        seen = Counter()

        class Wallet:
            def __init__(self, balance: int) -> None:
                self.balance = balance

            @kit.cached()
            def interest(self, rate: int) -> int:
                seen("interest", self.balance, rate)
                return self.balance * rate

            @classmethod
            @kit.cached()
            def opened(cls, balance: int) -> int:
                seen("opened", balance)
                return balance

            @staticmethod
            @kit.cached()
            def fee(amount: int) -> int:
                seen("fee", amount)
                return amount // 10

        wallet = Wallet(100)
        assert wallet.interest(2) == 200
        assert Wallet(100).interest(2) == 200, "an equal instance shares the entry"
        wallet.balance = 50
        assert wallet.interest(2) == 100, "a mutated instance is not served its old result"
        assert wallet.interest.cache_key(2) == Wallet.interest.cache_key(Wallet(50), 2)
        assert wallet.interest.invalidate(2) is True
        assert Wallet.opened(5) == wallet.opened(5) == 5
        assert Wallet.fee(30) == wallet.fee(30) == 3
        assert seen.calls == [
            ("interest", 100, 2), ("interest", 50, 2), ("opened", 5), ("fee", 30)
        ]  # fmt: skip

        @kit.cached()
        def label(item: Tagged) -> str:
            seen(item.ident)
            return f"#{item.ident}"

        assert label(Tagged(1, noise=1)) == label(Tagged(1, noise=2)) == "#1"
        assert seen.calls[4:] == [(1,)]

    def test_functions_are_told_apart(self, kit: Kit) -> None:
        """Two lambdas, or a factory's functions over other values, never share entries."""
        cache = kit.cache()
        double = ucache(cache=cache)(lambda x: x * 2)
        triple = ucache(cache=cache)(lambda x: x * 3)
        assert (double(5), triple(5), double(5)) == (10, 15, 10)

        def make(factor: int) -> Callable[[int], int]:
            return lambda x: x * factor

        assert (ucache(cache=cache)(make(2))(5), ucache(cache=cache)(make(3))(5)) == (10, 15)

    # -- what is stored ----------------------------------------------------------------
    def test_none_is_cached_and_exceptions_never(self, kit: Kit) -> None:
        """A ``None`` result is an entry; a raised exception leaves none."""
        seen = Counter()

        @kit.cached()
        def maybe(x: int) -> int | None:
            seen(x)
            if x < 0:
                raise ValueError("negative")
            return None if x == 0 else x

        assert maybe(0) is None
        assert maybe(0) is None
        for _ in range(2):
            with pytest.raises(ValueError, match="negative"):
                maybe(-1)
        assert seen.calls == [(0,), (-1,), (-1,)]

    def test_one_shot_results_are_refused(self, kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
        """Generators and iterators raise SerializationError, or with ``warn`` run uncached."""

        @kit.cached()
        def numbers(n: int) -> Iterator[int]:
            yield from range(n)

        with pytest.raises(SerializationError):
            numbers(2)

        @kit.cached(on_serialization_error="warn")
        def lenient(n: int) -> Iterator[int]:
            return iter(range(n))

        with caplog.at_level(logging.WARNING, logger="twat_cache"):
            assert list(lenient(3)) == [0, 1, 2]
            assert list(lenient(3)) == [0, 1, 2], "a fresh iterator each call"
        assert "consumed only once" in caplog.text

    def test_long_keys_are_hashed(self, kit: Kit) -> None:
        """A key past MAX_KEY_LENGTH is stored under a short hashed stand-in."""
        cache = kit.cache()
        long_key = "report:" + "x" * 10_000_000
        cache.set(long_key, "a")
        cache.set(long_key + "y", "b")
        assert (cache.get(long_key), cache.get(long_key + "y")) == ("a", "b")
        assert cache.delete(long_key) is True
        assert cache.get(long_key) is None

        @kit.cached(key=lambda n: "n:" + "z" * 100_000 + str(n))
        def f(n: int) -> int:
            return n

        assert (f(1), f(2), f(1)) == (1, 2, 1)
        assert all(len(part) <= MAX_KEY_LENGTH for part in _strings(f.cache_key(1)))
        assert f.cache_info().hits == 1
        try:
            stored = list(cache.keys())
        except CacheOperationError:  # an engine that cannot list keys (memcached)
            stored = []
        assert all(len(p.encode()) <= MAX_KEY_LENGTH for k in stored for p in _strings(k))

    def test_invalidate_cache_key_and_cache_clear(self, kit: Kit) -> None:
        """``invalidate`` removes one call's entry, ``cache_clear`` every entry of the function."""
        seen = Counter()

        @kit.cached()
        def f(x: int, y: int = 0) -> int:
            seen(x, y)
            return x + y

        f(1), f(2)
        assert f.cache_key(1) == f.cache_key(1, y=0) != f.cache_key(2)
        assert f.invalidate(1) is True
        assert f.invalidate(1) is False
        f(1), f(2)
        assert len(seen.calls) == 3
        f.cache_clear()
        f(2)
        assert len(seen.calls) == 4
        info = f.cache_info()
        assert (info.hits, info.misses) == (0, 1), "cache_clear starts the counts over"

    def test_get_of_a_functions_key_is_its_result(self, kit: Kit) -> None:
        """``cache.get(f.cache_key(...))`` is the call's result, with ``stale_ttl=`` too.

        Such entries are stored with their freshness (a frame): ``get``, ``get_many``
        and ``get_or_set`` return the result alone, before, during and after a refresh.
        """
        started, release = threading.Event(), threading.Event()
        seen = Counter()

        @kit.cached(ttl=60, stale_ttl=600)
        def f(x: int) -> list[int]:
            seen(x)
            if len(seen.calls) > 1:  # the background refresh: held until the test lets it go
                started.set()
                assert release.wait(_DEADLINE)
            return [x, len(seen.calls)]

        cache, key = f.cache, f.cache_key(1)
        assert f(1) == [1, 1]
        assert cache.get(key) == [1, 1]
        with frozen_clock() as clock:
            clock.advance(61)  # stale now: the next call serves it and refreshes it
            assert f(1) == [1, 1]
            assert started.wait(_DEADLINE)
            assert cache.get(key) == [1, 1], "while the refresh runs"
            assert cache.get_many([key]) == {key: [1, 1]}
            assert cache.get_or_set(key, lambda: "computed") == [1, 1]
            release.set()
            wait_for_refreshes()
        assert cache.get(key) == [1, 2]
        assert cache.get_many([key, "absent"]) == {key: [1, 2]}

    def test_tags(self, kit: Kit) -> None:
        """Invalidating a tag turns its entries into misses, seen by every cache object."""
        writer = kit.cache()
        # on a shared engine a second cache object stands for another process
        reader = kit.cache() if self.shares(writer) else writer
        writer.set("user:1", {"name": "a"}, tags=["users"])
        writer.set("post:1", {"title": "t"}, tags=["posts"])
        assert reader.get("user:1") == {"name": "a"}
        reader.invalidate_tags("users")
        assert writer.get("user:1") is None
        assert writer.get("post:1") == {"title": "t"}
        seen = Counter()

        @kit.cached(tags=["users"])
        def user(uid: int) -> int:
            seen(uid)
            return uid

        user(1), user(1)
        user.cache.invalidate_tags("users")
        user(1)
        assert len(seen.calls) == 2

    def test_ttl_expiry(self, kit: Kit) -> None:
        """An entry lives ``ttl`` seconds, through ``Cache`` and through decorators."""
        cache = kit.cache()
        cache.set("short", 1, ttl=self.short_ttl())
        cache.set("forever", 2, ttl=None)
        seen = Counter()

        @kit.cached(ttl=self.short_ttl())
        def f(x: int) -> int:
            seen(x)
            return x

        f(1)
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while cache.get("short") is not None or len(seen.calls) < 2:
            assert time.monotonic() < deadline, "an entry outlived its ttl"
            time.sleep(0.1)
            f(1)  # a miss once the entry expired: the function runs again
        assert cache.get("forever") == 2

    def test_remaining_ttl(self, kit: Kit) -> None:
        """``Cache.ttl`` answers the seconds left, None without expiry, KeyError when absent.

        An engine that cannot tell (``reports_expiry=False``) raises CacheOperationError.
        """
        cache = kit.cache()
        cache.set("short", 1, ttl=60)
        cache.set("forever", 2, ttl=None)
        if not cache.capabilities.reports_expiry:
            with pytest.raises(CacheOperationError, match="expire"):
                cache.ttl("short")
            return
        slack = 2.0 + self.ttl_resolution  # memcached counts whole seconds and rounds up
        left = cache.ttl("short")
        assert left is not None
        assert 60 - slack <= left <= 60 + slack
        assert cache.ttl("forever") is None
        with pytest.raises(KeyError):
            cache.ttl("absent")
        long_key = "k" * (MAX_KEY_LENGTH * 4)  # hashed on its way to the engine, like get
        cache.set(long_key, 3, ttl=60)
        many = cache.ttl_many(["short", "forever", "absent", long_key])
        assert set(many) == {"short", "forever", long_key}
        assert many["forever"] is None

    def test_unserializable_values(self, kit: Kit) -> None:
        """On engines that serialize, a value that cannot be encoded raises and keeps the old."""
        cache = kit.cache()
        cache.set("k", "old")
        if cache.local:  # in-process engines keep objects as they are
            cache.set("k", lambda: None)
            assert callable(cache.get("k"))
            return
        with pytest.raises(SerializationError):
            cache.set("k", lambda: None)
        assert cache.get("k") == "old"

    def test_tampered_entry_is_a_miss(self, kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
        """An entry signed with another secret is a logged miss (engines that serialize)."""
        # test-only secrets, not credentials
        signed = kit.cache(secret="s3cret")  # noqa: S106  # nosec B106
        other = kit.cache(secret="another")  # noqa: S106  # nosec B106
        signed.set("k", {"v": 1})
        assert signed.get("k") == {"v": 1}
        if signed.local or not self.shares(signed):  # no other reader of these bytes
            return
        with caplog.at_level(logging.WARNING, logger="twat_cache"):
            assert other.get("k") is None
        assert "rejected" in caplog.text
        assert other.stats.corrupt == 1

    # -- async ---------------------------------------------------------------------------
    @pytest.mark.asyncio
    async def test_async_functions_and_methods(self, akit: Kit) -> None:
        """Coroutine functions follow the same rules: equal arguments, state, spelling."""
        seen = Counter()

        @akit.cached(ttl=60)
        async def fetch(user_id: object, verbose: bool = False) -> dict[str, object]:
            seen(user_id)
            await asyncio.sleep(0)
            return {"id": user_id}

        assert await fetch(7) == {"id": 7}
        assert await fetch(user_id=7.0) == {"id": 7}
        assert await fetch(7, verbose=False) == {"id": 7}
        assert len(seen.calls) == 1

        async def interest(self: Account, rate: int) -> int:
            seen(self.balance)
            return self.balance * rate

        cached = akit.cached()(interest)
        account = Account(10)
        assert await cached(account, 3) == 30
        account.balance = 20
        assert await cached(account, 3) == 60
        assert await cached(Account(20), 3) == 60
        assert len(seen.calls) == 3

    @pytest.mark.asyncio
    async def test_async_none_exceptions_and_one_shot(self, akit: Kit) -> None:
        """``None`` cached, exceptions never, generators refused: as in sync code."""
        seen = Counter()

        @akit.cached()
        async def maybe(x: int) -> int | None:
            seen(x)
            if x < 0:
                raise KeyError(x)
            return None

        assert await maybe(0) is None
        assert await maybe(0) is None
        for _ in range(2):
            with pytest.raises(KeyError):
                await maybe(-1)
        assert len(seen.calls) == 3

        @akit.cached()
        async def rows(n: int) -> Iterator[int]:
            return iter(range(n))

        with pytest.raises(SerializationError):
            await rows(2)

        def blocking(x: int) -> int:
            seen(x)
            return x * 2

        wrapped = acache(akit.url, namespace=akit.namespace)(blocking)
        akit.made.append(wrapped.cache)
        assert await wrapped(4) == await wrapped(4) == 8
        assert seen.calls[-1:] == [(4,)]
        assert len(seen.calls) == 4

    @pytest.mark.asyncio
    async def test_async_cache_methods(self, akit: Kit) -> None:
        """The async Cache methods: long keys, equal keys, tags and delete."""
        cache = akit.cache()
        long_key = "k" * (MAX_KEY_LENGTH * 10)
        await cache.aset(long_key, 1)
        await cache.aset(long_key + "!", 2)
        assert await cache.aget(long_key) == 1
        await cache.aset(("user", 1), "a")
        assert await cache.aget(("user", True)) == "a", "equal keys are one entry"
        await cache.aset("t", "v", tags=["grp"])
        await cache.ainvalidate_tags("grp")
        assert await cache.aget("t") is None
        assert await cache.adelete(long_key) is True
        assert await cache.aget(long_key) is None
        assert await cache.aget(long_key + "!") == 2
        if cache.capabilities.reports_expiry:
            await cache.aset("lasting", 1, ttl=60)
            assert 0 < (await cache.attl("lasting") or 0) <= 60 + 2 + self.ttl_resolution
            assert await cache.attl_many(["lasting", "absent"]) == {
                "lasting": pytest.approx(60, abs=3 + self.ttl_resolution)
            }
            with pytest.raises(KeyError):
                await cache.attl(long_key)
