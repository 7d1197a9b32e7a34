"""Policies that sit between the Cache and its engine: resilience, TTL jitter, stats."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, fields

__all__ = ["CacheStats", "CircuitBreaker", "jittered"]

logger = logging.getLogger("twat_cache")


@dataclass
class CacheStats:
    """Counters of one cache (plain integers, updated without locks).

    Attributes:
        hits: Lookups that found a live entry.
        misses: Lookups that found nothing (or a stale, corrupt or tampered entry).
        sets: Entries written.
        deletes: Entries removed by ``delete``/``invalidate``.
        errors: Backend failures absorbed by fail-open.
        corrupt: Entries rejected as corrupt or tampered (counted as misses too).
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    errors: int = 0
    corrupt: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def reset(self) -> None:
        """Set every counter to zero."""
        for f in fields(self):
            setattr(self, f.name, 0)

    @property
    def hit_rate(self) -> float:
        """Hits divided by lookups (0.0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CircuitBreaker:
    """Stops calling a backend that just failed, for ``retry_after`` seconds.

    A dead server then costs one timeout, not one per call. After the pause one
    call goes through (half-open); success closes the breaker, failure reopens it.

    Args:
        name: What is guarded (used in log messages).
        retry_after: Seconds to wait before trying the backend again.
    """

    def __init__(self, name: str, retry_after: float = 5.0) -> None:
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
            logger.info("cache backend %s is back", self.name, extra={"engine": self.name})
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
                extra={"engine": self.name, "error": repr(exc)},
            )


def jittered(ttl: float | None, jitter: float) -> float | None:
    """Return ``ttl`` shortened by a random fraction of up to ``jitter``."""
    if ttl is None or not jitter:
        return ttl
    # a spread of expiry times, not a secret: the stdlib generator is right here
    return ttl * (1.0 - jitter * random.random())  # noqa: S311  # nosec B311
