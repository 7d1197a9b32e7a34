"""The I/O-free half of serving stale values and refreshing early.

With ``stale_ttl=`` or ``early_refresh=True`` a decorated function's entries are
stored as a small frame: a marker, the wall-clock time the value stops being
fresh, the seconds the function took, and the value. The engine keeps the frame
``ttl + stale_ttl`` seconds; between ``ttl`` and then, the stale value is served
at once while one caller refreshes it in the background. Entries of caches
without these options are stored as before, and their hit path does not change.

The engine-facing half is written once, async, in :mod:`twat_cache._async.fresh`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
from collections.abc import Awaitable, Callable
from time import time
from typing import TYPE_CHECKING, Any, NamedTuple

from twat_cache.pipeline import DEFAULT

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.pipeline import TTL

__all__ = [
    "FRAME_SIZE",
    "FRESH_MARK",
    "Stale",
    "aspawn",
    "early_draw",
    "entry",
    "needs_refresh",
    "plain",
    "spawn",
    "unwrap",
]

logger = logging.getLogger("twat_cache")
FRESH_MARK = "__twat_fresh__"
FRAME_SIZE = 4
"""First item of a stored frame (a tuple survives pickle; JSON and msgpack make it a list)."""
# background refresh tasks, kept alive until they finish (the loop holds only weak references)
_tasks: set[asyncio.Task[Any]] = set()
# background refresh threads still running (twat_cache.testing.wait_for_refreshes joins them)
_threads: set[threading.Thread] = set()


class Stale(NamedTuple):
    """How a decorated function's call path serves frames (``stale_ttl=``, ``early_refresh=``).

    Attributes:
        frames: Ids of the stored frames under refresh: an in-process hit on one of
            them returns its value at once.
        early: Whether fresh frames may be refreshed early (XFetch).
        served: ``served(key, hit, args, kwargs)``: the value of a hit (a frame, or a
            plain value), starting the frame's refresh when it is due.
    """

    frames: set[int]
    early: bool
    served: Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def refreshes(config: CacheConfig) -> bool:
    """Whether a decorated function of ``config`` stores frames and refreshes them."""
    return config.stale_ttl is not None or config.early_refresh


def entry(config: CacheConfig, value: Any, took: float) -> tuple[Any, TTL]:
    """Return ``(what to store, its engine ttl)`` for a result that took ``took`` seconds."""
    ttl = config.ttl
    if ttl is None or not refreshes(config):
        return value, DEFAULT
    frame = (FRESH_MARK, time() + ttl, took, value)
    return frame, ttl + (config.stale_ttl or 0.0)


def unwrap(raw: Any) -> tuple[str, float, float, Any] | None:
    """Return a stored frame as a tuple; None for anything that is not one."""
    kind = type(raw)
    if (
        (kind is tuple or kind is list)
        and len(raw) == FRAME_SIZE
        and raw[0] == FRESH_MARK
        and isinstance(raw[1], (int, float))
        and isinstance(raw[2], (int, float))
    ):
        return FRESH_MARK, float(raw[1]), float(raw[2]), raw[3]
    return None


def plain(stored: Any) -> Any:
    """The value of a stored frame; anything else as it is.

    ``Cache.get`` of a decorated function's key (``f.cache_key(...)``) returns the
    function's result on every engine: a frame on a shared engine, a frame or (while
    its refresh runs) the plain value on an in-process one.

    Example:
        >>> plain((FRESH_MARK, 0.0, 0.1, "value")), plain(["a", "list"])
        ('value', ['a', 'list'])
    """
    kind = type(stored)
    if (kind is tuple or kind is list) and len(stored) == FRAME_SIZE and stored[0] == FRESH_MARK:
        return stored[3]
    return stored


def needs_refresh(fresh_until: float, took: float, early: bool) -> bool:
    """Whether a hit on a frame should refresh it: stale, or drawn early (see early_draw)."""
    return time() >= fresh_until or (early and early_draw(fresh_until, took))


def early_draw(fresh_until: float, took: float) -> bool:
    """Draw whether to refresh a fresh frame now (XFetch).

    A refresh is drawn with a chance that rises as expiry nears and as the
    function's time (``took``) grows, so that one caller refreshes a hot entry
    shortly before it expires instead of every caller after.
    """
    if took <= 0:
        return False
    draw = 1.0 - random.random()  # noqa: S311  # nosec B311 - in (0, 1]: log is defined
    return time() - took * math.log(draw) >= fresh_until


def spawn(refresh: Callable[[], Any]) -> None:
    """Run ``refresh`` in a background thread (the sync twin's background work)."""
    thread = threading.Thread(target=_run, args=(refresh,), name="twat-cache-refresh", daemon=True)
    _threads.add(thread)
    thread.start()


def _run(refresh: Callable[[], Any]) -> None:
    try:
        refresh()
    finally:
        _threads.discard(threading.current_thread())


def aspawn(refresh: Callable[[], Awaitable[Any]]) -> None:
    """Run ``refresh()`` as a task on the running loop (the async twin's background work)."""
    task = asyncio.ensure_future(refresh())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
