"""Generation-counter namespaces: ``clear()`` for stores that cannot list their keys.

memcached cannot enumerate a namespace, and ``flush_all`` would drop every
application's data. Instead each namespace has a counter, its *generation*,
stored beside the entries; an entry ``key`` lives under
``{namespace}:{generation}:{key}``, and ``clear()`` increments the counter, so
every older entry is never read again and the server's LRU reclaims it.

A counter created again (evicted, server restarted) starts at the current time
in nanoseconds, above every value it had before, so cleared entries never come
back. This module is the I/O-free part, shared by the memcached engine and the
aiocache engine's memcached store: names, first values, parsing.
"""

from __future__ import annotations

import time

from twat_cache.keys import fit_key

__all__ = ["COUNTER_DIGITS", "Generations"]

# a generation is time.time_ns() (19 digits until 2286) plus increments: 20 digits always suffice
COUNTER_DIGITS = 20
_HASHED = "#"  # hashed keys start with it; a literal key that does is hashed too


class Generations:
    """The keys of one generation-counter namespace.

    Args:
        namespace: The namespace.
        max_key_length: The store's longest key in bytes (memcached: 250); longer
            keys, and keys with spaces, control or non-ASCII characters, are
            hashed (core's :func:`~twat_cache.keys.fit_key`).

    Attributes:
        counter_key: Where the namespace's generation is stored.

    Example:
        >>> names = Generations("app")
        >>> names.counter_key, names.key(7, "user:1")
        ('app:__gen__', 'app:7:user:1')
    """

    __slots__ = ("_heads", "counter_key", "max_key_length", "namespace")

    def __init__(self, namespace: str, *, max_key_length: int = 250) -> None:
        self.namespace = namespace
        self.max_key_length = max_key_length
        self.counter_key = f"{namespace}:__gen__"
        self._heads: dict[int, str] = {}

    @staticmethod
    def overhead(namespace_length: int) -> int:
        """Return the most bytes the namespace and generation add in front of a key."""
        return namespace_length + COUNTER_DIGITS + 2

    @staticmethod
    def fresh() -> int:
        """Return the first value of a counter made (again) now: above every older one."""
        return time.time_ns()

    def parse(self, raw: bytes | str | int) -> int:
        """Return the generation stored as ``raw``.

        Raises:
            ValueError: when ``raw`` is not a decimal integer (someone else wrote the counter).
        """
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"the generation counter {self.counter_key!r} holds {raw!r}") from None

    def key(self, generation: int, key: str) -> str:
        """Return the store's key of entry ``key`` under ``generation``."""
        head = self._heads.get(generation)
        if head is None:
            if len(self._heads) > 8:  # generations only grow: keep the last few
                self._heads.clear()
            head = self._heads[generation] = f"{self.namespace}:{generation}:"
        return fit_key(head, key, self.max_key_length, _HASHED)
