"""Serving stale values and refreshing early (``stale_ttl=``, ``early_refresh=True``).

This async module is the source; ``twat_cache/_sync/fresh.py`` is generated from
it by ``bash tools/unasync``. It builds a decorated function's call path only
when one of the options is set: a hit on a frame (see :mod:`twat_cache.freshness`)
returns its value at once, and when the frame is stale (or XFetch says so) one
caller per key per process starts a refresh in the background -- a thread for a
sync function, a task for a coroutine. With ``lock=True`` the refresh takes the
fleet-wide lock first, so one process of the fleet refreshes.
"""

from __future__ import annotations

import logging
from time import time
from typing import TYPE_CHECKING, Any

from twat_cache._async.locks import alocked
from twat_cache.freshness import (
    FRAME_SIZE,
    FRESH_MARK,
    Stale,
    aspawn,
    early_draw,
    refreshes,
    unwrap,
)
from twat_cache.locking import uses_lock
from twat_cache.pipeline import NONE_VALUE, AsyncCached, AsyncMiss

if TYPE_CHECKING:
    from twat_cache._async.ops import AsyncOps
    from twat_cache.pipeline import KeyOf

__all__ = ["afresh_path"]

logger = logging.getLogger("twat_cache")


def afresh_path(
    cache: AsyncOps, key_of: KeyOf, nargs: int, on_miss: AsyncMiss, store_result: AsyncMiss
) -> AsyncCached:
    """Return the call path of a decorated function, serving stale values when asked to.

    Args:
        cache: The decorated function's cache.
        key_of: Builds the key of a call.
        nargs: See :meth:`~twat_cache.Cache.hit_path`.
        on_miss: Computes, stores and returns the result on a miss.
        store_result: Runs the function and stores its result (a frame).
    """
    config = cache.config
    if not refreshes(config):
        return cache.ahit_path(key_of, nargs, on_miss)
    early, stale_ttl = config.early_refresh, config.stale_ttl or 0.0
    lock = uses_lock(cache)
    # in-process hits are served inline: while a frame is refreshed, its value is stored as a
    # plain entry, so that those hits cost a plain hit (the refresh's frame replaces it)
    hold = cache.backend if cache.inline_hits else None
    refreshing: set[Any] = set()
    # frames under refresh, by identity: an in-process engine hands back the stored object
    # itself, so that repeated stale hits skip building the key
    frames: set[int] = set()

    async def arefresh(key: Any, got: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            if lock:  # one refresh in the fleet: a busy lock means another is refreshing
                await alocked(cache, key, lambda: store_result(key, args, kwargs), refresh=True)
            else:
                await store_result(key, args, kwargs)
        except Exception as exc:  # the stale value stays until stale_ttl runs out
            logger.warning(
                "cache %s: refreshing %r failed, the stale value stays: %s", cache.name, key, exc,
                extra={"cache": cache.name, "key": str(key), "error": repr(exc)},
            )  # fmt: skip
            if hold is not None:  # the frame again, so that a later hit tries once more
                put_back(key, got)
        finally:
            refreshing.discard(key)
            frames.discard(id(got))

    def held(got: Any) -> tuple[Any, float]:
        """The plain entry that stands for a stale frame, and its remaining lifetime."""
        value = got[3]
        return NONE_VALUE if value is None else value, got[1] + stale_ttl - time()

    def put_back(key: Any, got: Any) -> None:
        plain, left = held(got)
        if left > 0 and hold is not None and hold.get(key) is plain:
            hold.set(key, got, left)

    def served(key: Any, got: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if type(got) is not tuple or len(got) != FRAME_SIZE or got[0] != FRESH_MARK:
            frame = unwrap(got)  # a list (JSON, msgpack), or a value stored without a frame
            if frame is None:
                return got
            got = frame
        fresh_until, took, value = got[1], got[2], got[3]
        if (time() >= fresh_until or (early and early_draw(fresh_until, took))) and id(
            got
        ) not in frames:
            if key is None:
                key = key_of(args, kwargs)
            if key not in refreshing:
                refreshing.add(key)
                frames.add(id(got))
                if hold is not None:
                    plain, left = held(got)
                    if left > 0:
                        hold.set(key, plain, left)
                aspawn(lambda: arefresh(key, got, args, kwargs))
        return value

    return cache.ahit_path(key_of, nargs, on_miss, Stale(frames, early, served))
