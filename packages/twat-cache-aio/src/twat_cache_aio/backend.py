"""The aiocache engine: aiocache's memory, Redis and Memcached backends behind twat-cache.

``aiocache+memory://``, ``aiocache+redis://[user:password@]host[:port][/db]`` and
``aiocache+memcached://host[:port]`` select aiocache's ``SimpleMemoryCache``,
``RedisCache`` and ``MemcachedCache``. aiocache's serializer passes bytes
through untouched (core serializes) and its namespace is this engine's.
How each backend keeps the contract is in the ``*_store`` modules.

aiocache's network clients belong to the event loop that made their
connections, and core uses one engine from two loops (its private loop for
sync callers, the caller's loop for async ones); so this engine keeps one
aiocache cache per event loop (core's ``AsyncResource``: each is closed in its
own loop, when the engine is closed or the loop shuts down). The in-process
memory cache is one for all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from twat_cache.constants import NAMESPACE_PATTERN, NAMESPACE_RULE
from twat_cache.engines.base import BaseAsyncBackend
from twat_cache.engines.resources import AsyncResource
from twat_cache.exceptions import CacheOperationError, ConfigurationError, TwatCacheError
from twat_cache.protocols import Capabilities
from twat_cache.urls import EngineURL, parse_url

from twat_cache_aio.memcached_store import MemcachedStore
from twat_cache_aio.memory_store import MemoryStore
from twat_cache_aio.redis_store import RedisStore
from twat_cache_aio.store import Store

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - 3.10
    from typing_extensions import Self

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig

__all__ = ["SCHEMES", "AiocacheBackend"]

logger = logging.getLogger("twat_cache")

SCHEMES = ("aiocache+memory", "aiocache+redis", "aiocache+memcached")
_DB = re.compile(r"/?(\d*)/?")
DEFAULT_TIMEOUT = 5.0  # aiocache's own default, per operation


class AiocacheBackend(BaseAsyncBackend):
    """An :class:`~twat_cache.protocols.AsyncBackend` over one of aiocache's backends.

    Args:
        url: ``aiocache+memory://``, ``aiocache+redis://[user:password@]host[:port][/db]``
            or ``aiocache+memcached://host[:port]``, with options in the query string
            (see the README): ``timeout``, and ``pool_max_size``,
            ``create_connection_timeout``, ``ssl`` for Redis or ``pool_size``
            for Memcached. No connection is made here.
        namespace: The namespace (1-64 letters, digits, ``_``, ``.``, ``-``);
            ``clear()`` and ``keys()`` touch only its keys.
        **options: URL options given as keywords (they override the query string).

    Attributes:
        kind: ``memory``, ``redis`` or ``memcached``.
        supports_keys: ``False`` for memcached, which cannot list keys.
        capabilities: The record of the backend behind the URL (the class attribute
            is the default ``aiocache+memory://``'s).

    Raises:
        ConfigurationError: for another scheme, an unknown or invalid option, a
            malformed host or database, or ``AIOCACHE_DISABLE=1`` in the environment.
        EngineNotAvailableError: when the backend's client library is missing.

    Example:
        >>> backend = AiocacheBackend("aiocache+redis://127.0.0.1:6379/0?timeout=1", namespace="a")
        >>> backend.kind, backend.supports_keys
        ('redis', True)
    """

    stores_objects = False
    capabilities: Capabilities = MemoryStore.capabilities

    def __init__(
        self,
        url: str | EngineURL = "aiocache+memory://",
        namespace: str = "default",
        **options: object,
    ) -> None:
        if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
            raise ConfigurationError("namespace", namespace, NAMESPACE_RULE)
        if os.environ.get("AIOCACHE_DISABLE") == "1":
            raise ConfigurationError(
                "environment variable AIOCACHE_DISABLE",
                "1",
                "unset: with it aiocache answers every call with a made-up result "
                "(add() always succeeds), which would break twat-cache's locks and counters",
            )
        if isinstance(url, EngineURL) and options:
            raise TypeError("give options with a URL string, not with a parsed EngineURL")
        parsed = url if isinstance(url, EngineURL) else parse_url(url, options)
        super().__init__(namespace)
        self._store: Store = _make_store(parsed, namespace)
        self.kind: str = self._store.kind
        self.supports_keys: bool = self._store.supports_keys
        self.capabilities = self._store.capabilities
        self._shared: Any = self._store.connect() if self._store.shared else None
        self._caches: AsyncResource[Any] = AsyncResource(
            self._connect, self._store.disconnect, name=f"twat-cache-aiocache-{namespace}"
        )

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> Self:
        """Build the engine from a validated config and its parsed URL; no I/O.

        Raises:
            ConfigurationError: for an unknown or invalid option, or a ``maxsize``
                or ``maxbytes`` for ``aiocache+memory://``, which cannot bound its size.
        """
        backend = cls(url, namespace=config.namespace)
        if backend.kind == "memory":
            for name in ("maxsize", "maxbytes"):
                if getattr(config, name) is not None:
                    raise ConfigurationError(
                        name,
                        getattr(config, name),
                        "None with aiocache+memory://: aiocache's SimpleMemoryCache keeps every "
                        "entry until it expires or is deleted (memory:// is a bounded cache)",
                    )
        return backend

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<AiocacheBackend aiocache+{self.kind} namespace={self.namespace!r}{state}>"

    # -- plumbing ------------------------------------------------------------------------

    async def _connect(self) -> Any:
        return self._store.connect()

    async def _cache(self) -> Any:
        """Return the aiocache cache of the running event loop (made on first use)."""
        self._check_open()
        if self._shared is not None:
            return self._shared
        return await self._caches.get()

    @contextlib.contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except (TwatCacheError, ValueError, TypeError, OverflowError):
            raise  # the contract's own answers (incr), and core's errors
        except Exception as exc:  # any client failure (a bug in the client included)
            raise self._store.translate(exc, operation) from exc

    async def _close(self) -> None:
        if self._shared is not None:
            await self._store.disconnect(self._shared)
        await self._caches.aclose()

    # -- the AsyncBackend protocol -----------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired.

        Raises:
            BackendError: when the server fails (the client's error is ``__cause__``).
        """
        cache = await self._cache()
        with self._errors("get"):
            return await self._store.get(cache, key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys`` (aiocache ``multi_get``)."""
        cache = await self._cache()
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        with self._errors("get_many"):
            return await self._store.get_many(cache, unique)

    async def server_version(self) -> str | None:
        """What stores the entries and its version (Redis and memcached: the server's)."""
        cache = await self._cache()
        with self._errors("server_version"):
            return await self._store.server_version(cache)

    async def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each present key expires (memory: as noted when written; Redis: PTTL).

        Raises:
            CacheOperationError: on memcached (aiomcache has no meta commands); its
                capabilities say ``reports_expiry=False``.
        """
        cache = await self._cache()
        if not self.capabilities.reports_expiry:
            raise CacheOperationError(
                f"aiocache+{self._store.kind} cannot tell when entries expire",
                engine=f"aiocache+{self._store.kind}",
            )
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        with self._errors("expiries"):
            return await self._store.expiries(cache, unique)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry).

        Returns:
            False when the backend declines the value (memcached: too large), else True.
        """
        cache = await self._cache()
        with self._errors("set"):
            return await self._store.set(cache, key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl`` (aiocache ``multi_set``); False if declined."""
        cache = await self._cache()
        if not items:
            return True
        with self._errors("set_many"):
            return await self._store.set_many(cache, dict(items), ttl)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent, atomically; return whether it was stored."""
        cache = await self._cache()
        with self._errors("add"):
            return await self._store.add(cache, key, value, ttl)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        cache = await self._cache()
        with self._errors("delete"):
            return await self._store.delete(cache, key)

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; return how many were present."""
        cache = await self._cache()
        unique = list(dict.fromkeys(keys))
        if not unique:
            return 0
        with self._errors("delete_many"):
            return await self._store.delete_many(cache, unique)

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: no expiry); return whether it was present."""
        cache = await self._cache()
        with self._errors("touch"):
            return await self._store.touch(cache, key, ttl)

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically and return the result.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
            BackendError: when the server fails.
        """
        cache = await self._cache()
        with self._errors("incr"):
            return await self._store.incr(cache, key, delta)

    async def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""
        cache = await self._cache()
        with self._errors("clear"):
            await self._store.clear(cache)

    def keys(self) -> AsyncIterator[str]:
        """Iterate over this namespace's keys (memory: a snapshot; Redis: SCAN).

        Raises:
            CacheOperationError: on memcached, which cannot list keys.
        """
        self._check_open()
        if not self.supports_keys:
            raise CacheOperationError(
                "aiocache+memcached cannot list keys (memcached has no reliable key listing); "
                "AiocacheBackend.supports_keys is False",
                engine="aiocache+memcached",
            )
        return self._keys()

    async def _keys(self) -> AsyncIterator[str]:
        cache = await self._cache()
        with self._errors("keys"):
            async for key in self._store.keys(cache):
                yield key


def _make_store(url: EngineURL, namespace: str) -> Store:
    """Read ``url``'s host, path and options into the store of its scheme."""
    if url.scheme not in SCHEMES:
        raise ConfigurationError("url scheme", url.scheme, "one of " + ", ".join(SCHEMES))
    store: Store
    if url.scheme == "aiocache+memory":
        if url.hosts or url.path not in ("", "/") or url.username or url.password:
            raise ConfigurationError(
                "url", url.redacted, "aiocache+memory:// with no host, path or user"
            )
        store = MemoryStore(namespace)
    elif url.scheme == "aiocache+redis":
        host, port = _one_host(url, 6379)
        db = _DB.fullmatch(url.path)
        if db is None:
            raise ConfigurationError(
                "url path", url.path, "a database number: aiocache+redis://host:port/0"
            )
        store = RedisStore(
            namespace,
            host=host,
            port=port,
            db=int(db.group(1) or 0),
            username=url.username,
            password=url.password,
            timeout=url.option_float("timeout", DEFAULT_TIMEOUT),
            pool_max_size=url.option_int("pool_max_size", None, minimum=1),
            create_connection_timeout=url.option_float(
                "create_connection_timeout", None, minimum=0.001
            ),
            ssl=url.option_bool("ssl", False),
        )
    else:
        host, port = _one_host(url, 11211)
        if url.username is not None or url.password is not None:
            raise ConfigurationError(
                "url", url.redacted, "memcached has no authentication: remove user:password@"
            )
        if url.path not in ("", "/"):
            raise ConfigurationError("url path", url.path, "none: aiocache+memcached://host:port")
        store = MemcachedStore(
            namespace,
            host=host,
            port=port,
            timeout=url.option_float("timeout", DEFAULT_TIMEOUT),
            pool_size=url.option_int("pool_size", 2, minimum=1),
        )
    url.finish()
    return store


def _one_host(url: EngineURL, default_port: int) -> tuple[str, int]:
    hosts = url.require_host(default_port)
    if len(hosts) > 1:
        raise ConfigurationError(
            "url",
            url.redacted,
            f"one host: aiocache's {url.scheme[9:]} backend talks to one server",
        )
    return hosts[0]
