"""Tags: invalidate_tags makes tagged entries misses in every process; untagged ones stay."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from twat_cache import Cache, pipeline, ucache
from twat_cache.constants import TAG_PREFIX
from twat_cache.serializers import Codec

URLS = ["builtin://", "coretest-bytes://", "coretest-abytes://"]


@pytest.mark.parametrize("url", URLS)
def test_invalidate_tags_makes_tagged_entries_misses(url: str, namespace: str) -> None:
    with Cache(url, namespace=namespace) as cache:
        cache.set("user:1", "ann", tags=["users"])
        cache.set("user:2", "bob", tags=["users", "admins"])
        cache.set("admin", "root", tags=["admins"])
        cache.set("plain", "untagged")
        assert cache.get_many(["user:1", "user:2", "admin", "plain"]) == {
            "user:1": "ann",
            "user:2": "bob",
            "admin": "root",
            "plain": "untagged",
        }
        cache.invalidate_tags("users")
        assert cache.get("user:1") is None
        assert cache.get("user:2") is None  # one of its tags is enough
        assert cache.get("admin") == "root"
        assert cache.get("plain") == "untagged"
        assert cache.get_many(["user:1", "admin"]) == {"admin": "root"}
        cache.set("user:1", "ann again", tags=["users"])  # written after: fresh
        assert cache.get("user:1") == "ann again"
        cache.invalidate_tags("never-used")  # no counter yet: nothing to do, no error


@pytest.mark.parametrize("url", URLS)
async def test_async_invalidate_tags(url: str, namespace: str) -> None:
    async with Cache(url, namespace=namespace) as cache:
        await cache.aset("t", 1, tags=["x"])
        await cache.aset("u", 2)
        assert await cache.aget_many(["t", "u"]) == {"t": 1, "u": 2}
        await cache.ainvalidate_tags("x", "never-used")
        assert await cache.aget("t") is None
        assert await cache.aget_many(["t", "u"]) == {"u": 2}
        await cache.aset("t", 3, tags=["x"])
        assert await cache.aget("t") == 3
        assert [k async for k in cache.akeys()] != []
        assert not [k async for k in cache.akeys() if str(k).startswith(TAG_PREFIX)]


@pytest.mark.parametrize("url", ["coretest-bytes://", "coretest-abytes://"])
def test_invalidation_is_seen_by_every_process(url: str, namespace: str) -> None:
    # two Cache objects on one server namespace stand for two processes
    writer = Cache(url, namespace=namespace)
    reader = Cache(url, namespace=namespace)
    writer.set("report", "v1", tags=["reports"])
    assert reader.get("report") == "v1"
    reader.invalidate_tags("reports")
    assert writer.get("report") is None
    writer.close()
    reader.close()


@pytest.mark.parametrize("url", URLS)
def test_decorator_tags(url: str, namespace: str) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace, tags=["users"])
    def load(user_id: int) -> str:
        calls.append(user_id)
        return f"user {user_id}"

    load(1)
    load(1)
    assert calls == [1]
    load.cache.invalidate_tags("users")
    load(1)
    load(1)
    assert calls == [1, 1]


@pytest.mark.parametrize("url", URLS)
async def test_async_decorator_tags(url: str, namespace: str) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace, tags=["users"])
    async def load(user_id: int) -> str:
        calls.append(user_id)
        return f"user {user_id}"

    await load(1)
    await load(1)
    await load.cache.ainvalidate_tags("users")
    await load(1)
    assert calls == [1, 1]


@pytest.mark.parametrize("url", URLS)
def test_config_tags_apply_to_every_write(url: str, namespace: str) -> None:
    with Cache(url, namespace=namespace, tags=["all"]) as cache:
        cache.set("set", 1)
        cache.add("add", 2)
        cache.set_many({"many": 3})
        assert cache.get_many(["set", "add", "many"]) == {"set": 1, "add": 2, "many": 3}
        cache.invalidate_tags("all")
        assert cache.get_many(["set", "add", "many"]) == {}


@pytest.mark.parametrize("url", URLS)
async def test_async_config_tags_apply_to_every_write(url: str, namespace: str) -> None:
    async with Cache(url, namespace=namespace, tags=["all"]) as cache:
        await cache.aset("set", 1)
        assert await cache.aadd("add", 2) is True
        await cache.aset_many({"many": 3})
        await cache.ainvalidate_tags("all")
        assert await cache.aget_many(["set", "add", "many"]) == {}


@pytest.mark.parametrize("url", URLS)
def test_a_lost_tag_counter_makes_its_entries_misses(url: str, namespace: str) -> None:
    with Cache(url, namespace=namespace) as cache:
        cache.set("k", 1, tags=["t"])
        cache.backend.delete(TAG_PREFIX + "t")  # evicted, or the server restarted
        assert cache.get("k") is None
        assert cache.get_many(["k"]) == {}


def test_an_unreadable_tag_counter_makes_its_entries_misses(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("k", 1, tags=["t"])
        cache.backend.set(TAG_PREFIX + "t", b"\xfegarbage")
        assert cache.get("k") is None


@pytest.mark.parametrize("url", ["coretest-bytes://", "coretest-abytes://"])
async def test_tagged_reads_of_every_kind_of_entry(
    url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache with tags reads its entries with their counters; what it cannot check, it reads."""
    monkeypatch.setattr(pipeline, "_TAG_CHECKS_KEPT", 2)  # forgetting checked blocks is harmless
    writer = Cache(url, namespace=namespace)
    async with Cache(url, namespace=namespace, tags=["all"]) as cache:
        for i in range(4):  # blocks of other versions: the remembered checks are dropped
            await cache.aset(f"own{i}", i)
            await cache.ainvalidate_tags("all")
        await cache.aset("own", "mine")
        writer.set("more", "also", tags=["all", "other"])  # a tag the read does not ask for
        writer.set("plain", "untagged")
        assert await cache.aget("own") == "mine"
        assert await cache.aget("more") == "also"
        assert await cache.aget("plain") == "untagged"
        assert await cache.aget("own0") is None
        writer.invalidate_tags("other")
        assert await cache.aget("more") is None  # read by the full decode, still checked
        assert await cache.aget("own") == "mine"
        stored = writer.backend.get("own")
        assert isinstance(stored, bytes)
        head, body = stored[:-4], stored[-4:]
        writer.backend.set("own", head + b"\x00" * len(body))  # a corrupt payload
        corrupt = cache.stats.corrupt
        assert await cache.aget("own") is None
        assert cache.stats.corrupt == corrupt + 1
        frame_head = stored[: cache._plain_size]  # the tagged frame's header
        writer.backend.set("bad", frame_head + b"\x00\x00\x00\x02{x" + b"payload")
        assert await cache.aget("bad") is None  # a malformed tag block: a miss
        writer.backend.set("short", frame_head + b"\x00")
        assert await cache.aget("short") is None  # a frame cut short: a miss
        block = b'{"all":"x"}'
        writer.backend.set("text", frame_head + len(block).to_bytes(4, "big") + block + b"v")
        assert await cache.aget("text") is None  # a version that is not an integer: a miss
        hits, misses = cache.stats.hits, cache.stats.misses
        await cache.ainvalidate_tags("all")
        assert await cache.aget("own") is None
        assert (cache.stats.hits, cache.stats.misses) == (hits, misses + 1)
    writer.close()


