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

from collections.abc import AsyncIterator, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "AsyncBackend",
    "AsyncComparesAndDeletes",
    "AsyncWakesOnDelete",
    "Backend",
    "Capabilities",
    "ComparesAndDeletes",
    "InvalidationChannel",
    "ReportsEvictions",
    "Subscription",
    "WakesOnDelete",
    "capabilities_of",
    "derived_capabilities",
]


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do: a small frozen record that core reads.

    Core never probes an engine (no ``hasattr``, no catching
    ``NotImplementedError``): it reads this record, and the conformance kit checks
    that the engine keeps every promise made here.

    Attributes:
        lists_keys: ``keys()`` iterates the namespace (False: memcached).
        native_ttl: The storage expires entries itself (False: the engine checks
            an expiry time on read and purges later).
        atomic_add: ``add`` is atomic across every client of the storage.
        atomic_incr: ``incr`` is atomic across every client of the storage.
        native_async: The engine (or its ``make_async`` twin) talks to its
            storage with async I/O, no worker thread.
        stores_objects: Values are kept as Python objects (in-process engines):
            core skips serialization and may key on tuples.
        blocking: Calls may wait on I/O; False when every call returns at once,
            so async callers call it directly instead of through a thread.
        shared: Other processes see the same entries.
        persistent: Entries survive a restart of the process that wrote them.
        max_key_length: The longest key (in UTF-8 bytes) the storage accepts;
            core hashes longer keys before they reach the engine.
        max_value_size: The largest value in bytes (None: no limit of its own).
        invalidation_channel: The engine's ``invalidation_channel()`` returns an
            :class:`InvalidationChannel` (Redis pub/sub, PostgreSQL LISTEN/NOTIFY)
            that keeps near copies of its entries coherent (see docs/tiers.md).
        reports_evictions: The engine counts, in an ``evictions`` integer
            attribute (:class:`ReportsEvictions`), the entries it dropped to stay
            within ``maxsize``/``maxbytes`` (not those that expired or were
            deleted); core's statistics read it.
        compare_and_delete: The engine's ``delete_if(key, value)``
            (:class:`ComparesAndDeletes`) removes ``key`` only while it holds
            ``value``, in one atomic step; core releases its locks with it (without
            it: a read, then a delete).
        delete_wakeups: The engine's ``wait_deleted(key, value, timeout)``
            (:class:`WakesOnDelete`) returns as soon as ``delete_if(key, value)``
            succeeds in any process; lock waiters sleep on it instead of polling.
            Requires ``compare_and_delete``.
    """

    lists_keys: bool = True
    native_ttl: bool = True
    atomic_add: bool = True
    atomic_incr: bool = True
    native_async: bool = False
    stores_objects: bool = False
    blocking: bool = True
    shared: bool = True
    persistent: bool = False
    max_key_length: int | None = None
    max_value_size: int | None = None
    invalidation_channel: bool = False
    reports_evictions: bool = False
    compare_and_delete: bool = False
    delete_wakeups: bool = False


class ReportsEvictions(Protocol):
    """An engine whose capabilities say ``reports_evictions=True``."""

    @property
    def evictions(self) -> int:
        """How many entries the engine dropped to stay within its limits, since it was created."""
        ...


class ComparesAndDeletes(Protocol):
    """A sync engine whose capabilities say ``compare_and_delete=True``."""

    def delete_if(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only if it holds ``value``, atomically; return whether it was removed."""
        ...


