"""The same decorated code, pointed at each engine by its URL alone, behaves the same."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from twat_cache import Cache, SerializationError, acache, ucache


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def test_sync_function(engine_url: str, namespace: str) -> None:
    calls: list[tuple[object, ...]] = []

    @ucache(engine_url, namespace=namespace, ttl=60)
    def describe(p: Point, tags: list[str], scale: int = 1) -> dict[str, object]:
        calls.append((p, tuple(tags), scale))
        return {"sum": (p.x + p.y) * scale, "tags": tags, "none": None}

    first = describe(Point(1, 2), ["a", "b"])
    assert (
        describe(Point(1, 2), ["a", "b"]) == first == {"sum": 3, "tags": ["a", "b"], "none": None}
    )
    assert describe(Point(1, 2), tags=["a", "b"], scale=1) == first  # same call, other spelling
    assert len(calls) == 1
    assert describe(Point(1, 2), ["a", "b"], scale=2)["sum"] == 6
    assert len(calls) == 2
    assert describe.invalidate(Point(1, 2), ["a", "b"]) is True
    describe(Point(1, 2), ["a", "b"])
    assert len(calls) == 3
    info = describe.cache_info()
    assert (info.hits, info.misses) == (2, 3)
    describe.cache_clear()
    describe(Point(1, 2), ["a", "b"])
    assert len(calls) == 4


def test_none_and_exceptions(engine_url: str, namespace: str) -> None:
    calls = 0

    @ucache(engine_url, namespace=namespace)
    def maybe(x: int) -> int | None:
        nonlocal calls
        calls += 1
        if x < 0:
            raise ValueError("negative")
        return None if x == 0 else x

    assert maybe(0) is None
    assert maybe(0) is None
    assert calls == 1, "a None result is cached"
    for _ in range(2):
        with pytest.raises(ValueError):
            maybe(-1)
    assert calls == 3, "an exception is never cached"


def test_async_function(engine_url: str, namespace: str) -> None:
    calls = 0

    @ucache(engine_url, namespace=namespace, ttl=60)
    async def fetch(user_id: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return {"id": user_id}

    @acache(engine_url, namespace=namespace)
    def blocking(x: int) -> int:
        return x * 2

    async def scenario() -> None:
        assert await fetch(7) == {"id": 7}
        assert await fetch(7) == {"id": 7}
        assert await fetch(user_id=7) == {"id": 7}
        assert await blocking(4) == 8
        assert await blocking(4) == 8
        # async clients belong to this event loop: close them before asyncio.run() ends it
        await fetch.cache.aclose()
        await blocking.cache.aclose()

    asyncio.run(scenario())
    assert calls == 1
    assert fetch.cache_info().hits == 2


def test_unpicklable_value_keeps_old_entry(shared_url: str, namespace: str) -> None:
    cache = Cache(shared_url, namespace=namespace)
    cache.set("k", "old")
    with pytest.raises(SerializationError):
        cache.set("k", lambda: None)
    assert cache.get("k") == "old"
    cache.close()


def test_tags_invalidate_across_cache_objects(shared_url: str, namespace: str) -> None:
    writer = Cache(shared_url, namespace=namespace)
    reader = Cache(shared_url, namespace=namespace)  # stands for another process
    writer.set("user:1", {"name": "a"}, tags=["users"])
    writer.set("post:1", {"title": "t"}, tags=["posts"])
    assert reader.get("user:1") == {"name": "a"}
    reader.invalidate_tags("users")
    assert writer.get("user:1") is None
    assert writer.get("post:1") == {"title": "t"}
    writer.set("user:1", {"name": "b"}, tags=["users"])
    assert reader.get("user:1") == {"name": "b"}
    writer.close()
    reader.close()


def test_tampered_entry_is_a_logged_miss(
    shared_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    signed = Cache(shared_url, namespace=namespace, secret="s3cret")
    other = Cache(shared_url, namespace=namespace, secret="another")
    signed.set("k", {"v": 1})
    assert signed.get("k") == {"v": 1}
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert other.get("k") is None
    assert "rejected" in caplog.text
    assert other.stats.corrupt == 1
    signed.close()
    other.close()


def test_persists_across_processes(shared_url: str, namespace: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from twat_cache import ucache

            @ucache({shared_url!r}, namespace={namespace!r})
            def compute(x):
                print("computed")
                return x * 10

            print(compute(4), compute.cache_info().hits)
            """
        )
    )
    outputs = [
        subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0].split() == ["computed", "40", "0"]
    assert outputs[1].split() == ["40", "1"], "the second process reads the first one's entry"
