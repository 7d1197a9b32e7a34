"""Computed tags, batch functions and warming: option checks and edge cases (twat_cache.entries)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from twat_cache import Cache, ucache
from twat_cache.entries import SEEN_TAGS, TagsOf, call_of, learn_tags, seen_tags
from twat_cache.exceptions import CacheKeyError, ConfigurationError


def test_tag_callables_take_parameters_by_name() -> None:
    def f(a: int, b: int = 2, *, c: str = "x") -> None: ...

    tags = TagsOf(f, ("all",), [lambda b, c: [f"b:{b}", f"c:{c}"], lambda **kw: f"a:{kw['a']}"])
    assert tags((1,), {"c": "y"}) == ("all", "b:2", "c:y", "a:1")
    with pytest.raises(ConfigurationError, match="no parameter 'z'"):
        TagsOf(f, (), [lambda z: "t"])
    with pytest.raises(CacheKeyError, match="tag 3"):
        TagsOf(f, (), [lambda a: [a]])((3,), {})


def test_tag_callables_of_a_positional_call() -> None:
    def f(a: int, b: int) -> None: ...

    tags = TagsOf(f, ("all",), [lambda b, a: [f"b:{b}", f"a:{a}"], lambda b: f"b:{b}"])
    assert tags((1, 2), {}) == ("all", "b:2", "a:1")  # each callable gets its own by name
    assert tags((3,), {"b": 4}) == ("all", "b:4", "a:3")
    for _ in range(2):  # a bad tag is refused every time, never remembered as checked
        with pytest.raises(CacheKeyError, match="tag 'a b'"):
            TagsOf(f, (), [lambda a: "a b"])((1, 2), {})
        with pytest.raises(CacheKeyError, match=r"tag \['x'\]"):
            TagsOf(f, (), [lambda a: [["x"]]])((1, 2), {})  # type: ignore[list-item]


def test_entry_options_are_checked() -> None:
    def f(ids: list[int]) -> dict[int, int]:
        return {}

    with pytest.raises(ConfigurationError, match="cache_absent"):
        ucache("memory://", cache_absent=True)(f)
    with pytest.raises(ConfigurationError, match="batch"):
        ucache("memory://", batch="yes")(f)  # type: ignore[call-overload]


def test_static_tags_of_a_shared_cache_are_the_functions() -> None:
    shared = Cache("memory://")
    seen: list[int] = []

    @ucache(cache=shared, tags=["mine"])
    def f(x: int) -> int:
        seen.append(x)
        return x

    f(1), f(1)
    shared.invalidate_tags("mine")
    f(1)
    assert seen == [1, 1]
    assert shared.config.tags == ()


def test_warm_items_and_checks(caplog: pytest.LogCaptureFixture) -> None:
    assert call_of((1, 2)) == ((1, 2), {})
    assert call_of({"x": 1}) == ((), {"x": 1})
    assert call_of([1]) == (([1],), {})

    @ucache("memory://")
    def f(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError, match="concurrency"):
        f.warm([1], concurrency=0)
    with pytest.raises(ConfigurationError, match="batch=True only"):
        f.warm([1], batch_size=10)

    def broken(item: Any, outcome: str) -> None:
        raise RuntimeError("progress bar")

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        report = f.warm([1, 2], progress=broken)
    assert report.warmed == 2
    assert "progress callback failed" in caplog.text


def test_warm_of_a_batch_function_takes_ids() -> None:
    calls: list[list[int]] = []

    @ucache("memory://", batch=True)
    def users(ids: list[int]) -> dict[int, int]:
        calls.append(list(ids))
        return {i: i for i in ids}

    users([1])
    report = users.warm([1, 2, 3], concurrency=1)
    assert (report.warmed, report.cached) == (2, 1)
    assert users([1, 2, 3]) == {1: 1, 2: 2, 3: 3}
    assert calls == [[1], [2, 3]], "one call per chunk of ids"
    with pytest.raises(ConfigurationError, match="batch_size"):
        users.warm([1], batch_size=0)
    report = users.warm([{"ids": 4}])
    assert [type(exc) for _, exc in report.failed] == [TypeError], "an item without an id"

    @ucache("memory://", batch=True, tags=lambda ids: f"bad tag {ids}")
    def tagged(ids: list[int]) -> dict[int, int]:
        return {i: i for i in ids}

    report = asyncio.run(_awarm_ids_failing())
    assert [type(exc) for _, exc in report.failed] == [CacheKeyError, CacheKeyError]
    report = tagged.warm([1, 2])
    assert [(item, type(exc)) for item, exc in report.failed] == [
        (1, CacheKeyError),
        (2, CacheKeyError),
    ], "ids that cannot be keyed or tagged fail, each of them"


async def _awarm_ids_failing() -> Any:
    @ucache("memory://", batch=True, tags=lambda ids: f"bad tag {ids}")
    async def tagged(ids: list[int]) -> dict[int, int]:
        return {i: i for i in ids}

    return await tagged.warm([1, 2])


def test_seen_tags_are_bounded() -> None:
    cache = Cache("memory://")
    learn_tags(cache, [f"t{i}" for i in range(SEEN_TAGS + 10)])
    assert seen_tags(cache, 1000) == [f"t{i}" for i in range(10, SEEN_TAGS + 10)]
    assert seen_tags(cache, 0) == []
    assert seen_tags(Cache("memory://"), 5) == []


def test_cache_warm_writes_pairs_in_batches() -> None:
    cache = Cache("memory://")
    assert cache.warm(((str(i), i) for i in range(1001)), ttl=60) == 1001
    assert cache.get("1000") == 1000
    assert cache.warm({"a": 1, "b": 2, "c": 3}, batch_size=2) == 3
    with pytest.raises(ConfigurationError, match="batch_size"):
        cache.warm({"a": 1}, batch_size=True)
    assert asyncio.run(cache.awarm({})) == 0


def test_batch_result_that_cannot_be_stored_is_returned(caplog: pytest.LogCaptureFixture) -> None:
    @ucache("disk://", batch=True, on_serialization_error="warn")
    def f(ids: list[int]) -> dict[int, Any]:
        return {i: (lambda: i) for i in ids}  # functions cannot be pickled

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert set(f([1, 2])) == {1, 2}
    assert "not cached" in caplog.text
    f.cache.close()


def test_keys_lists_entries_this_cache_cannot_read(tmp_path: Any) -> None:
    with Cache("disk://", folder=str(tmp_path)) as writer:
        writer.set("plain", 1)
        writer.set("tagged", 2, tags=["t"])
        with Cache("disk://", folder=str(tmp_path), secret="other") as reader:
            assert sorted(reader.keys()) == ["plain", "tagged"]
            assert reader.stats.corrupt == 0, "listing is quiet"
        writer.invalidate_tags("t")
        assert list(writer.keys()) == ["plain"]


def test_batch_entries_carry_the_caches_own_tags() -> None:
    calls: list[list[int]] = []

    @ucache("memory://", batch=True, tags=["users"])
    def users(ids: list[int]) -> dict[int, int]:
        calls.append(list(ids))
        return {i: i for i in ids}

    users([1, 2]), users([1, 2])
    users.invalidate_tags("users")
    assert users([1, 2]) == {1: 1, 2: 2}
    assert calls == [[1, 2], [1, 2]]


def test_computed_tags_hit_of_an_entry_written_under_other_tags() -> None:
    # Cache.set(tags=...) under a computed-tags function's key: its hit checks those tags too
    calls: list[int] = []

    @ucache("memory://", tags=lambda x: [f"user:{x}"])
    def f(x: int) -> int:
        calls.append(x)
        return x * 10

    f.cache.set(f.cache_key(1), 99, tags=["other"])
    assert f(1) == 99  # live under "other", which the call's own read did not ask for
    f.cache.invalidate_tags("other")
    assert f(1) == 10
    assert f(1) == 10
    f.cache.invalidate_tags("user:1")
    assert f(1) == 10
    assert calls == [1, 1]
    f.cache.close()
