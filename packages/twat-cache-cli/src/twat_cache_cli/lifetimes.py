"""Remaining lifetimes of stored entries, for ``info`` and ``report``.

Engines record when an entry expires, not when it was written, so "oldest" and
"newest" are shown as the entries that expire first and last: under one default
TTL that is the order they were written in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from twat_cache import Cache
from twat_cache.exceptions import BackendError
from twat_cache.protocols import NEVER_EXPIRES

from twat_cache_cli.commands import where

__all__ = ["AGE_NOTE", "READ_BATCH", "lifetimes", "ttl_buckets", "ttl_text"]

READ_BATCH: Final = 500  # expiry times read per engine call
SHOWN: Final = 3  # entries listed as expiring first and last
AGE_NOTE: Final = (
    "not recorded (engines keep when an entry expires, not when it was written); "
    "under one default TTL, the first to expire is the oldest"
)

# (upper bound in seconds, label) of the TTL histogram, in order
_BUCKETS: Final = (
    (60.0, "< 1 min"),
    (600.0, "1-10 min"),
    (3600.0, "10-60 min"),
    (86400.0, "1-24 h"),
    (7 * 86400.0, "1-7 d"),
    (float("inf"), "> 7 d"),
)
NO_EXPIRY: Final = "no expiry"


def ttl_text(seconds: float | None) -> str:
    """A remaining lifetime for people.

    Example:
        >>> ttl_text(90), ttl_text(7200), ttl_text(None)
        ('1.5 min', '2.0 h', 'no expiry')
    """
    if seconds is None:
        return NO_EXPIRY
    for scale, unit in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if seconds >= scale:
            return f"{seconds / scale:.1f} {unit}"
    return f"{seconds:.0f} s"


def ttl_buckets(remaining: Sequence[float | None]) -> list[tuple[str, int]]:
    """Count remaining lifetimes in fixed buckets, shortest first (empty buckets left out).

    Example:
        >>> ttl_buckets([5, 30, 4000, None])
        [('< 1 min', 2), ('1-24 h', 1), ('no expiry', 1)]
    """
    counts = dict.fromkeys([label for _, label in _BUCKETS] + [NO_EXPIRY], 0)
    for left in remaining:
        if left is None:
            counts[NO_EXPIRY] += 1
        else:
            counts[next(label for bound, label in _BUCKETS if left < bound)] += 1
    return [(label, count) for label, count in counts.items() if count]


def lifetimes(cache: Cache, keys: Sequence[str]) -> dict[str, Any] | None:
    """The remaining lifetimes of ``keys`` (a sample): histogram, first and last to expire.

    Returns ``None`` when the engine cannot tell (``capabilities.reports_expiry``).
    Read from the engine in batches, like the entries (tag counters left out).

    Raises:
        BackendError: when the engine fails, with its exception as ``__cause__``.
    """
    if not cache.capabilities.reports_expiry or cache.capabilities.stores_objects:
        return None
    engine: Any = cache.backend  # reports_expiry: it has expiries()
    found: dict[str, float] = {}
    for start in range(0, len(keys), READ_BATCH):
        try:
            found.update(engine.expiries(list(keys[start : start + READ_BATCH])))
        except Exception as exc:  # any client exception is a backend failure, as in core
            raise BackendError(f"{where(cache)}: reading expiry times failed: {exc}") from exc
    now = time.time()
    remaining = {
        key: None if expires == NEVER_EXPIRES else expires - now
        for key, expires in found.items()
        if expires > now
    }
    expiring = sorted((left, key) for key, left in remaining.items() if left is not None)
    return {
        "histogram": dict(ttl_buckets(list(remaining.values()))),
        "expiring_first": [{"key": key, "ttl": left} for left, key in expiring[:SHOWN]],
        "expiring_last": [{"key": key, "ttl": left} for left, key in expiring[::-1][:SHOWN]],
    }
