"""Signed 64-bit counters on memcached, whose own ``incr`` and ``decr`` are unsigned.

A positive step on a value of zero or more uses memcached's ``incr`` (one round
trip, atomic); a result past 2**63 - 1 is taken back with ``decr`` (no wrap is
possible: both numbers were below 2**63) and raised as an ``OverflowError``. A
negative step, or a value below zero, is a compare-and-swap (``gets`` + ``cas``)
retried while other clients change the value; memcached's text protocol cannot
read an entry's expiry, so such a write keeps the counter without its ttl.
"""

from __future__ import annotations

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError
from twat_cache.engines.integers import INT64_MAX, checked_sum, overflow_error, parse_int
from twat_cache.exceptions import BackendError
from twat_cache.serializers import encode_int

from twat_cache_memcached.ring import Node, Ring

__all__ = ["CAS_ATTEMPTS", "incr"]

CAS_ATTEMPTS = 100  # compare-and-swap rounds of one incr before contention is a failure


def incr(ring: Ring, node: Node, name: str, key: str, delta: int) -> int:
    """Add ``delta`` to the integer stored as ``name`` on ``node``; return the result.

    Args:
        ring: The ring whose connections are used.
        node: The server holding the entry.
        name: The entry's memcached key.
        key: The entry's key, for messages.
        delta: What to add (negative: subtract).

    Raises:
        ValueError: when the entry is absent.
        TypeError: when the value is not a signed 64-bit decimal integer.
        OverflowError: when the result leaves the signed 64-bit range (the value stays).
        BackendError: when the server fails, or the value kept changing under the swap.
    """
    if 0 <= delta <= INT64_MAX:
        try:
            value = ring.call(node, Client.incr, name, delta)
        except MemcacheClientError:
            value = -1  # not an unsigned number: maybe a negative one, swapped below
        if value is None:
            raise ValueError(f"key {key!r} not found")
        if 0 <= value <= INT64_MAX:
            return int(value)
        if value > INT64_MAX:
            ring.call(node, Client.decr, name, delta)
            raise overflow_error(key, delta)
    for _ in range(CAS_ATTEMPTS):
        raw, token = ring.call(node, Client.gets, name)
        if raw is None:
            raise ValueError(f"key {key!r} not found")
        result = checked_sum(key, parse_int(key, raw), delta)
        if ring.call(node, Client.cas, name, encode_int(result), token, 0):
            return result
    raise BackendError(
        f"memcached {node.name}: {key!r} changed {CAS_ATTEMPTS} times during one incr",
        server=node.name,
    )
