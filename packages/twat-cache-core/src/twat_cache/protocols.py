"""The storage contract: what an engine implements.

An engine stores ``bytes`` under ``str`` keys, relative to the namespace it was
created with, and never sees a Python object -- except in-process engines,
which declare ``stores_objects = True`` and keep values as they are (keys may
then be any hashable). A ``ttl`` is in seconds; ``None`` means the entry never
expires.

Integers are the one value all engines understand: core stores a plain ``int``
as its ASCII decimal form (``b"42"``) so that :meth:`Backend.incr` maps to the
server's atomic increment. ``incr`` on a missing key raises ``ValueError`` and
on a value that is not an integer ``TypeError`` (Django's contract).

An engine implements :class:`Backend`, :class:`AsyncBackend`, or both; core
adapts the other side (see :mod:`twat_cache.adapters`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["AsyncBackend", "Backend"]


@runtime_checkable
class Backend(Protocol):
    """A synchronous storage engine.

    Attributes:
        namespace: Every key of this backend lives in this namespace; ``clear()``
            and ``keys()`` touch nothing outside it.
        stores_objects: True for in-process engines that keep Python objects as
            they are (core then skips serialization and may use tuple keys).
        blocking: False when every call returns at once (in-process engines), so
            async callers may call it directly instead of through a thread.
    """

    namespace: str
    stores_objects: bool
    blocking: bool

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None`` when absent or expired."""

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys`` (absent ones are left out)."""

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any entry, for ``ttl`` seconds."""

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``."""

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; atomic. Return whether it was stored."""

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; return how many were present."""

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``; return whether it was present."""

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically and return the result."""

    def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""

    def keys(self) -> Iterator[str]:
        """Iterate over the keys of this namespace (for inspection; may be slow)."""

    def close(self) -> None:
        """Release connections and files. Idempotent; later operations raise."""


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous storage engine: the same contract as :class:`Backend`."""

    namespace: str
    stores_objects: bool

    async def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``."""

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``."""

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; atomic."""

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; return how many were present."""

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``; return whether it was present."""

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically."""

    async def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""

    def keys(self) -> AsyncIterator[str]:
        """Iterate over the keys of this namespace."""

    async def close(self) -> None:
        """Release connections. Idempotent; later operations raise."""
