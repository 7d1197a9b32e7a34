"""The tier scenario: a near memory tier over any engine, checked in this and another process.

Subclass :class:`TierBehaviour` with a ``cache_url`` fixture (the lower tier's
URL) to check what docs/tiers.md promises on an engine: a lower hit fills the
near tier, writes, deletes and tags reach every tier, ``l1_ttl`` caps the near
copy, and another process stops serving a deleted value -- through the
engine's invalidation channel when it has one, after ``l1_ttl`` otherwise.

The other process is ``python -m twat_cache.testing._reader URL NAMESPACE L1_TTL``
(:class:`Reader` drives it): it answers ``get KEY`` with the value it serves and
``watch KEY`` with the wall-clock time at which it first stopped serving the
key's value -- also what ``tools/bench`` measures the invalidation latency with.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - the kit starts a second Python process on purpose
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from twat_cache.tiers import TieredCache

__all__ = ["Reader", "TierBehaviour"]

READER_MODULE = "twat_cache.testing._reader"  # the child: a module nothing imports (runpy)
DEADLINE = 10.0  # seconds a near copy may take to go before the suite calls it a failure
WATCH_POLL = 0.0005  # seconds between the child's polls of a watched key


class Reader:
    """Another process holding a tiered cache (near memory tier over ``url``).

    Args:
        url: The lower tier's URL.
        namespace: The namespace both processes use.
        l1_ttl: The near copy's cap (``None``: the cache's ttl).

    Example:
        >>> with Reader("redis://127.0.0.1:6379/0", "app") as other:  # doctest: +SKIP
        ...     other.get("k")
    """

    def __init__(self, url: str, namespace: str, l1_ttl: float | None = None) -> None:
        self._process = subprocess.Popen(  # noqa: S603  # nosec B603 - this interpreter, no shell
            [sys.executable, "-m", READER_MODULE, url, namespace, json.dumps(l1_ttl)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._answer() != "ready":  # pragma: no cover - the child failed to start
            raise RuntimeError("the reader process did not start")

    def _answer(self) -> Any:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:  # pragma: no cover - the child died
            raise RuntimeError("the reader process exited")
        return json.loads(line)

    def _ask(self, *words: str) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(" ".join(words) + "\n")
        self._process.stdin.flush()
        return self._answer()

    def get(self, key: str) -> Any:
        """The value the other process serves under ``key`` (``None`` when absent)."""
        return self._ask("get", key)

    def start_watch(self, key: str) -> None:
        """Have the other process poll ``key`` until its value goes (see :meth:`watched`)."""
        self._ask("watch", key)

    def watched(self) -> float | None:
        """Wall-clock time at which the watched value went, ``None`` after the deadline."""
        answer: float | None = self._answer()
        return answer

    def close(self) -> None:
        """Stop the other process."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=DEADLINE)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TierBehaviour:
    """A near memory tier over the engine under test (see the module docstring).

    Attributes:
        l1_ttl: The near copy's cap in the scenarios (short, so that engines
            without an invalidation channel are checked in reasonable time).
    """

    l1_ttl: float = 0.5

    @pytest.fixture
    def cache_url(self) -> str:
        """The lower tier's URL (override in the engine's tests)."""
        raise NotImplementedError  # pragma: no cover - the subclass provides it

    @pytest.fixture
    def namespace(self) -> str:
        """A namespace of the scenario's own."""
        return "tier-" + uuid.uuid4().hex[:10]

    @pytest.fixture
    def tiered(self, cache_url: str, namespace: str) -> Iterator[TieredCache]:
        """A memory tier over the engine under test."""
        cache = TieredCache(["memory://", cache_url], namespace=namespace, ttl=600)
        yield cache
        cache.close()

    def test_a_lower_hit_fills_the_near_tier(self, tiered: TieredCache) -> None:
        """A hit in the engine fills the near tier."""
        near, lower = tiered.tiers
        lower.set("k", {"v": 1})
        assert near.get("k") is None
        assert tiered.get("k") == {"v": 1}
        assert near.get("k") == {"v": 1}

    def test_writes_and_deletes_reach_every_tier(self, tiered: TieredCache) -> None:
        """Writes, deletes and clear() reach the near tier and the engine."""
        assert tiered.set("k", 1) is True
        assert [t.get("k") for t in tiered.tiers] == [1, 1]
        assert tiered.delete("k") is True
        assert [t.get("k") for t in tiered.tiers] == [None, None]
        tiered.set("c", 1)
        assert tiered.clear() is True
        assert [t.get("c") for t in tiered.tiers] == [None, None]

    def test_tags_invalidate_every_tier(self, tiered: TieredCache) -> None:
        """A tag invalidated through the tiers drops a filled near copy too."""
        tiered.set("k", 1, tags=["group"])
        tiered.tiers[0].clear()
        assert tiered.get("k") == 1  # filled from below, with its tag
        tiered.invalidate_tags("group")
        assert tiered.get("k") is None
        assert tiered.tiers[0].get("k") is None

    def test_l1_ttl_caps_the_near_copy(self, cache_url: str, namespace: str) -> None:
        """The near copy goes after ``l1_ttl``; the engine keeps the entry."""
        with TieredCache(["memory://", cache_url], namespace=namespace, ttl=600, l1_ttl=0.2) as c:
            c.set("k", 1)
            deadline = time.monotonic() + DEADLINE
            while c.tiers[0].get("k") is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.tiers[0].get("k") is None
            assert c.get("k") == 1  # the lower tier still has it

    def test_another_process_stops_serving_a_deleted_value(
        self, tiered: TieredCache, cache_url: str, namespace: str
    ) -> None:
        """A delete here drops the other process's near copy (channel, or ``l1_ttl``)."""
        channel = tiered.tiers[-1].capabilities.invalidation_channel
        with Reader(cache_url, namespace, None if channel else self.l1_ttl) as other:
            tiered.set("k", "old")
            assert other.get("k") == "old"  # now in the other process's near tier
            other.start_watch("k")
            tiered.delete("k")
            assert other.watched() is not None
            assert other.get("k") is None

    def test_another_process_sees_a_tag_invalidated(
        self, tiered: TieredCache, cache_url: str, namespace: str
    ) -> None:
        """A tag invalidated here reaches the other process's near copy."""
        channel = tiered.tiers[-1].capabilities.invalidation_channel
        with Reader(cache_url, namespace, None if channel else self.l1_ttl) as other:
            tiered.set("k", "old", tags=["group"])
            assert other.get("k") == "old"
            other.start_watch("k")
            tiered.invalidate_tags("group")
            assert other.watched() is not None
