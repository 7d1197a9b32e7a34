"""Optional base classes for engines.

They derive the batch methods from the single ones (``get_many`` from ``get``,
``delete_many`` from ``delete``...), make ``close()`` idempotent, and give
:meth:`BaseBackend.from_config`, so that an engine implements its storage and
overrides only what its server does better natively.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from twat_cache.constants import DEFAULT_NAMESPACE
from twat_cache.exceptions import CacheOperationError, ConfigurationError
from twat_cache.legacy_names import module_getattr
from twat_cache.protocols import Capabilities, derived_capabilities

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - 3.10
    from typing_extensions import Self

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.protocols import AsyncBackend, Backend
    from twat_cache.urls import EngineURL

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "IN_PROCESS_CAPABILITIES",
    "BaseAsyncBackend",
    "BaseBackend",
    "ClosesOnExit",
    "check_int64",
    "check_limit",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def check_int64(value: int) -> int:
    """Return ``value`` if it fits a signed 64-bit integer (what every server's counter holds).

    Raises:
        OverflowError: otherwise, so that in-process engines answer as Redis does.
    """
    if not INT64_MIN <= value <= INT64_MAX:
        raise OverflowError(f"increment result {value} is outside the signed 64-bit range")
    return value


def check_limit(name: str, limit: int | None) -> int | None:
    """Return ``limit`` if it is None (no limit) or an ``int`` of at least 1.

    Args:
        name: The option's name, for the error.
        limit: The value given (``maxsize``, ``maxbytes``...).

    Raises:
        ConfigurationError: for anything else (``True`` and floats included).

    Example:
        >>> check_limit("maxsize", 10), check_limit("maxbytes", None)
        (10, None)
    """
    if limit is not None and (type(limit) is not int or limit < 1):
        raise ConfigurationError(name, limit, "a positive integer, or None for no limit")
    return limit


IN_PROCESS_CAPABILITIES: Final = Capabilities(
    native_ttl=False,
    stores_objects=True,
    blocking=False,
    shared=False,
    persistent=False,
    reports_evictions=True,
    reports_expiry=True,
)
"""What an in-process engine keeping Python objects in a dict can do.

Each entry's expiry is the engine's own record, checked on read; the engine
counts the entries it drops to stay within its limits (the built-in engine and
twat-cache-memory declare it).
"""


class ClosesOnExit:
    """``with obj:`` gives ``obj`` and calls its ``close()`` on the way out.

    Shared by :class:`BaseBackend` and :class:`~twat_cache.Cache`.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def close(self) -> None:
            """Release the object's resources (the subclass's own ``close``)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Lifecycle:
    """What both base classes share: namespace, construction from config, closed state.

    An engine declaring ``capabilities`` as a class attribute gets ``stores_objects``
    and ``blocking`` (the attributes engines had before the record) from it, unless
    it sets either itself.
    """

    stores_objects: bool = False
    blocking: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        declared = own.get("capabilities")
        if isinstance(declared, Capabilities) and not own.keys() & {"stores_objects", "blocking"}:
            # class attributes, as before: reading them costs what it did
            cls.stores_objects = declared.stores_objects
            cls.blocking = declared.blocking

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._closed = False

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> Self:
        """Build the engine from a validated config and its parsed URL.

        The default accepts no URL option. Engines override it to read theirs
        (with ``url.option_*``) and must not do network I/O here.

        Raises:
            ConfigurationError: for an unknown or invalid option.
        """
        url.finish()
        return cls(namespace=config.namespace)

    @property
    def capabilities(self) -> Capabilities:
        """What this engine can do; engines override it with a class attribute."""
        return derived_capabilities(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise CacheOperationError(
                f"{type(self).__name__} (namespace {self.namespace!r}) is closed",
                engine=type(self).__name__,
            )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} namespace={self.namespace!r}{state}>"


class BaseBackend(_Lifecycle, ClosesOnExit):
    """Base class of synchronous engines (see :class:`~twat_cache.protocols.Backend`).

    Subclasses implement ``get``, ``set``, ``add``, ``delete``, ``touch``,
    ``incr``, ``clear``, ``keys`` and ``_close`` (the ones left out raise
    ``NotImplementedError``) and declare ``capabilities``; the batch methods are
    derived from the single ones. Every method should call ``self._check_open()``
    (or otherwise fail clearly once closed).
    """

    def get(self, key: Any) -> Any:
        """Return the value under ``key`` or ``None``."""
        raise NotImplementedError

    def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key``; return whether it was stored."""
        raise NotImplementedError

    def add(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent, atomically; return whether it was stored."""
        raise NotImplementedError

    def delete(self, key: Any) -> bool:
        """Remove ``key``; return whether it was present."""
        raise NotImplementedError

    def touch(self, key: Any, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``; return whether it was present."""
        raise NotImplementedError

    def incr(self, key: Any, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the result.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
        """
        raise NotImplementedError

    def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""
        raise NotImplementedError

    def keys(self) -> Iterator[Any]:
        """Iterate over this namespace's keys (engines that cannot raise CacheOperationError)."""
        raise NotImplementedError

    def server_version(self) -> str | None:
        """What stores the entries and its version, for people (``"Redis 7.0.15"``); None: unknown.

        Shown by ``twat-cache info``; engines override it (it may do I/O).
        """
        return None

    def expiry(self, key: Any) -> float | None:
        """When ``key`` expires (epoch seconds; ``NEVER_EXPIRES`` without a ttl), or None if absent.

        Engines whose capabilities say ``reports_expiry=True`` implement this one
        or :meth:`expiries`.
        """
        raise NotImplementedError

    def expiries(self, keys: Sequence[Any]) -> dict[Any, float]:
        """When each present key expires (see ``ReportsExpiry``), one :meth:`expiry` each."""
        found = {}
        for key in keys:
            expires = self.expiry(key)
            if expires is not None:
                found[key] = expires
        return found

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """Return the present entries among ``keys``, one ``get`` each."""
        found = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                found[key] = value
        return found

    def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """Store every item, one ``set`` each; return whether all were stored."""
        stored = True
        for key, value in items.items():
            # an engine predating the bool returns None: that is a yes
            stored = self.set(key, value, ttl) is not False and stored
        return stored

    def delete_many(self, keys: Sequence[Any]) -> int:
        """Remove ``keys``, one ``delete`` each; return how many were present."""
        return sum(1 for key in keys if self.delete(key))

    def close(self) -> None:
        """Release resources once; later operations raise CacheOperationError."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:
        """Release the engine's resources (called once)."""

    def make_async(self) -> AsyncBackend | None:
        """Return a native async twin sharing this engine's settings, if the client has one."""
        return None


class BaseAsyncBackend(_Lifecycle):
    """Base class of asynchronous engines (see :class:`~twat_cache.protocols.AsyncBackend`).

    The same contract as :class:`BaseBackend`, with coroutines.
    """

    async def get(self, key: Any) -> Any:
        """Return the value under ``key`` or ``None``."""
        raise NotImplementedError

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key``; return whether it was stored."""
        raise NotImplementedError

    async def add(self, key: Any, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent, atomically; return whether it was stored."""
        raise NotImplementedError

    async def delete(self, key: Any) -> bool:
        """Remove ``key``; return whether it was present."""
        raise NotImplementedError

    async def touch(self, key: Any, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``; return whether it was present."""
        raise NotImplementedError

    async def incr(self, key: Any, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically (see :meth:`BaseBackend.incr`)."""
        raise NotImplementedError

    async def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""
        raise NotImplementedError

    def keys(self) -> AsyncIterator[Any]:
        """Iterate over this namespace's keys."""
        raise NotImplementedError

    async def server_version(self) -> str | None:
        """What stores the entries and its version (see :meth:`BaseBackend.server_version`)."""
        return None

    async def expiry(self, key: Any) -> float | None:
        """When ``key`` expires, or None if absent (see :meth:`BaseBackend.expiry`)."""
        raise NotImplementedError

    async def expiries(self, keys: Sequence[Any]) -> dict[Any, float]:
        """When each present key expires (see ``ReportsExpiry``), one :meth:`expiry` each."""
        found = {}
        for key in keys:
            expires = await self.expiry(key)
            if expires is not None:
                found[key] = expires
        return found

    async def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """Return the present entries among ``keys``, one ``get`` each."""
        found = {}
        for key in keys:
            value = await self.get(key)
            if value is not None:
                found[key] = value
        return found

    async def set_many(self, items: Mapping[Any, Any], ttl: float | None = None) -> bool:
        """Store every item, one ``set`` each; return whether all were stored."""
        stored = True
        for key, value in items.items():
            stored = await self.set(key, value, ttl) is not False and stored
        return stored

    async def delete_many(self, keys: Sequence[Any]) -> int:
        """Remove ``keys``, one ``delete`` each; return how many were present."""
        count = 0
        for key in keys:
            count += bool(await self.delete(key))
        return count

    async def close(self) -> None:
        """Release resources once; later operations raise CacheOperationError."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def _close(self) -> None:
        """Release the engine's resources (called once)."""

    def make_sync(self) -> Backend | None:
        """Return a native sync twin sharing this engine's settings, if the client has one."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__getattr__ = module_getattr(__name__)  # the twat-cache 2.x names (twat_cache.legacy)
