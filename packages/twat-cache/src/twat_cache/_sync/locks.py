# GENERATED from packages/twat-cache/src/twat_cache/_async/locks.py
# by tools/unasync.py -- do not edit; run: bash tools/unasync
"""The fleet-wide computation lock (``lock=True``), written once.

This async module is the source; ``twat_cache/_sync/locks.py`` is generated from
it by ``bash tools/unasync``. On a miss, the caller that adds the lock entry
computes and stores the value; the others poll the entry until it appears. The
I/O-free steps (tokens, pauses) are in :mod:`twat_cache.locking`.

Release compares the token, then deletes: two engine calls, not one atomic step.
A holder therefore never deletes a lock that has outlived ``lock_ttl`` (it may be
another's by then); inside that time the lock is its own.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import TYPE_CHECKING, Any

from twat_cache.constants import LOCK_PREFIX
from twat_cache.exceptions import LockTimeoutError
from twat_cache.locking import backoff, holds, new_token, sleep, uncount, uses_lock
from twat_cache.pipeline import MISSING, Miss, SyncCall

if TYPE_CHECKING:
    from twat_cache._sync.ops import SyncOps

__all__ = ["locked", "locking"]


def release(cache: SyncOps, lock_key: Any, token: bytes, since: float) -> None:
    """Delete the lock ``lock_key`` if it is still the one taken with ``token`` at ``since``."""
    if time.monotonic() - since >= cache.config.lock_ttl:
        return  # expired: whoever holds it now is someone else
    backend = cache.backend
    if holds(cache._call(None, backend.get, lock_key), token):
        cache._call(False, backend.delete, lock_key)


def locked(cache: SyncOps, key: Any, compute: SyncCall[Any], *, refresh: bool = False) -> Any:
    """Return the value of ``key``, computed (and stored) once in the fleet.

    Args:
        cache: The cache (its engine is shared and adds atomically).
        key: The engine key of the entry.
        compute: Computes, stores and returns the value (no arguments).
        refresh: Replace a (stale) entry: the holder computes without looking at
            the entry, and a busy lock means another refreshes it (MISSING at once).

    Raises:
        LockTimeoutError: when another holds the lock past ``lock_timeout`` and
            ``on_lock_timeout="raise"``.
    """
    config = cache.config
    backend = cache.backend
    lock_key = cache._key(LOCK_PREFIX + str(key))
    token = new_token()
    for pause in chain((0.0,), backoff(config.lock_timeout)):
        if pause:
            sleep(pause)
        since = time.monotonic()
        taken = cache._call(None, backend.add, lock_key, token, config.lock_ttl)
        if taken is None:  # the engine failed (fail-open): nothing to wait for
            return compute()
        if taken:
            try:
                if refresh:
                    return compute()
                # the last holder may have stored the value since this caller missed
                value = uncount(cache, cache.lookup(key))
                return compute() if value is MISSING else value
            finally:
                release(cache, lock_key, token, since)
        if refresh:
            return MISSING
        value = uncount(cache, cache.lookup(key))
        if value is not MISSING:
            return value
    if config.on_lock_timeout == "raise":
        raise LockTimeoutError(
            f"cache {cache.name}: {key!r} still locked by another after {config.lock_timeout} s"
        )
    return compute()


def locking(cache: SyncOps, run: Miss) -> Miss:
    """Return the miss of a decorated function, under the lock when the cache uses one."""
    if not uses_lock(cache):
        return run

    def locked_run(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return locked(cache, key, lambda: run(key, args, kwargs))

    return locked_run
