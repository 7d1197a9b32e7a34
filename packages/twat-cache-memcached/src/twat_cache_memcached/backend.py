"""The memcached engine: ``memcached://host:port`` or a ring ``memcached://h1:p1,h2:p2``.

An entry lives under ``{namespace}:{generation}:{key}`` on the server its key
hashes to; that server also keeps the namespace's generation under
``{namespace}:__gen__``. ``clear()`` increments it on every server (never
``flush_all``). Reads send the generation seen last with the keys, in one
``get``; writes read the generation first. The README says why.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pymemcache.client.base import PooledClient
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)
from twat_cache.config import CacheConfig
from twat_cache.constants import NAMESPACE_PATTERN, NAMESPACE_RULE
from twat_cache.engines.base import BaseBackend
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    CacheValueError,
    ConfigurationError,
    NodeError,
)

from twat_cache_memcached.protocol import (
    DEFAULT_ITEM_SIZE_LIMIT,
    DEFAULT_PORT,
    parse_size,
    physical_key,
    to_exptime,
)
from twat_cache_memcached.ring import Node, Ring

if TYPE_CHECKING:
    from twat_cache.urls import EngineURL

__all__ = [
    "DEFAULT_ITEM_SIZE_LIMIT",
    "DEFAULT_PORT",
    "MemcachedBackend",
    "physical_key",
    "to_exptime",
]

_T = TypeVar("_T")


def _backend_error(node: Node, exc: Exception, ring: bool) -> BackendError:
    # in a ring, one node failing is a NodeError: core keeps using the ring, which routes around it
    kind = NodeError if ring else BackendError
    return kind(f"memcached {node.name} failed: {type(exc).__name__}: {exc}", server=node.name)


class MemcachedBackend(BaseBackend):
    """Stores bytes in memcached: one server, or a ring with rendezvous hashing.

    Args:
        servers: ``(host, port)`` pairs; more than one makes a ring.
        namespace: The namespace (1-64 letters, digits, ``_``, ``.``, ``-``).
        connect_timeout: Seconds to wait for a connection.
        timeout: Seconds to wait for a reply, and for a free connection when
            ``max_pool_size`` are busy.
        max_pool_size: Most connections per server (``None``: as many as threads ask for).
        no_delay: Set TCP_NODELAY (small requests and replies: do not wait to batch).
        dead_timeout: Seconds a failing ring server is left out before it is retried.
        retry_attempts: Failures after the first before a ring server is left out.
        item_size_limit: The largest value in bytes; must match the server's ``-I``.

    Raises:
        ConfigurationError: for an invalid namespace or an empty server list.

    Example:
        >>> backend = MemcachedBackend([("127.0.0.1", 11211)], namespace="app")
        >>> backend.supports_keys
        False
    """

    supports_keys = False

    def __init__(
        self,
        servers: Sequence[tuple[str, int]] = (("127.0.0.1", DEFAULT_PORT),),
        namespace: str = "default",
        *,
        connect_timeout: float = 1.0,
        timeout: float = 2.0,
        max_pool_size: int | None = None,
        no_delay: bool = True,
        dead_timeout: float = 60.0,
        retry_attempts: int = 2,
        item_size_limit: int = DEFAULT_ITEM_SIZE_LIMIT,
    ) -> None:
        if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
            raise ConfigurationError("namespace", namespace, NAMESPACE_RULE)
        if not servers:
            raise ConfigurationError("servers", servers, "at least one (host, port) pair")
        super().__init__(namespace)
        self.timeout = timeout
        self.item_size_limit = item_size_limit
        self._gen_key = f"{namespace}:__gen__"
        nodes = []
        for host, port in servers:
            client = PooledClient(
                (host, port),
                connect_timeout=connect_timeout,
                timeout=timeout,
                no_delay=no_delay,
                max_pool_size=max_pool_size,
                default_noreply=False,  # every store waits for memcached's answer
            )
            name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            nodes.append(Node(name, client, max_pool_size))
        self._ring = Ring(nodes, retry_attempts=retry_attempts, dead_timeout=dead_timeout)

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> MemcachedBackend:
        """Build from ``memcached://h:p[,h:p...][?option=value...]`` without connecting.

        Raises:
            ConfigurationError: for an unknown or invalid option, a user or
                password (memcached's text protocol has no authentication), or a path.
        """
        if url.username is not None or url.password is not None:
            raise ConfigurationError(
                "url", url.redacted, "memcached has no authentication: remove user:password@"
            )
        if url.path not in ("", "/"):
            raise ConfigurationError(
                "url path", url.path, "none: memcached://host:port[,host:port...]"
            )
        servers = url.require_host(DEFAULT_PORT)
        max_pool_size: int | None = url.option_int("max_pool_size", None, minimum=1)
        backend = cls(
            servers,
            namespace=config.namespace,
            connect_timeout=url.option_float("connect_timeout", 1.0, minimum=0.001),
            timeout=url.option_float("timeout", 2.0, minimum=0.001),
            max_pool_size=max_pool_size,
            no_delay=url.option_bool("no_delay", True),
            dead_timeout=url.option_float("dead_timeout", 60.0),
            retry_attempts=url.option_int("retry_attempts", 2, minimum=0),
            item_size_limit=parse_size(url, "item_size_limit", DEFAULT_ITEM_SIZE_LIMIT),
        )
        url.finish()
        return backend

    @classmethod
    def from_url(cls, url: str, namespace: str = "default", **options: object) -> MemcachedBackend:
        """Build from a URL alone, e.g. ``MemcachedBackend.from_url("memcached://127.0.0.1:11211")``."""
        config = CacheConfig(url=url, namespace=namespace, options=options)
        return cls.from_config(config, config.engine_url())

    @property
    def servers(self) -> list[str]:
        """The servers, as ``host:port``."""
        return [node.name for node in self._ring.nodes]

    def server_for(self, key: str) -> str:
        """Return the ``host:port`` that holds ``key`` now (it moves when a server is left out)."""
        return self._ring.node_for(key).name

    def _call(self, node: Node, operation: Callable[..., _T], *args: Any) -> _T:
        if node.slots is not None and not node.slots.acquire(timeout=self.timeout):
            raise BackendError(
                f"memcached {node.name}: no free connection within {self.timeout:g} s",
                server=node.name,
            )
        try:
            result = operation(*args)
        except (OSError, MemcacheUnexpectedCloseError) as exc:
            self._ring.failed(node)
            raise _backend_error(node, exc, len(self._ring.nodes) > 1) from exc
        except MemcacheServerError as exc:
            if "too large" in str(exc):
                raise CacheValueError(
                    f"memcached {node.name} refused a value as too large (item_size_limit="
                    f"{self.item_size_limit}; the server's -I bounds key, value and header)",
                    server=node.name,
                ) from exc
            raise _backend_error(node, exc, len(self._ring.nodes) > 1) from exc
        except MemcacheError as exc:
            raise _backend_error(node, exc, len(self._ring.nodes) > 1) from exc
        finally:
            if node.slots is not None:
                node.slots.release()
        self._ring.succeeded(node)
        return result

    def _check_size(self, value: bytes) -> None:
        if len(value) > self.item_size_limit:
            raise CacheValueError(
                f"a value of {len(value)} bytes is larger than memcached's item_size_limit="
                f"{self.item_size_limit} bytes (raise it together with the server's -I)",
                size=len(value),
                limit=self.item_size_limit,
            )

    def _by_node(self, keys: Sequence[str]) -> dict[Node, list[str]]:
        groups: dict[Node, list[str]] = defaultdict(list)
        for key in keys:
            groups[self._ring.node_for(key)].append(key)
        return groups

    def _initial_generation(self, node: Node) -> int:
        # nanoseconds since the epoch: a counter created again (evicted, server restarted)
        # starts above every generation it had before, so cleared entries never come back
        fresh = time.time_ns()
        if self._call(node, node.client.add, self._gen_key, str(fresh).encode(), 0):
            return fresh
        raw = self._call(node, node.client.get, self._gen_key)
        return fresh if raw is None else int(raw)

    def _adopt(self, node: Node, raw: bytes | None) -> int:
        generation = self._initial_generation(node) if raw is None else int(raw)
        node.generation = generation
        return generation

    def _bump(self, node: Node) -> int:
        value = self._call(node, node.client.incr, self._gen_key, 1)
        node.generation = value if value is not None else self._initial_generation(node)
        return node.generation

    def _generation(self, node: Node) -> int:
        """Read the namespace's current generation on ``node`` (one round trip)."""
        if node.revived:
            # it was out of the ring: a clear() may have missed it, and keys moved meanwhile
            node.revived = False
            return self._bump(node)
        return self._adopt(node, self._call(node, node.client.get, self._gen_key))

    def _fetch(self, node: Node, keys: Sequence[str]) -> dict[str, bytes]:
        generation = node.generation
        if generation is not None:
            physical = {physical_key(self.namespace, generation, key): key for key in keys}
            found: dict[str, bytes] = self._call(
                node, node.client.get_many, [self._gen_key, *physical]
            )
            raw = found.pop(self._gen_key, None)
            if raw is not None and int(raw) == generation:
                return {physical[name]: value for name, value in found.items()}
            generation = self._adopt(node, raw)  # cleared meanwhile: read again under the new one
        else:
            generation = self._generation(node)
        physical = {physical_key(self.namespace, generation, key): key for key in keys}
        found = self._call(node, node.client.get_many, list(physical))
        return {physical[name]: value for name, value in found.items()}

    def _locate(self, key: str) -> tuple[Node, str]:
        self._check_open()
        node = self._ring.node_for(key)
        return node, physical_key(self.namespace, self._generation(node), key)

    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None``: one round trip once the generation is known.

        Raises:
            BackendError: when the server fails.
        """
        self._check_open()
        return self._fetch(self._ring.node_for(key), [key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``: one ``get`` per server."""
        self._check_open()
        found: dict[str, bytes] = {}
        for node, group in self._by_node(keys).items():
            found.update(self._fetch(node, group))
        return found

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (rounded up, see :func:`to_exptime`).

        Raises:
            CacheValueError: when ``value`` is larger than ``item_size_limit``.
            BackendError: when the server fails.
        """
        self._check_size(value)
        node, name = self._locate(key)
        if not self._call(node, node.client.set, name, value, to_exptime(ttl)):
            raise BackendError(f"memcached {node.name} did not store {key!r}", server=node.name)

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item: one pipelined ``set`` per server."""
        for value in items.values():
            self._check_size(value)
        self._check_open()
        exptime = to_exptime(ttl)
        for node, group in self._by_node(list(items)).items():
            generation = self._generation(node)
            batch = {physical_key(self.namespace, generation, key): items[key] for key in group}
            if failed := self._call(node, node.client.set_many, batch, exptime):
                raise BackendError(
                    f"memcached {node.name} did not store {failed}", server=node.name
                )

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent (memcached ``add``: atomic)."""
        self._check_size(value)
        node, name = self._locate(key)
        return bool(self._call(node, node.client.add, name, value, to_exptime(ttl)))

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        node, name = self._locate(key)
        return bool(self._call(node, node.client.delete, name))

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; return how many were present.

        memcached's multi-delete answers nothing per key, so each key is one
        ``delete`` (on a pooled connection of its server) to count exactly.
        """
        self._check_open()
        count = 0
        for node, group in self._by_node(keys).items():
            generation = self._generation(node)
            for key in group:
                name = physical_key(self.namespace, generation, key)
                count += bool(self._call(node, node.client.delete, name))
        return count

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: no expiry); return whether it was present."""
        node, name = self._locate(key)
        return bool(self._call(node, node.client.touch, name, to_exptime(ttl)))

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` atomically (memcached ``incr``, or ``decr`` for a negative delta).

        memcached counters are unsigned 64-bit: ``decr`` stops at 0 rather than
        going negative, ``incr`` wraps past 2**64 - 1, and a stored negative
        number cannot be incremented.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an unsigned 64-bit decimal integer.
        """
        node, name = self._locate(key)
        operation = node.client.incr if delta >= 0 else node.client.decr
        try:
            value = self._call(node, operation, name, abs(delta))
        except BackendError as exc:
            if isinstance(exc.__cause__, MemcacheClientError):
                raise TypeError(
                    f"memcached cannot add {delta} to the value under {key!r}: "
                    "it is not an unsigned 64-bit decimal integer"
                ) from exc.__cause__
            raise
        if value is None:
            raise ValueError(f"key {key!r} not found")
        return int(value)

    def clear(self) -> None:
        """Remove this namespace's entries: increment its generation on every server.

        Servers that are out of the ring are bumped when they come back.

        Raises:
            BackendError: when a server fails (the others are still cleared).
        """
        self._check_open()
        error: BackendError | None = None
        for node in self._ring.live():
            try:
                node.revived = False
                self._bump(node)
            except BackendError as exc:
                error = error or exc
        if error is not None:
            raise error

    def keys(self) -> Iterator[str]:
        """Not available: memcached cannot list the keys it holds.

        Raises:
            CacheOperationError: always (``supports_keys`` is ``False``).
        """
        self._check_open()
        raise CacheOperationError(
            "memcached cannot enumerate keys (it has no reliable key listing); "
            "MemcachedBackend.supports_keys is False",
            engine="memcached",
        )

    def _close(self) -> None:
        self._ring.close()
