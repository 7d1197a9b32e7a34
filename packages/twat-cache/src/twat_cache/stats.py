"""What a cache has done: counters, latency percentiles, bytes and the time it saved.

Statistics are always on, so they must cost next to nothing:

* counters are plain integers, updated without locks (a lost increment under
  threads is possible and accepted: these are figures for a dashboard, not a ledger);
* an in-process hit is never timed (timing it would cost more than the hit);
  engine calls are timed on engines that serialize (disk, SQLite, servers), where
  two clock reads are lost in the I/O, and on every engine while DEBUG records are
  written (:mod:`twat_cache.observe`);
* latencies go into a fixed-size window (:class:`Latency`): the most recent
  :data:`WINDOW` samples, so percentiles follow the current behaviour and memory
  stays bounded however long the process runs.

A process can also publish its figures to the backend (``publish_stats=SECONDS``)
so that :func:`read_published` shows every process of a fleet.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from twat_cache.exceptions import CacheOperationError

if TYPE_CHECKING:
    from twat_cache.cache import Cache
    from twat_cache.protocols import ReportsEvictions

__all__ = ["WINDOW", "CacheStats", "Latency", "Publisher", "read_published"]

logger = logging.getLogger("twat_cache")

WINDOW: Final = 1024
"""How many recent samples a :class:`Latency` keeps."""
STATS_PREFIX: Final = "__tag__:stats:"
"""Published figures live under this key prefix (hidden from ``keys()`` like tag counters)."""
COUNTERS: Final = (
    "hits", "misses", "sets", "deletes", "errors", "corrupt", "evictions",
    "bytes_read", "bytes_written",
)  # fmt: skip


class Latency:
    """Durations of one kind of call: the count and sum of all, and a window of recent ones.

    Args:
        size: How many recent samples are kept for the percentiles.
    """

    __slots__ = ("_next", "count", "samples", "size", "total")

    def __init__(self, size: int = WINDOW) -> None:
        self.size = size
        self.count = 0
        self.total = 0.0
        self.samples: list[float] = []
        self._next = 0

    def record(self, seconds: float) -> None:
        """Add one duration, in seconds."""
        self.count += 1
        self.total += seconds
        if len(self.samples) < self.size:
            self.samples.append(seconds)
        else:  # a ring: the oldest sample makes room
            self.samples[self._next] = seconds
            self._next = (self._next + 1) % self.size

    @property
    def mean(self) -> float:
        """The mean of every duration recorded, in seconds (0.0 before the first)."""
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0 to 1) of the recent samples, in seconds (None without any)."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        # nearest rank: a value that was really measured
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def merge(self, other: Latency) -> None:
        """Add ``other``'s durations to these (for totals over several caches)."""
        self.count += other.count
        self.total += other.total
        for sample in other.samples:
            if len(self.samples) < self.size:
                self.samples.append(sample)

    def reset(self) -> None:
        """Forget every duration."""
        self.count = 0
        self.total = 0.0
        self.samples = []
        self._next = 0

    def figures(self, prefix: str) -> dict[str, float | None]:
        """``{prefix_p50_ms, prefix_p95_ms, prefix_p99_ms, prefix_count}``."""
        result: dict[str, float | None] = {}
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            value = self.percentile(q)
            result[f"{prefix}_{name}_ms"] = None if value is None else value * 1000.0
        result[f"{prefix}_count"] = self.count
        return result


