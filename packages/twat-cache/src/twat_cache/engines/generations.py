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
_REMEMBERED = 4096  # names kept for the current generation (then forgotten at once)


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

    __slots__ = ("_current", "counter_key", "max_key_length", "namespace")

    def __init__(self, namespace: str, *, max_key_length: int = 250) -> None:
        self.namespace = namespace
        self.max_key_length = max_key_length
        self.counter_key = f"{namespace}:__gen__"
        # the names of one generation, by key (a cache hit asks for the same key again); one
        # tuple, read once per call, so that threads never mix two generations' names
        self._current: tuple[int, dict[str, str]] = (-1, {})

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
        current = self._current
        if current[0] == generation:
            name = current[1].get(key)
            if name is not None:
                return name
        else:
            current = self._current = (generation, {})
        name = fit_key(f"{self.namespace}:{generation}:", key, self.max_key_length, _HASHED)
        names = current[1]
        if len(names) >= _REMEMBERED:
            names.clear()
        names[key] = name
        return name
