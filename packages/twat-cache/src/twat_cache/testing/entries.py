"""The behaviour suite's part about entries: computed tags, batch functions, warming.

:class:`~twat_cache.testing.behaviour.CacheBehaviour` inherits these tests, so every
engine runs them, sync and async. Round trips are counted by :class:`RoundTrips`,
a counting wrapper around the cache's engine (never by timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from twat_cache._async.entries import KEYS_CHUNK
from twat_cache.exceptions import CacheKeyError, CacheOperationError
from twat_cache.locking import uses_lock

if TYPE_CHECKING:
    from twat_cache.cache import Cache
    from twat_cache.testing.behaviour import Kit

__all__ = ["EntryBehaviour", "RoundTrips"]


class _Counting:
    """An engine (sync or async) whose reads are counted; everything else passes through."""

    def __init__(self, inner: Any, trips: RoundTrips) -> None:
        self._inner = inner
        self._trips = trips

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in ("get", "get_many"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._trips.reads += 1
            return attribute(*args, **kwargs)

        return counted


class RoundTrips:
    """Counts the engine reads (``get``/``get_many`` calls) a cache makes while active.

    Example:
        >>> from twat_cache import Cache
        >>> cache = Cache("memory://")
        >>> with RoundTrips.of(cache) as trips:
        ...     _ = cache.get_many(["a", "b"])
        >>> trips.reads
        1
    """

    def __init__(self) -> None:
        self.reads = 0

    @classmethod
    @contextlib.contextmanager
    def of(cls, cache: Cache) -> Iterator[RoundTrips]:
        """Count the reads of ``cache`` inside the ``with`` block."""
        trips = cls()
        sync, twin = cache.backend, cache.async_backend
        cache.backend = _Counting(sync, trips)
        cache._abackend = _Counting(twin, trips)
        try:
            yield trips
        finally:
            cache.backend, cache._abackend = sync, twin


class _Seen:
    def __init__(self) -> None:
        self.calls: list[Any] = []


def _profile_tags(user_id: int) -> list[str]:
    return [f"user:{user_id}"]


_WAIT = 30.0  # seconds a step of a concurrency test may take before it counts as hung
_TTL = 1.0  # seconds an expiring entry lives (memcached counts whole seconds)


class _Overlap:
    """Two batch calls that overlap: the first holds ids 1-3 while the second asks 2-4.

    The function blocks a call holding id 1 until :attr:`release` is set; any other
    call notes that it ran in :attr:`other` (sync and async events alike).
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self.calls: list[list[int]] = []
        self.entered, self.release, self.other = make(), make(), make()

    def record(self, ids: Iterable[int]) -> list[int]:
        wanted = list(ids)
        self.calls.append(wanted)
        return wanted

    @staticmethod
    def result(ids: list[int]) -> dict[int, str]:
        return {i: f"u{i}" for i in ids if i != 3}  # 3 does not exist


def _batch_of(overlap: _Overlap) -> Callable[[Iterable[int]], dict[int, str]]:
    def users(ids: Iterable[int]) -> dict[int, str]:
        wanted = overlap.record(ids)
        if 1 in wanted:
            overlap.entered.set()
            assert overlap.release.wait(_WAIT)
        else:
            overlap.other.set()
        return overlap.result(wanted)

    return users


def _abatch_of(overlap: _Overlap) -> Callable[[Iterable[int]], Any]:
    async def users(ids: Iterable[int]) -> dict[int, str]:
        wanted = overlap.record(ids)
        if 1 in wanted:
            overlap.entered.set()
            await asyncio.wait_for(overlap.release.wait(), _WAIT)
        else:
            overlap.other.set()
        return overlap.result(wanted)

    return users


