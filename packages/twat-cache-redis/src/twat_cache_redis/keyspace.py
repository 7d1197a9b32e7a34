"""Where a namespace's entries live in Redis, shared by the sync and async engines.

An entry ``key`` of namespace ``ns`` is the Redis key ``ns:key`` (UTF-8). No
hash tag is added: on a Cluster a namespace's keys spread over every slot and
node, so batch commands are split by slot (:func:`by_slot`) and ``clear()``
scans every primary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.crc import key_slot
from twat_cache.protocols import NEVER_EXPIRES

__all__ = [
    "SCAN_COUNT",
    "Keyspace",
    "by_key",
    "by_slot",
    "expiry_times",
    "found",
    "ttl_ms",
    "version_of",
]

# SCAN's COUNT hint and the size of each UNLINK batch of clear()
SCAN_COUNT = 1000

_GLOB_SPECIAL = frozenset(b"*?[]\\")


class Keyspace:
    """The Redis keys of one namespace.

    Args:
        namespace: The namespace; its entries are the keys ``namespace:*``.

    Example:
        >>> Keyspace("app").key("user:1")
        b'app:user:1'
    """

    __slots__ = ("pattern", "prefix")

    def __init__(self, namespace: str) -> None:
        self.prefix = namespace.encode() + b":"
        self.pattern = _glob_escape(self.prefix) + b"*"

    def key(self, key: str) -> bytes:
        """Return the Redis key of entry ``key``."""
        return self.prefix + key.encode()

    def relative(self, physical: bytes | str) -> str:
        """Return the entry key of a Redis key of this namespace."""
        raw = physical.encode() if isinstance(physical, str) else physical
        return raw[len(self.prefix) :].decode(errors="replace")


def _glob_escape(text: bytes) -> bytes:
    return b"".join(b"\\" + bytes((c,)) if c in _GLOB_SPECIAL else bytes((c,)) for c in text)


def ttl_ms(ttl: float | None) -> int | None:
    """Return ``ttl`` seconds as whole milliseconds (at least 1), or ``None`` for no expiry."""
    if ttl is None:
        return None
    return max(1, math.ceil(ttl * 1000))


def by_slot(keys: Iterable[bytes]) -> list[list[bytes]]:
    """Group Redis keys by Cluster hash slot, so that each group is one multi-key command."""
    groups: dict[int, list[bytes]] = {}
    for key in keys:
        groups.setdefault(key_slot(key), []).append(key)
    return list(groups.values())


def by_key(
    groups: list[list[bytes]], replies: Sequence[Sequence[bytes | None]]
) -> dict[bytes, bytes | None]:
    """Map each Redis key to its value, from one MGET reply per group of :func:`by_slot`."""
    return {
        key: value
        for group, reply in zip(groups, replies, strict=True)
        for key, value in zip(group, reply, strict=True)
    }


def found(keys: Sequence[str], values: Sequence[bytes | None]) -> dict[str, bytes]:
    """Pair ``keys`` with MGET's ``values``, leaving out the absent ones."""
    return {k: v for k, v in zip(keys, values, strict=True) if v is not None}


def expiry_times(keys: Sequence[str], replies: Sequence[int], now: float) -> dict[str, float]:
    """Pair ``keys`` with PTTL ``replies`` as expiry times (-2: absent, left out; -1: never)."""
    times: dict[str, float] = {}
    for key, left in zip(keys, replies, strict=True):
        if left == -1:
            times[key] = NEVER_EXPIRES
        elif left >= 0:
            times[key] = now + left / 1000
    return times


def version_of(info: Mapping[str, Any]) -> str:
    """``Redis 7.0.15`` from ``INFO server`` (a Cluster answers per node: each version once).

    Example:
        >>> version_of({"redis_version": "7.0.15"})
        'Redis 7.0.15'
    """
    if "redis_version" in info:
        return f"Redis {info['redis_version']}"
    versions = sorted(
        {str(node["redis_version"]) for node in info.values() if isinstance(node, Mapping)}
    )
    return "Redis " + (", ".join(versions) or "(version not reported)")