@dataclass
class CacheStats:
    """The figures of one cache (counters updated without locks, see the module).

    Attributes:
        hits: Lookups that found a live entry.
        misses: Lookups that found nothing (or a stale, corrupt or tampered entry).
        sets: Entries written.
        deletes: Entries removed by ``delete``/``invalidate``.
        errors: Backend failures absorbed by fail-open.
        corrupt: Entries rejected as corrupt or tampered (counted as misses too).
        evictions: Entries the engine dropped to stay within its limits, read from
            ``engine`` when one is attached (engines whose capabilities say
            ``reports_evictions``), else 0.
        bytes_read: Bytes of entries read from a serializing engine.
        bytes_written: Bytes of entries written to a serializing engine.
        reads: Durations of engine reads.
        writes: Durations of engine writes (and deletes).
        computes: Durations of the decorated function on a miss.
        engine: The engine whose ``evictions`` counter is read (the hit path never
            touches it: the engine counts as it evicts, these figures read on demand).
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    errors: int = 0
    corrupt: int = 0
    evicted: int = field(default=0, repr=False)  # evictions minus the engine's counter
    bytes_read: int = 0
    bytes_written: int = 0
    reads: Latency = field(default_factory=Latency, repr=False)
    writes: Latency = field(default_factory=Latency, repr=False)
    computes: Latency = field(default_factory=Latency, repr=False)
    engine: ReportsEvictions | None = field(default=None, repr=False, compare=False)

    @property
    def evictions(self) -> int:
        """Entries the engine dropped to stay within its limits (see the class)."""
        engine = self.engine
        return self.evicted if engine is None else self.evicted + engine.evictions

    @evictions.setter
    def evictions(self, value: int) -> None:
        # kept as an offset from the engine's counter, so that reset() starts again from 0
        engine = self.engine
        self.evicted = value if engine is None else value - engine.evictions

    def counters(self) -> dict[str, int]:
        """Return the counters (what adds up across caches and processes)."""
        return {name: getattr(self, name) for name in COUNTERS}

    def as_dict(self) -> dict[str, Any]:
        """Return every figure: counters, ``hit_ratio``, ``time_saved_s``, latency percentiles.

        Latencies are in milliseconds (``None`` before the first sample);
        ``time_saved_s`` is hits times the function's mean time on a miss.
        """
        result: dict[str, Any] = self.counters()
        result["hit_ratio"] = self.hit_rate
        result["time_saved_s"] = self.time_saved
        result.update(self.reads.figures("read"))
        result.update(self.writes.figures("write"))
        result.update(self.computes.figures("compute"))
        return result

    def reset(self) -> None:
        """Set every figure to zero."""
        for name in COUNTERS:
            setattr(self, name, 0)
        for latency in (self.reads, self.writes, self.computes):
            latency.reset()

    @property
    def hit_rate(self) -> float:
        """Hits divided by lookups (0.0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def time_saved(self) -> float:
        """Seconds the cache saved: hits times the mean time of the function on a miss."""
        return self.hits * self.computes.mean

    @classmethod
    def combined(cls, many: Iterable[CacheStats]) -> CacheStats:
        """Return the sum of several caches' figures (latency windows pooled)."""
        total = cls()
        for stats in many:
            for name in COUNTERS:
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            total.reads.merge(stats.reads)
            total.writes.merge(stats.writes)
            total.computes.merge(stats.computes)
        return total


def process_id() -> str:
    """This process, as published: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def published_figures(stats: CacheStats) -> dict[str, Any]:
    """What a process publishes: every figure, plus the mean compute time (to sum time saved)."""
    figures = stats.as_dict()
    figures["compute_mean_s"] = stats.computes.mean
    figures["process"] = process_id()
    return figures


class Publisher:
    """A daemon thread that writes a cache's figures to its backend every ``every`` seconds.

    The entry is ``__tag__:stats:<host>:<pid>`` in the cache's namespace, with a
    ttl of three periods, so that a process that stopped drops out of
    :func:`read_published` on its own. Writing goes straight to the engine: it
    is neither counted in the figures nor subject to the breaker's fail-open
    (a failed write is logged at debug level and tried again next period).

    Args:
        cache: The cache whose figures are written.
        every: Seconds between writes.
    """

    def __init__(self, cache: Cache, every: float) -> None:
        self.every = every
        self.key = STATS_PREFIX + process_id()
        self._cache = weakref.ref(cache)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"twat-cache-stats:{cache.name}", daemon=True
        )
        self._thread.start()

    def publish(self) -> bool:
        """Write the figures now; return whether it worked."""
        cache = self._cache()
        if cache is None or cache.closed:
            return False
        try:
            data = cache._encode(published_figures(cache.stats), None)
            cache.backend.set(cache._key(self.key), data, self.every * 3)
        except Exception:  # a dashboard figure must never break the application
            logger.debug("cache %s: publishing stats failed", cache.name, exc_info=True)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if not self.publish():
                cache = self._cache()
                if cache is None or cache.closed:
                    return

    def stop(self) -> None:
        """Stop the thread (it exits within one period)."""
        self._stop.set()


def read_published(cache: Cache) -> dict[str, Any]:
    """Return the figures every process published to ``cache``'s namespace, and their total.

    Args:
        cache: A cache on the shared namespace (any process's, with the same URL
            and namespace).

    Returns:
        ``{"host:pid": figures, ..., "total": summed counters}``; the total's
        ``time_saved_s`` is the sum of each process's.

    Raises:
        CacheOperationError: when the engine cannot list its keys (memcached).
    """
    if not cache.capabilities.lists_keys:
        raise CacheOperationError(f"cache {cache.name}: the engine cannot list its keys")
    result: dict[str, Any] = {}
    total: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    total["time_saved_s"] = 0.0
    for key in list(cache.backend.keys()):
        if not (isinstance(key, str) and key.startswith(STATS_PREFIX)):
            continue
        raw = cache.backend.get(key)
        if raw is None:  # expired meanwhile
            continue
        figures, _ = cache._decode(key, raw)
        if not isinstance(figures, dict):
            continue
        result[key[len(STATS_PREFIX) :]] = figures
        for name in COUNTERS:
            total[name] += int(figures.get(name, 0))
        total["time_saved_s"] += float(figures.get("time_saved_s", 0.0))
    lookups = total["hits"] + total["misses"]
    total["hit_ratio"] = total["hits"] / lookups if lookups else 0.0
    result["total"] = total
    return result
