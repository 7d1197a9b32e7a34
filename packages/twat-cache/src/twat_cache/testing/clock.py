"""A controllable clock for tests: expire entries without sleeping.

Each in-process engine reads its expiry clock through a module-level name
(``monotonic`` or ``time``, bound to the standard library's function), and the
freshness code (``stale_ttl=``, ``early_refresh=``) reads the wall clock the same
way. :func:`frozen_clock` swaps those names for a :class:`FrozenClock` for the
duration of a ``with`` block and puts the originals back afterwards, so the hit
path pays nothing for the hook: no wrapper, no extra call.

Driven: the built-in ``memory://`` engine (``builtin://``), twat-cache-memory
(every policy, ``ttl`` included), twat-cache-sqlite, and core's stale/early
refresh decisions. Not driven: engines that keep their own time -- diskcache
(its SQLite file stores wall-clock expiry written by diskcache's own clock),
aiocache's memory cache (expiry by event-loop timers) and every server
(Redis, Memcached, PostgreSQL, S3 expire entries by the server's clock).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Final

__all__ = ["CLOCK_TARGETS", "FrozenClock", "frozen_clock"]

CLOCK_TARGETS: Final = (
    ("twat_cache.engines.builtin", "monotonic", "monotonic"),
    ("twat_cache.freshness", "time", "time"),
    ("twat_cache._async.fresh", "time", "time"),
    ("twat_cache._sync.fresh", "time", "time"),
    ("twat_cache._async.ops", "wall_time", "time"),
    ("twat_cache._sync.ops", "wall_time", "time"),
    ("twat_cache_memory.backend", "monotonic", "monotonic"),
    ("twat_cache_sqlite.backend", "_now", "time"),
)
"""``(module, name, kind)`` of each clock reference the frozen clock swaps; ``kind`` says
which of its clocks replaces it (``monotonic`` or wall-clock ``time``). Modules of
packages that are not installed are left out."""


class FrozenClock:
    """A clock that stands still until a test moves it.

    It starts at the real clocks' current readings and keeps the monotonic and
    the wall clock in step: :meth:`advance` moves both.

    Example:
        >>> clock = FrozenClock()
        >>> start = clock.monotonic()
        >>> clock.advance(61)
        >>> clock.monotonic() - start
        61.0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._monotonic = time.monotonic()
        self._time = time.time()

    def monotonic(self) -> float:
        """The frozen reading of ``time.monotonic()``."""
        return self._monotonic

    def time(self) -> float:
        """The frozen reading of ``time.time()`` (seconds since the epoch)."""
        return self._time

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``.

        Raises:
            ValueError: when ``seconds`` is negative (a monotonic clock never goes back).
        """
        if seconds < 0:
            raise ValueError(f"seconds must be zero or more, not {seconds!r}")
        with self._lock:
            self._monotonic += seconds
            self._time += seconds

    def __repr__(self) -> str:
        return f"FrozenClock(monotonic={self._monotonic!r}, time={self._time!r})"


_active_lock = threading.Lock()
_active: list[FrozenClock] = []


@contextmanager
def frozen_clock(clock: FrozenClock | None = None) -> Iterator[FrozenClock]:
    """Drive the expiry of every in-process engine with a :class:`FrozenClock`.

    Inside the block, entries expire when the test advances the clock, never
    because real time passed: ``ttl=60`` entries are live until
    ``clock.advance(60)`` and gone after it, on the built-in engine,
    twat-cache-memory (every policy) and twat-cache-sqlite; ``stale_ttl=`` and
    ``early_refresh=`` read it too. Engines that keep their own time (diskcache,
    aiocache, servers) are not affected (see docs/testing.md). Blocks do not nest.

    Args:
        clock: The clock to install (default: a new one at the current time).

    Yields:
        The installed clock.

    Raises:
        RuntimeError: when another frozen clock is already installed.

    Example:
        >>> from twat_cache import Cache
        >>> with frozen_clock() as clock, Cache("memory://", ttl=60) as cache:
        ...     _ = cache.set("k", 1)
        ...     clock.advance(61)
        ...     cache.get("k") is None
        True
    """
    clock = clock or FrozenClock()
    with _active_lock:
        if _active:
            raise RuntimeError(
                "a frozen clock is already installed: frozen_clock() blocks do not nest"
            )
        _active.append(clock)
    replaced: list[tuple[ModuleType, str, object]] = []
    try:
        for module_name, name, kind in CLOCK_TARGETS:
            if importlib.util.find_spec(module_name.partition(".")[0]) is None:
                continue  # an engine package that is not installed
            module = importlib.import_module(module_name)
            replaced.append((module, name, getattr(module, name)))
            setattr(module, name, clock.monotonic if kind == "monotonic" else clock.time)
        yield clock
    finally:
        for module, name, original in reversed(replaced):
            setattr(module, name, original)
        with _active_lock:
            _active.clear()