class AsyncComparesAndDeletes(Protocol):
    """An async engine whose capabilities say ``compare_and_delete=True``."""

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only if it holds ``value``, atomically; return whether it was removed."""
        ...


class WakesOnDelete(ComparesAndDeletes, Protocol):
    """A sync engine whose capabilities say ``delete_wakeups=True``."""

    def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """Wait until ``delete_if(key, value)`` succeeded (in any process), for ``timeout`` s.

        Return True as soon as it did (also when it did shortly before the call:
        a success is remembered for a few seconds), False when ``timeout`` ran out.
        """
        ...


class AsyncWakesOnDelete(AsyncComparesAndDeletes, Protocol):
    """An async engine whose capabilities say ``delete_wakeups=True``."""

    async def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """Wait until ``delete_if(key, value)`` succeeded (in any process), for ``timeout`` s."""
        ...


class Subscription(Protocol):
    """A live subscription to an :class:`InvalidationChannel`, on its own connection."""

    def receive(self, timeout: float) -> list[str]:
        """Return the messages that arrived within ``timeout`` seconds (maybe none).

        Raises:
            Exception: any error means the subscription is lost (messages may be
                missed); the caller closes it and subscribes again.
        """
        ...

    def close(self) -> None:
        """Close the subscription's connection."""
        ...


class InvalidationChannel(Protocol):
    """Messages between every process using one namespace of a shared engine.

    An engine whose capabilities say ``invalidation_channel=True`` returns one
    from ``invalidation_channel()``. Core's tiers publish the keys and tags they
    change on it, and drop their near copies when another process does.
    """

    def publish(self, message: str) -> None:
        """Send ``message`` to every subscriber of the namespace (this one included)."""
        ...

    def subscribe(self) -> Subscription:
        """Return a subscription that receives every message published after this returns."""
        ...

    def close(self) -> None:
        """Close the publishing connection (subscriptions are closed on their own)."""
        ...


def capabilities_of(backend: object) -> Capabilities:
    """Return ``backend.capabilities``; engines written before the record get one derived.

    An engine without a ``capabilities`` attribute is described from its older
    ``stores_objects``, ``blocking`` and ``supports_keys`` attributes, with the
    record's defaults.
    """
    declared = getattr(backend, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    return derived_capabilities(backend)


def derived_capabilities(backend: object) -> Capabilities:
    """The record of an engine that declares none.

    Read from the attributes engines had before the record: ``stores_objects``,
    ``blocking`` and ``supports_keys`` (False: ``keys()`` raises).
    """
    stores_objects = bool(getattr(backend, "stores_objects", False))
    return Capabilities(
        lists_keys=bool(getattr(backend, "supports_keys", True)),
        stores_objects=stores_objects,
        blocking=bool(getattr(backend, "blocking", True)),
        shared=not stores_objects,
    )


class Described(Protocol):
    """What every engine, sync or async, tells about itself."""

    @property
    def namespace(self) -> str:
        """The namespace every key of this engine lives in."""

    @property
    def stores_objects(self) -> bool:
        """Whether values are kept as Python objects (in-process engines)."""

    @property
    def capabilities(self) -> Capabilities:
        """What the engine can do (see :class:`Capabilities`)."""


@runtime_checkable
class Backend(Described, Protocol):
    """A synchronous storage engine.

    Attributes:
        namespace: Every key of this backend lives in this namespace; ``clear()``
            and ``keys()`` touch nothing outside it.
        stores_objects: True for in-process engines that keep Python objects as
            they are (core then skips serialization and may use tuple keys).
        capabilities: What the engine can do (see :class:`Capabilities`); core
            reads this record rather than probing the engine.
    """

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None`` when absent or expired."""

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys`` (absent ones are left out)."""

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key``, replacing any entry, for ``ttl`` seconds.

        Return whether the value was stored (False: the storage refused it, e.g.
        too large); a failure of the storage raises instead.
        """

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl``; return whether all were stored."""

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

    def keys(self) -> Iterator[Hashable]:
        """Iterate over the keys of this namespace (for inspection; may be slow).

        ``str`` keys, except on in-process engines (any hashable). An engine whose
        capabilities say ``lists_keys=False`` raises CacheOperationError.
        """

    def close(self) -> None:
        """Release connections and files. Idempotent; later operations raise."""


@runtime_checkable
class AsyncBackend(Described, Protocol):
    """An asynchronous storage engine: the same contract as :class:`Backend`."""

    async def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``."""

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds; return whether it was stored."""

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl``; return whether all were stored."""

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

    def keys(self) -> AsyncIterator[Hashable]:
        """Iterate over the keys of this namespace."""

    async def close(self) -> None:
        """Release connections. Idempotent; later operations raise."""