def test_tagged_reads_sync(namespace: str) -> None:
    """The sync twin: entries it cannot check inline, stale ones, unreadable counters."""
    writer = Cache("coretest-bytes://", namespace=namespace)
    with Cache("coretest-bytes://", namespace=namespace, tags=["all"]) as cache:
        cache.set("own", "mine")
        writer.set("more", "also", tags=["all", "other"])
        assert cache.get("own") == "mine"
        assert cache.get("more") == "also"
        writer.invalidate_tags("other")
        assert cache.get("more") is None
        writer.backend.set(TAG_PREFIX + "all", b"\xfegarbage")
        assert cache.get("own") is None  # an unreadable counter is not current
        writer.backend.delete(TAG_PREFIX + "all")  # lost: the next write starts a new one
        cache.set("own", "again")
        assert cache.get("own") == "again"
    writer.close()


UNPICKLED: list[int] = []


def _unpickled(n: int) -> int:
    UNPICKLED.append(n)
    return n


class Recorded:
    """Read back as the integer ``n``, recording each time it is unpickled."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return _unpickled, (self.n,)


@pytest.mark.parametrize("url", ["coretest-bytes://", "coretest-abytes://"])
def test_get_many_never_unpickles_an_invalidated_entry(url: str, namespace: str) -> None:
    with Cache(url, namespace=namespace) as cache:
        for n in range(3):
            cache.set(f"old{n}", Recorded(n), tags=["old"])
        cache.set("new", Recorded(9), tags=["new"])
        keys = ["old0", "old1", "old2", "new"]
        assert cache.get_many(keys) == {"old0": 0, "old1": 1, "old2": 2, "new": 9}
        UNPICKLED.clear()
        cache.invalidate_tags("old")
        assert cache.get_many(keys) == {"new": 9}
        assert UNPICKLED == [9], "the invalidated entries were left unread"
        assert (cache.stats.hits, cache.stats.misses) == (5, 3)


def test_get_many_reads_corrupt_tagged_entries_as_logged_misses(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("good", 1, tags=["t"])
        raw, counter = cache.backend.get("good"), cache.backend.get(TAG_PREFIX + "t")
        assert isinstance(raw, bytes)
        assert isinstance(counter, bytes)
        version = int(counter)
        header_and_tags = raw[: raw.index(b"}") + 1]
        cache.backend.set("broken payload", header_and_tags + b"not a pickle")
        cache.backend.set(
            "broken tags", header_and_tags[:-1] + b"not json" + raw[len(header_and_tags) :]
        )
        cache.backend.set("json", Codec("json").dumps(1, {"t": version}))
        keys = ["good", "broken payload", "broken tags", "json"]
        with caplog.at_level(logging.WARNING, logger="twat_cache"):
            assert cache.get_many(keys) == {"good": 1}
        assert cache.stats.corrupt == 3
        assert (cache.stats.hits, cache.stats.misses) == (1, 3)
        rejected = [
            r.getMessage() for r in caplog.records if "rejected as a miss" in r.getMessage()
        ]
        assert len(rejected) == 3
        assert any("json" in message for message in rejected)


@pytest.mark.parametrize("options", [{"secret": "s"}, {"compress": True}, {"serializer": "typed"}])
def test_get_many_of_entries_under_tags_the_reader_never_saw(
    options: dict[str, Any], namespace: str
) -> None:
    writer = Cache(
        "coretest-bytes://", namespace=namespace, tags=["app"], compress_min_size=0, **options
    )
    writer.set("a", {"n": 1}, tags=["app", "x"])
    writer.set("b", {"n": 2}, tags=["app", "y"])
    writer.set("c", {"n": 3})
    writer.invalidate_tags("y")
    # another process: only its own tag ("app") is read with the entries at first
    reader = Cache(
        "coretest-bytes://", namespace=namespace, tags=["app"], compress_min_size=0, **options
    )
    found = reader.get_many(["c", "b", "a"])
    assert list(found.items()) == [("c", {"n": 3}), ("a", {"n": 1})], "in the order asked"
    writer.invalidate_tags("app")
    assert reader.get_many(["a", "b", "c"]) == {}
    assert (reader.stats.hits, reader.stats.misses) == (2, 4)
    writer.close()
    reader.close()


async def test_async_get_many_of_entries_under_tags_the_reader_never_saw(namespace: str) -> None:
    async with Cache("coretest-abytes://", namespace=namespace, tags=["app"]) as writer:
        await writer.aset("a", 1, tags=["app", "x"])
        await writer.aset("b", 2, tags=["app", "y"])
        await writer.ainvalidate_tags("y")
        async with Cache("coretest-abytes://", namespace=namespace, tags=["app"]) as reader:
            assert await reader.aget_many(["a", "b"]) == {"a": 1}
            await writer.ainvalidate_tags("app")
            assert await reader.aget_many(["a", "b"]) == {}


@pytest.mark.parametrize("url", URLS)
def test_get_many_of_entries_written_together(url: str, namespace: str) -> None:
    with Cache(url, namespace=namespace, tags=["app"]) as cache:
        cache.set_many({"a": 1, "b": 2, "c": 3})
        assert cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": 2, "c": 3}
        cache.invalidate_tags("app")
        assert cache.get_many(["a", "b", "c"]) == {}
        assert (cache.stats.hits, cache.stats.misses) == (3, 4)
