"""Signed 64-bit counters on memcached, whose own ``incr`` and ``decr`` are unsigned.

A positive step on a value of zero or more uses memcached's ``incr`` (one round
trip, atomic); a result past 2**63 - 1 is taken back with ``decr`` (no wrap is
possible: both numbers were below 2**63) and raised as an ``OverflowError``. A
negative step, or a value below zero, is a compare-and-swap retried while other
clients change the value: a meta get (``mg <key> v t c``: the value, the seconds
it has left and its CAS number), then a meta set on that CAS number with the same
expiry (``ms <key> <size> T<left> C<cas>``), so the counter keeps its ttl. A server
before 1.6 has no meta commands: there the swap is ``gets`` + ``cas``, and the text
protocol cannot read an expiry, so such a write leaves the counter without its ttl.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheUnknownCommandError
from twat_cache.engines.integers import INT64_MAX, checked_sum, overflow_error, parse_int
from twat_cache.exceptions import BackendError
from twat_cache.serializers import encode_int

from twat_cache_memcached.protocol import kept_exptime, meta_cas, meta_gets
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
    raw_name = name.encode()
    try:
        return _swap(
            node,
            key,
            delta,
            lambda: ring.call(node, meta_gets, raw_name),
            lambda value, read: ring.call(
                node, meta_cas, raw_name, value, kept_exptime(read[1]), read[2]
            ),
        )
    except MemcacheUnknownCommandError:  # before 1.6: no meta commands, no way to read the ttl
        return _swap(
            node,
            key,
            delta,
            lambda: _present(ring.call(node, Client.gets, name)),
            lambda value, read: ring.call(node, Client.cas, name, value, read[1], 0),
        )


def _present(read: tuple[Any, Any]) -> tuple[Any, Any] | None:
    return None if read[0] is None else read


def _swap(
    node: Node,
    key: str,
    delta: int,
    read: Callable[[], tuple[Any, ...] | None],
    write: Callable[[bytes, tuple[Any, ...]], bool | None],
) -> int:
    """Compare-and-swap until no other client changed the value in between.

    ``read()`` gives ``(value, ...)`` or None when absent; ``write(new, read)`` stores
    ``new`` if the entry is still as read: True, False (changed), None (gone).
    """
    for _ in range(CAS_ATTEMPTS):
        found = read()
        if found is None:
            raise ValueError(f"key {key!r} not found")
        result = checked_sum(key, parse_int(key, found[0]), delta)
        stored = write(encode_int(result), found)
        if stored is None:
            raise ValueError(f"key {key!r} not found")
        if stored:
            return result
    raise BackendError(
        f"memcached {node.name}: {key!r} changed {CAS_ATTEMPTS} times during one incr",
        server=node.name,
    )
