"""Policies between callers, the Cache and its engine: resilience, single flight, jitter."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final, TypeVar

from twat_cache.constants import DEFAULT_RETRY_AFTER
from twat_cache.stats import CacheStats  # its home before 3.1

__all__ = ["AsyncSingleFlight", "CacheStats", "CircuitBreaker", "SingleFlight", "jittered"]

logger = logging.getLogger("twat_cache")
T = TypeVar("T")


class CircuitBreaker:
    """Stops calling a backend that just failed, for ``retry_after`` seconds.

    A dead server then costs one timeout, not one per call. After the pause one
    call goes through (half-open); success closes the breaker, failure reopens it.

    Args:
        name: What is guarded (used in log messages).
        retry_after: Seconds to wait before trying the backend again.
    """

    def __init__(self, name: str, retry_after: float = DEFAULT_RETRY_AFTER) -> None:
        self.name = name
        self.retry_after = retry_after
        self.open_until = 0.0
        self.failures = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Return whether a call may go to the backend now."""
        if not self.open_until:
            return True
        with self._lock:
            now = time.monotonic()
            if now >= self.open_until:
                # half-open: let this one call through, keep the others out meanwhile
                self.open_until = now + self.retry_after
                return True
            return False

    def success(self) -> None:
        """Record a successful call."""
        if self.open_until:
            logger.info(
                "cache backend %s is back",
                self.name,
                extra={"cache": self.name, "engine": self.name},
            )
            self.open_until = 0.0
            self.failures = 0

    def failure(self, exc: BaseException) -> None:
        """Record a failed call; open the breaker (and log once per opening)."""
        with self._lock:
            self.failures += 1
            first = not self.open_until
            self.open_until = time.monotonic() + self.retry_after
        if first:
            logger.warning(
                "cache backend %s failed (%s: %s); left alone for %.1f s",
                self.name,
                type(exc).__name__,
                exc,
                self.retry_after,
                extra={"cache": self.name, "engine": self.name, "error": repr(exc)},
            )


def jittered(ttl: float | None, jitter: float) -> float | None:
    """Return ``ttl`` shortened by a random fraction of up to ``jitter``."""
    if ttl is None or not jitter:
        return ttl
    # a spread of expiry times, not a secret: the stdlib generator is right here
    return ttl * (1.0 - jitter * random.random())  # noqa: S311  # nosec B311


class _Flight:
    """One computation in progress: who runs it, and its outcome once done."""

    __slots__ = ("done", "ok", "owner", "result", "waiters")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.waiters = 0
        self.done = threading.Event()
        self.ok = False
        self.result: Any = None


class SingleFlight:
    """Concurrent misses of one key, in this process: one thread computes, the others wait.

    Stops a stampede: when a popular entry expires, one call recomputes it and the
    callers that arrive meanwhile get that result instead of each running the
    function. A caller re-entering for the key it is computing runs directly (no
    deadlock); if the computing call fails, each waiter computes for itself
    (exceptions are never shared, as they are never cached).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def waiting(self, key: Hashable) -> int:
        """How many callers wait for the computation of ``key`` now (0 when none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return 0 if flight is None else flight.waiters

    def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return ``compute()``, shared with concurrent callers for the same ``key``."""
        me = threading.get_ident()
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight(me)
            elif flight.owner != me:
                flight.waiters += 1
        if not leading and flight.owner == me:
            return compute()
        if leading:
            try:
                flight.result = compute()
                flight.ok = True
                return flight.result  # type: ignore[no-any-return]
            finally:
                with self._lock:
                    del self._flights[key]
                flight.done.set()
        flight.done.wait()
        if flight.ok:
            return flight.result  # type: ignore[no-any-return]
        return compute()


_FAILED: Final = object()


class AsyncSingleFlight:
    """:class:`SingleFlight` for coroutines: one task computes, the others await it."""

    def __init__(self) -> None:
        self._flights: dict[tuple[int, Hashable], tuple[asyncio.Future[Any], object]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """Return ``await compute()``, shared with concurrent tasks (same loop, same ``key``)."""
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        me = asyncio.current_task()
        entry = self._flights.get(slot)
        if entry is None:
            future: asyncio.Future[Any] = loop.create_future()
            self._flights[slot] = (future, me)
            try:
                result = await compute()
            except BaseException:
                future.set_result(_FAILED)
                raise
            else:
                future.set_result((result,))
            finally:
                del self._flights[slot]
            return result
        future, owner = entry
        if owner is me:
            return await compute()
        outcome = await asyncio.shield(future)
        if outcome is _FAILED:
            return await compute()
        return outcome[0]  # type: ignore[no-any-return]