def _run_overlapping(first: Any, second: Any, overlap: _Overlap) -> dict[str, Any]:
    """Call ``first([1, 2, 3])`` then, while it computes, ``second([2, 3, 4])`` (threads)."""
    results: dict[str, Any] = {}
    one = threading.Thread(target=lambda: results.__setitem__("first", first([1, 2, 3])))
    one.start()
    assert overlap.entered.wait(_WAIT)
    two = threading.Thread(target=lambda: results.__setitem__("second", second([2, 3, 4])))
    two.start()
    assert overlap.other.wait(_WAIT), "the second call computes the id nobody else computes"
    overlap.release.set()
    one.join(_WAIT)
    two.join(_WAIT)
    return results


async def _arun_overlapping(first: Any, second: Any, overlap: _Overlap) -> dict[str, Any]:
    """:func:`_run_overlapping` with tasks."""
    one = asyncio.create_task(first([1, 2, 3]))
    await asyncio.wait_for(overlap.entered.wait(), _WAIT)
    two = asyncio.create_task(second([2, 3, 4]))
    await asyncio.wait_for(overlap.other.wait(), _WAIT)
    overlap.release.set()
    return {"first": await one, "second": await two}


class EntryBehaviour:
    """Computed tags, batch functions, warming, tagged reads in one round trip."""

    def test_tags_from_arguments(self, kit: Kit) -> None:
        """``tags=`` callables tag each entry from its call; invalidating a tag hits only those."""
        seen = _Seen()

        @kit.cached(tags=["profiles", _profile_tags])
        def profile(user_id: int, verbose: bool = False) -> dict[str, int]:
            seen.calls.append(user_id)
            return {"id": user_id}

        assert profile(1) == profile(user_id=1) == {"id": 1}
        profile(2)
        assert seen.calls == [1, 2]
        with RoundTrips.of(profile.cache) as trips:
            profile(2)
        assert trips.reads == 1, "a tagged hit reads the entry and its counters together"
        profile.invalidate_tags("user:1")
        profile(1), profile(2)
        assert seen.calls == [1, 2, 1]
        profile.cache.invalidate_tags("profiles")
        profile(1), profile(2)
        assert seen.calls == [1, 2, 1, 1, 2]

        @kit.cached(tags=lambda x: f"bad tag {x}")
        def bad(x: int) -> int:
            return x

        with pytest.raises(CacheKeyError, match="bad tag 3"):
            bad(3)

    async def test_async_tags_from_arguments(self, akit: Kit) -> None:
        """Computed tags on a coroutine function."""
        seen = _Seen()

        @akit.cached(tags=lambda user_id: [f"user:{user_id}"])
        async def profile(user_id: int) -> int:
            seen.calls.append(user_id)
            return user_id

        await profile(1), await profile(1), await profile(2)
        with RoundTrips.of(profile.cache) as trips:
            await profile(1)
        assert trips.reads == 1
        profile.invalidate_tags("user:1")
        await profile(1), await profile(2)
        assert seen.calls == [1, 2, 1]

    def test_tagged_get_many_and_keys(self, kit: Kit) -> None:
        """``get_many`` reads each tag counter once; ``keys()`` skips invalidated entries."""
        cache = kit.cache()
        for i in range(30):
            cache.set(f"k{i}", i, tags=[f"t{i % 3}"])
        with RoundTrips.of(cache) as trips:
            assert cache.get_many([f"k{i}" for i in range(30)]) == {f"k{i}": i for i in range(30)}
        assert trips.reads <= 2, "entries, then every distinct tag counter at once"
        with RoundTrips.of(cache) as again:
            cache.get_many([f"k{i}" for i in range(30)])
        assert again.reads == 1, "tags seen before are read with the entries"
        cache.invalidate_tags("t0")
        assert sorted(cache.get_many([f"k{i}" for i in range(6)])) == ["k1", "k2", "k4", "k5"]
        if cache.capabilities.lists_keys:
            listed = set(cache.keys())
            assert listed == {f"k{i}" for i in range(30) if i % 3}

    def test_keys_lists_the_live_entries(self, kit: Kit) -> None:
        """``keys()`` leaves out expired and tag-invalidated entries, read in chunks.

        Tag blocks longer than the header read (:data:`~twat_cache.serializers.frame.HEAD_SIZE`)
        are read whole; every key listed is one ``get`` finds.
        """
        cache = kit.cache()
        if not cache.capabilities.lists_keys:
            with pytest.raises(CacheOperationError):
                list(cache.keys())
            return
        plain = {f"p{i}": i for i in range(KEYS_CHUNK + 10)}
        cache.warm(plain)
        long_tags = [letter * 100 for letter in "abcdef"]  # a tag block of over 600 bytes
        cache.set("long", "kept", tags=long_tags)
        cache.set("long-gone", "dropped", tags=[*long_tags, "gone"])
        cache.set("gone", "dropped", tags=["gone"])
        cache.set("expired", "dropped", ttl=_TTL)
        deadline = time.monotonic() + _WAIT
        while cache.get("expired") is not None:
            assert time.monotonic() < deadline, "the entry did not expire"
            time.sleep(_TTL / 5)
        cache.invalidate_tags("gone")
        listed = list(cache.keys())
        assert sorted(listed) == sorted([*plain, "long"])
        assert cache.get_many(["long", "p0", f"p{KEYS_CHUNK + 9}"]) == {
            "long": "kept", "p0": 0, f"p{KEYS_CHUNK + 9}": KEYS_CHUNK + 9
        }  # fmt: skip
        cache.invalidate_tags("a" * 100)
        assert sorted(cache.keys()) == sorted(plain)

    async def test_async_keys_lists_the_live_entries(self, akit: Kit) -> None:
        """``akeys()`` leaves out tag-invalidated entries too."""
        cache = akit.cache()
        if not cache.capabilities.lists_keys:
            with pytest.raises(CacheOperationError):
                [key async for key in cache.akeys()]
            return
        await cache.aset("kept", 1, tags=["t", "u" * 100])
        await cache.aset("gone", 2, tags=["gone", *(c * 100 for c in "vwxyz")])
        await cache.ainvalidate_tags("gone")
        assert [key async for key in cache.akeys()] == ["kept"]

    def test_batch_with_partial_misses(self, kit: Kit) -> None:
        """``batch=True``: one read, the function runs once with the misses, ids cached singly."""
        seen = _Seen()

        @kit.cached(batch=True)
        def users(ids: Iterable[int]) -> dict[int, str]:
            ids = list(ids)
            seen.calls.append(ids)
            return {i: f"u{i}" for i in ids if i != 4}  # 4 does not exist

        assert users([1, 2]) == {1: "u1", 2: "u2"}
        with RoundTrips.of(users.cache) as trips:
            assert users([1, 2, 3, 4]) == {1: "u1", 2: "u2", 3: "u3"}
        assert trips.reads == 1
        assert seen.calls == [[1, 2], [3, 4]]
        assert users([4]) == {}, "an id left out of the result is not cached"
        assert users.invalidate(2) is True, "each id is its own entry"
        assert users([1, 2, 3]) == {1: "u1", 2: "u2", 3: "u3"}
        assert seen.calls == [[1, 2], [3, 4], [4], [2]]
        assert users.cache_key(2) == users.cache_key(2)

        @kit.cached(batch=True, cache_absent=True)
        def absent(ids: Iterable[int]) -> dict[int, int]:
            ids = list(ids)
            seen.calls.append(ids)
            return {i: i for i in ids if i % 2}

        assert absent([1, 2]) == {1: 1}
        assert absent([1, 2]) == {1: 1}
        assert seen.calls[-1] == [1, 2], "an absent id is cached as absent"

    async def test_async_batch_with_partial_misses(self, akit: Kit) -> None:
        """``batch=True`` on a coroutine function, with computed tags per id."""
        seen = _Seen()

        @akit.cached(batch=True, tags=lambda ids: [f"user:{ids}"])
        async def users(ids: Iterable[int]) -> dict[int, int]:
            ids = list(ids)
            seen.calls.append(ids)
            return {i: i * 10 for i in ids}

        assert await users([1, 2]) == {1: 10, 2: 20}
        assert await users([2, 3]) == {2: 20, 3: 30}
        users.invalidate_tags("user:1")
        assert await users([1, 2, 3]) == {1: 10, 2: 20, 3: 30}
        assert seen.calls == [[1, 2], [3], [1]]

    def test_concurrent_batches_compute_each_id_once(self, kit: Kit) -> None:
        """Overlapping batch calls: the second waits for the ids the first computes."""
        overlap = _Overlap(threading.Event)
        users = kit.cached(batch=True)(_batch_of(overlap))
        results = _run_overlapping(users, users, overlap)
        assert results["first"] == {1: "u1", 2: "u2"}
        assert list(results["second"].items()) == [(2, "u2"), (4, "u4")]
        assert overlap.calls == [[1, 2, 3], [4]], "each missing id computed once"
        assert users([1, 2, 4]) == {1: "u1", 2: "u2", 4: "u4"}
        assert overlap.calls[2:] == [], "both calls stored their results"

    def test_concurrent_batches_of_two_processes_with_lock(self, kit: Kit) -> None:
        """``lock=True``: two processes' batch calls compute each id once in the fleet.

        Two decorations of one function stand for two processes (same keys, no
        shared memory); on an engine that cannot hold a lock, each computes its own.
        """
        overlap = _Overlap(threading.Event)
        func = _batch_of(overlap)
        first = kit.cached(batch=True, lock=True, lock_timeout=_WAIT)(func)
        second = kit.cached(batch=True, lock=True, lock_timeout=_WAIT)(func)
        results = _run_overlapping(first, second, overlap)
        assert results["first"] == {1: "u1", 2: "u2"}
        assert results["second"] == {2: "u2", 4: "u4"}
        if uses_lock(second.cache):
            # the second took 4's lock, waited for 2 and 3, then took 3's freed lock
            assert overlap.calls == [[1, 2, 3], [4], [3]]
        else:
            assert overlap.calls == [[1, 2, 3], [2, 3, 4]]

    async def test_async_concurrent_batches_compute_each_id_once(self, akit: Kit) -> None:
        """Overlapping batch calls of tasks, in one process and (``lock=True``) across two."""
        overlap = _Overlap(asyncio.Event)
        users = akit.cached(batch=True)(_abatch_of(overlap))
        results = await _arun_overlapping(users, users, overlap)
        assert results == {"first": {1: "u1", 2: "u2"}, "second": {2: "u2", 4: "u4"}}
        assert overlap.calls == [[1, 2, 3], [4]]
        overlap = _Overlap(asyncio.Event)
        func = _abatch_of(overlap)
        first = akit.cached(batch=True, lock=True, lock_timeout=_WAIT, version="2")(func)
        second = akit.cached(batch=True, lock=True, lock_timeout=_WAIT, version="2")(func)
        results = await _arun_overlapping(first, second, overlap)
        assert results == {"first": {1: "u1", 2: "u2"}, "second": {2: "u2", 4: "u4"}}
        if uses_lock(second.cache):
            assert overlap.calls == [[1, 2, 3], [4], [3]]
        else:
            assert overlap.calls == [[1, 2, 3], [2, 3, 4]]

    def test_warming_a_batch_function_in_chunks(self, kit: Kit) -> None:
        """``f.warm`` of a batch function: one read and one call per chunk of ids."""
        calls: list[tuple[list[int], str]] = []

        @kit.cached(batch=True)
        def names(ids: Iterable[int], lang: str = "en") -> dict[int, str]:
            wanted = list(ids)
            calls.append((wanted, lang))
            if 9 in wanted:
                raise LookupError("nine")
            return {i: f"{lang}{i}" for i in wanted if i != 4}  # 4 does not exist

        names([1])
        outcomes: list[tuple[Any, str]] = []
        items = [1, 2, 3, 4, 5, (6, "fr"), (7, "fr"), 8, 9]
        with RoundTrips.of(names.cache) as trips:
            report = names.warm(
                items, concurrency=1, batch_size=3, progress=lambda i, o: outcomes.append((i, o))
            )
        assert calls[1:] == [([2, 3], "en"), ([4, 5], "en"), ([6, 7], "fr"), ([8, 9], "en")]
        assert (report.warmed, report.cached, report.absent) == (5, 1, 1)
        failed = [(item, type(exc)) for item, exc in report.failed]
        assert failed == [(8, LookupError), (9, LookupError)], "each id of a failing call failed"
        assert outcomes[:3] == [(1, "cached"), (2, "warmed"), (3, "warmed")]
        assert outcomes[3:5] == [(4, "absent"), (5, "warmed")]
        # per chunk: one read to see what is cached, one by the call path; never one per id
        assert trips.reads == 2 * 4
        assert names([2, 3, 5]) == {2: "en2", 3: "en3", 5: "en5"}
        assert names([6, 7], "fr") == {6: "fr6", 7: "fr7"}
        assert len(calls) == 5, "warmed ids are hits"

    async def test_async_warming_a_batch_function_in_chunks(self, akit: Kit) -> None:
        """``await f.warm`` of a batch function calls it once per chunk."""
        calls: list[list[int]] = []

        @akit.cached(batch=True, cache_absent=True)
        async def squares(ids: Iterable[int]) -> dict[int, int]:
            wanted = list(ids)
            calls.append(wanted)
            return {i: i * i for i in wanted if i % 5}

        report = await squares.warm(range(10), concurrency=2, batch_size=4)
        assert sorted(map(sorted, calls)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        assert (report.warmed, report.cached, report.absent, report.failed) == (8, 0, 2, [])
        again = await squares.warm(range(10), batch_size=10)
        assert (again.warmed, again.cached, again.absent) == (0, 10, 0), "absent ids are cached"
        assert len(calls) == 3

    def test_warming_with_a_failing_item(self, kit: Kit) -> None:
        """``f.warm`` runs the uncached items, reports a failure and goes on."""
        seen = _Seen()
        outcomes: list[tuple[Any, str]] = []

        @kit.cached()
        def square(x: int) -> int:
            if x == 3:
                raise ValueError("three")
            seen.calls.append(x)
            return x * x

        square(1)
        report = square.warm(
            [1, 2, 3, 4, {"x": 5}], concurrency=2, progress=lambda i, o: outcomes.append((i, o))
        )
        assert (report.warmed, report.cached) == (3, 1)
        assert [(item, type(exc)) for item, exc in report.failed] == [(3, ValueError)]
        assert sorted(o for _, o in outcomes) == ["cached", "failed", "warmed", "warmed", "warmed"]
        before = len(seen.calls)
        assert [square(x) for x in (2, 4, 5)] == [4, 16, 25]
        assert len(seen.calls) == before, "warmed entries are hits"
        cache = kit.cache()
        assert cache.warm([(f"w{i}", i) for i in range(1200)]) == 1200
        assert cache.get("w1199") == 1199

    async def test_async_warming_with_a_failing_item(self, akit: Kit) -> None:
        """``await f.warm`` runs bounded tasks and reports the failing item."""

        @akit.cached()
        async def half(x: int) -> float:
            if x == 0:
                raise ZeroDivisionError("zero")
            return 1 / x

        report = await half.warm(range(5), concurrency=3)
        assert (report.warmed, report.cached, len(report.failed)) == (4, 0, 1)
        assert isinstance(report.failed[0][1], ZeroDivisionError)
        again = await half.warm(range(1, 5))
        assert (again.warmed, again.cached) == (0, 4)
        cache = akit.cache()
        assert await cache.awarm({"a": 1, "b": 2}) == 2
        assert await cache.aget("b") == 2
