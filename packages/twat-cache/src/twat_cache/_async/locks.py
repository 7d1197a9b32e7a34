"""The fleet-wide computation lock (``lock=True``), written once.

This async module is the source; ``twat_cache/_sync/locks.py`` is generated from
it by ``bash tools/unasync``. On a miss, the caller that adds the lock entry
computes and stores the value; the others wait for the entry to appear. The
I/O-free steps (tokens, pauses) are in :mod:`twat_cache.locking`.

Release is the engine's atomic compare-and-delete where its capabilities say
``compare_and_delete`` (Redis, PostgreSQL, SQLite, disk, memcached); elsewhere it compares
the token, then deletes: two engine calls, so a holder never deletes a lock that
has outlived ``lock_ttl`` (it may be another's by then). Waiters sleep on the
engine's wake-up where its capabilities say ``delete_wakeups`` (Redis,
PostgreSQL: the holder's release wakes them at once); elsewhere they poll with backoff.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from twat_cache.constants import LOCK_PREFIX
from twat_cache.exceptions import LockTimeoutError
from twat_cache.locking import (
    LONGEST_WAKEUP_WAIT,
    AsyncMany,
    asleep,
    backoff,
    holds,
    new_token,
    uncount,
    uses_lock,
)
from twat_cache.pipeline import MISSING, AsyncCall, AsyncMiss
from twat_cache.protocols import AsyncWakesOnDelete

if TYPE_CHECKING:
    from twat_cache._async.ops import AsyncOps

__all__ = ["alocked", "alocked_many", "alocking"]


async def arelease(cache: AsyncOps, lock_key: Any, token: bytes, since: float) -> None:
    """Delete the lock ``lock_key`` if it is still the one taken with ``token`` at ``since``."""
    backend = cache.async_backend
    if cache.capabilities.compare_and_delete:  # one atomic step, and it wakes the waiters
        engine = cast(AsyncWakesOnDelete, backend)
        await cache._acall(False, engine.delete_if, lock_key, token)
        return
    if time.monotonic() - since >= cache.config.lock_ttl:
        return  # expired: whoever holds it now is someone else
    if holds(await cache._acall(None, backend.get, lock_key), token):
        await cache._acall(False, backend.delete, lock_key)


async def asleep_until_released(cache: AsyncOps, lock_key: Any, deadline: float) -> bool:
    """Sleep until the lock's current holder releases it (at most until ``deadline``).

    Return False when the engine has no wake-up (or the holder is unknown or the
    engine failed): the caller then pauses on its own.
    """
    if not cache.capabilities.delete_wakeups:
        return False
    backend = cache.async_backend
    holder = await cache._acall(None, backend.get, lock_key)
    if not isinstance(holder, (bytes, bytearray, memoryview)):
        return False  # released (or another engine value) since: try again after a pause
    # a crashed holder never wakes anyone: look again now and then
    left = min(deadline - time.monotonic(), LONGEST_WAKEUP_WAIT)
    if left <= 0:
        return False
    engine = cast(AsyncWakesOnDelete, backend)
    woke = await cache._acall(None, engine.wait_deleted, lock_key, bytes(holder), left)
    return woke is not None


async def anext_turn(cache: AsyncOps, lock_key: Any, deadline: float, pauses: Any) -> bool | None:
    """Wait for the holder of ``lock_key``: on the engine's wake-up, or a pause of ``pauses``.

    Return True when its release woke this caller, False after a pause, None when
    ``lock_timeout`` (``deadline``) has passed.
    """
    if await asleep_until_released(cache, lock_key, deadline):
        return True if time.monotonic() < deadline else None
    pause = next(pauses, None)
    if pause is None:
        return None
    await asleep(pause)
    return False


async def aholding(
    cache: AsyncOps,
    key: Any,
    compute: AsyncCall[Any],
    refresh: bool,
    held: tuple[Any, bytes, float],
) -> Any:
    """Compute the value of ``key`` under the lock ``held`` (key, token, when taken); release it."""
    try:
        if refresh:
            return await compute()
        # the last holder may have stored the value since this caller missed
        value = uncount(cache, await cache.alookup(key))
        return await compute() if value is MISSING else value
    finally:
        await arelease(cache, *held)


async def alocked(
    cache: AsyncOps, key: Any, compute: AsyncCall[Any], *, refresh: bool = False
) -> Any:
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
    backend = cache.async_backend
    lock_key = cache._key(LOCK_PREFIX + str(key))
    token = new_token()
    deadline = time.monotonic() + config.lock_timeout
    pauses = backoff(config.lock_timeout)
    woken: bool | None = False
    while woken is not None:
        if woken:  # the holder released: its value is most likely stored
            value = uncount(cache, await cache.alookup(key))
            if value is not MISSING:
                return value
        since = time.monotonic()
        taken = await cache._acall(None, backend.add, lock_key, token, config.lock_ttl)
        if taken is None:  # the engine failed (fail-open): nothing to wait for
            return await compute()
        if taken:
            return await aholding(cache, key, compute, refresh, (lock_key, token, since))
        if refresh:
            return MISSING
        value = uncount(cache, await cache.alookup(key))
        if value is not MISSING:
            return value
        woken = await anext_turn(cache, lock_key, deadline, pauses)
    if config.on_lock_timeout == "raise":
        raise LockTimeoutError(
            f"cache {cache.name}: {key!r} still locked by another after {config.lock_timeout} s"
        )
    return await compute()


async def alocked_many(
    cache: AsyncOps,
    keys: list[Any],
    compute: AsyncMany,
    read: AsyncMany,
) -> dict[Any, Any]:
    """Return an outcome per key of ``keys``, each key computed once in the fleet.

    :func:`alocked` for many keys (``batch=True``): each key has its own lock.
    This caller computes, in one call per round, the keys whose lock it took (those
    the last holder has not stored meanwhile); for the keys another holds it
    reads until they appear, or their lock is freed (then it takes it), or
    ``lock_timeout`` passed.

    Args:
        cache: The cache (its engine is shared and adds atomically).
        keys: The engine keys of the entries.
        compute: Computes and stores the keys it is given; returns an outcome for each.
        read: Returns the live entries among the keys it is given (no stats counted).

    Raises:
        LockTimeoutError: when another holds a lock past ``lock_timeout`` and
            ``on_lock_timeout="raise"``.
    """
    config = cache.config
    backend = cache.async_backend
    token = new_token()
    outcomes: dict[Any, Any] = {}
    pending = list(keys)
    for pause in chain((0.0,), backoff(config.lock_timeout)):
        if pause:
            await asleep(pause)
        held: dict[Any, tuple[Any, float]] = {}  # key -> (its lock key, when taken)
        unlocked: list[Any] = []  # the engine failed (fail-open): computed without a lock
        for key in pending:
            lock_key = cache._key(LOCK_PREFIX + str(key))
            since = time.monotonic()
            taken = await cache._acall(None, backend.add, lock_key, token, config.lock_ttl)
            if taken is None:
                unlocked.append(key)
            elif taken:
                held[key] = (lock_key, since)
        try:
            if held:  # the last holder may have stored some since this caller missed
                outcomes.update(await read(list(held)))
            todo = [key for key in (*held, *unlocked) if key not in outcomes]
            if todo:
                outcomes.update(await compute(todo))
        finally:
            for lock_key, since in held.values():
                await arelease(cache, lock_key, token, since)
        pending = [key for key in pending if key not in outcomes]
        if pending:
            outcomes.update(await read(pending))
            pending = [key for key in pending if key not in outcomes]
        if not pending:
            return outcomes
    if config.on_lock_timeout == "raise":
        raise LockTimeoutError(
            f"cache {cache.name}: {pending[0]!r} still locked by another "
            f"after {config.lock_timeout} s"
        )
    outcomes.update(await compute(pending))
    return outcomes


def alocking(cache: AsyncOps, arun: AsyncMiss) -> AsyncMiss:
    """Return the miss of a decorated function, under the lock when the cache uses one."""
    if not uses_lock(cache):
        return arun

    async def alocked_run(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await alocked(cache, key, lambda: arun(key, args, kwargs))

    return alocked_run
