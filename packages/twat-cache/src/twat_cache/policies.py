"""Policies between callers, the Cache and its engine: resilience, single flight, jitter."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Final, TypeVar

from twat_cache.constants import DEFAULT_RETRY_AFTER
from twat_cache.stats import CacheStats  # its home before 3.1

__all__ = [
    "AsyncBatchFlight",
    "AsyncSingleFlight",
    "BatchFlight",
    "CacheStats",
    "CircuitBreaker",
    "SingleFlight",
    "jittered",
]

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


# what a batch computation answers: an outcome per key it was given
Outcomes = Mapping[Hashable, Any]


class _Batch:
    """One batch computation in progress: who runs it, and its outcomes once done."""

    __slots__ = ("done", "outcomes", "owner", "waiters")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.waiters = 0
        self.done = threading.Event()
        self.outcomes: Outcomes | None = None  # None: the computation failed


class BatchFlight:
    """Single flight per key for computations of many keys at once (``batch=True``).

    A caller computes, in one call, the keys no other thread is computing; for
    the keys another thread is computing it waits and takes that thread's
    outcomes. A key whose computing call failed (or left it out) is computed
    again by each waiter (exceptions are never shared); a thread re-entering
    for keys it is computing computes them directly (no deadlock). A caller
    computes its own keys before it waits, so two callers never wait on each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Batch] = {}

    def waiting(self, key: Hashable) -> int:
        """How many callers wait for the computation of ``key`` now (0 when none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return 0 if flight is None else flight.waiters

    def run(
        self, keys: Sequence[Hashable], compute: Callable[[list[Hashable]], Outcomes]
    ) -> dict[Hashable, Any]:
        """Return ``{key: outcome}`` for ``keys``, sharing computations with concurrent callers.

        ``compute(keys)`` returns an outcome for each key it is given.
        """
        me = threading.get_ident()
        mine = _Batch(me)
        leading: list[Hashable] = []
        direct: list[Hashable] = []
        theirs: list[tuple[Hashable, _Batch]] = []
        with self._lock:
            for key in keys:
                flight = self._flights.get(key)
                if flight is None:
                    self._flights[key] = mine
                    leading.append(key)
                elif flight.owner == me:
                    direct.append(key)
                else:
                    flight.waiters += 1
                    theirs.append((key, flight))
        outcomes: dict[Hashable, Any] = {}
        if leading or direct:
            try:
                mine.outcomes = compute([*leading, *direct])
                outcomes.update(mine.outcomes)
            finally:
                with self._lock:
                    for key in leading:
                        del self._flights[key]
                mine.done.set()
        again: list[Hashable] = []
        for key, flight in theirs:
            flight.done.wait()
            if flight.outcomes is not None and key in flight.outcomes:
                outcomes[key] = flight.outcomes[key]
            else:
                again.append(key)
        if again:
            outcomes.update(compute(again))
        return outcomes


class AsyncBatchFlight:
    """:class:`BatchFlight` for coroutines: tasks of one loop share their computations."""

    def __init__(self) -> None:
        self._flights: dict[tuple[int, Hashable], tuple[asyncio.Future[Any], object]] = {}

    async def run(
        self, keys: Sequence[Hashable], compute: Callable[[list[Hashable]], Awaitable[Outcomes]]
    ) -> dict[Hashable, Any]:
        """Return ``{key: outcome}`` for ``keys`` (see :meth:`BatchFlight.run`)."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        flights = self._flights
        leading: list[Hashable] = []
        direct: list[Hashable] = []
        theirs: list[tuple[Hashable, asyncio.Future[Any]]] = []
        for key in keys:
            entry = flights.get((id(loop), key))
            if entry is None:
                leading.append(key)
            elif entry[1] is me:
                direct.append(key)
            else:
                theirs.append((key, entry[0]))
        outcomes: dict[Hashable, Any] = {}
        if leading or direct:
            future: asyncio.Future[Any] = loop.create_future()
            for key in leading:
                flights[(id(loop), key)] = (future, me)
            try:
                computed = await compute([*leading, *direct])
            except BaseException:
                future.set_result(_FAILED)
                raise
            else:
                future.set_result(computed)
            finally:
                for key in leading:
                    del flights[(id(loop), key)]
            outcomes.update(computed)
        return await self._awaited(theirs, outcomes, compute)

    @staticmethod
    async def _awaited(
        theirs: list[tuple[Hashable, asyncio.Future[Any]]],
        outcomes: dict[Hashable, Any],
        compute: Callable[[list[Hashable]], Awaitable[Outcomes]],
    ) -> dict[Hashable, Any]:
        """Add the outcomes other tasks computed; compute those they failed to."""
        again: list[Hashable] = []
        for key, waited in theirs:
            done = await asyncio.shield(waited)
            if done is not _FAILED and key in done:
                outcomes[key] = done[key]
            else:
                again.append(key)
        if again:
            outcomes.update(await compute(again))
        return outcomes
