"""The I/O-free half of the fleet-wide computation lock (``lock=True``).

The engine-facing half is written once, async, in :mod:`twat_cache._async.locks`
(its sync twin is generated). A lock is an entry added with the engine's atomic
``add`` under ``LOCK_PREFIX + key``: its value is a random token that only its
holder knows, and its ttl (``lock_ttl``) frees it when the holder crashed.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from twat_cache.constants import LOCK_PREFIX
from twat_cache.pipeline import MISSING

if TYPE_CHECKING:
    from twat_cache.pipeline import Pipeline

__all__ = [
    "LOCK_PREFIX",
    "LONGEST_WAKEUP_WAIT",
    "AsyncMany",
    "Many",
    "asleep",
    "backoff",
    "holds",
    "new_token",
    "sleep",
    "uncount",
    "uses_lock",
]

# a computation of many keys at once (batch=True): an outcome per key it is given
Many = Callable[[list[Any]], Mapping[Any, Any]]
AsyncMany = Callable[[list[Any]], Awaitable[Mapping[Any, Any]]]

# names the generated twins call: ``asleep`` in the async source becomes ``sleep``
asleep = asyncio.sleep
sleep = time.sleep

# a waiter's first poll comes soon (most computations are short), later ones less often
FIRST_POLL = 0.005
LAST_POLL = 0.05
# a waiter sleeping on the engine's wake-up looks at the lock again at least this often
# (a crashed holder wakes nobody; its lock then expires after lock_ttl)
LONGEST_WAKEUP_WAIT = 1.0


def uses_lock(cache: Pipeline, lock: bool | None = None) -> bool:
    """Whether misses of ``cache`` take the fleet-wide lock (``lock``: the cache's option).

    An engine no other process sees needs none: the in-process single flight
    already runs a key's function once; an engine whose ``add`` is not atomic
    cannot hold a lock.
    """
    capabilities = cache.capabilities
    wanted = cache.config.lock if lock is None else lock
    return wanted and capabilities.shared and capabilities.atomic_add


def new_token() -> bytes:
    """A random token that marks a lock as its holder's."""
    return secrets.token_hex(16).encode()


def holds(raw: Any, token: bytes) -> bool:
    """Whether the lock value ``raw`` read from the engine is ``token``."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    return isinstance(raw, (bytes, bytearray)) and bytes(raw) == token


def uncount(cache: Pipeline, value: Any) -> Any:
    """Take back the hit or miss a waiter's look at the entry counted; return ``value``.

    The caller's miss was counted once already; polling is not a lookup of its own.
    """
    if value is MISSING:
        cache.stats.misses -= 1
    else:
        cache.stats.hits -= 1
    return value


def backoff(timeout: float) -> Iterator[float]:
    """Yield the pauses of a waiter until ``timeout`` passed: exponential, with jitter.

    The jitter keeps the waiters of many processes from polling in step.
    """
    deadline = time.monotonic() + timeout
    ceiling = FIRST_POLL
    while (left := deadline - time.monotonic()) > 0:
        yield min(left, random.uniform(ceiling / 2, ceiling))  # noqa: S311  # nosec B311
        ceiling = min(ceiling * 2, LAST_POLL)
