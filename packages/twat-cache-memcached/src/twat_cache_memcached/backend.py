"""The memcached engine: ``memcached://host:port`` or a ring ``memcached://h1:p1,h2:p2``.

An entry lives under ``{namespace}:{generation}:{key}`` on the server its key
hashes to; that server also keeps the namespace's generation under
``{namespace}:__gen__`` (core's :class:`~twat_cache.engines.generations.Generations`).
``clear()`` increments it on every server (never ``flush_all``). Reads send the
generation seen last with the keys, in one ``get`` whose reply this package reads
itself (:func:`~twat_cache_memcached.protocol.get_current` for a hit,
:func:`~twat_cache_memcached.protocol.get_values` for a batch); writes read the
generation first. The README says why.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pymemcache.client.base import Client
from twat_cache.config import CacheConfig
from twat_cache.constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    NAMESPACE_PATTERN,
    NAMESPACE_RULE,
)
from twat_cache.engines.base import BaseBackend
from twat_cache.engines.generations import Generations
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.timeouts import client_timeouts

from twat_cache_memcached.counters import incr
from twat_cache_memcached.protocol import (
    DEFAULT_ITEM_SIZE_LIMIT,
    DEFAULT_PORT,
    MAX_KEY_LENGTH,
    Changed,
    get_current,
    get_values,
    meta_delete_reply,
    meta_delete_request,
    meta_lines,
    meta_ttl_reply,
    meta_ttl_request,
    parse_size,
    physical_key,
    to_exptime,
    value_reply,
)
from twat_cache_memcached.ring import Node, Ring, TooLarge

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
        >>> backend.capabilities.lists_keys
        False
    """

    supports_keys = False
    capabilities = Capabilities(
        lists_keys=False,  # memcached has no reliable key listing
        persistent=True,  # entries outlive the client process (not a server restart)
        # the namespace (at most 64 characters) and the generation share the 250 bytes
        max_key_length=MAX_KEY_LENGTH - Generations.overhead(64),
        max_value_size=DEFAULT_ITEM_SIZE_LIMIT,
        reports_expiry=True,  # meta commands (memcached 1.6+): see expiries()
        compare_and_delete=True,  # gets, then a meta delete on its CAS value (1.6+)
    )

    def __init__(
        self,
        servers: Sequence[tuple[str, int]] = (("127.0.0.1", DEFAULT_PORT),),
        namespace: str = "default",
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
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
        if item_size_limit != DEFAULT_ITEM_SIZE_LIMIT:
            self.capabilities = dataclasses.replace(
                type(self).capabilities, max_value_size=item_size_limit
            )
        self._names = Generations(namespace, max_key_length=MAX_KEY_LENGTH)
        self._gen_key = self._names.counter_key
        self._gen_name = self._gen_key.encode()  # as the reply names it
        self.client_options: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "timeout": timeout,
            "no_delay": no_delay,
            "default_noreply": False,  # every store waits for memcached's answer
        }
        nodes = []
        for host, port in servers:
            name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            nodes.append(Node(name, self._connector((host, port)), max_pool_size))
        self._ring = Ring(
            nodes, retry_attempts=retry_attempts, dead_timeout=dead_timeout, timeout=timeout
        )

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
        # timeout= is the client's own reply and connect timeout too (unless the URL sets them)
        own = client_timeouts(config, url, reply=["timeout"], connect=["connect_timeout"])
        backend = cls(
            servers,
            namespace=config.namespace,
            connect_timeout=url.option_float(
                "connect_timeout",
                own.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
                minimum=0.001,
            ),
            timeout=url.option_float("timeout", own.get("timeout", DEFAULT_TIMEOUT), minimum=0.001),
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

    def _connector(self, address: tuple[str, int]) -> Callable[[], Client]:
        return lambda: Client(address, **self.client_options)

    def _store(self, node: Node, operation: Callable[..., _T], *args: Any) -> _T | None:
        """A write: ``None`` when the server declines the value as too large."""
        try:
            return self._ring.call(node, operation, *args)
        except TooLarge:
            return None

    def _by_node(self, keys: Sequence[str]) -> dict[Node, list[str]]:
        groups: dict[Node, list[str]] = defaultdict(list)
        for key in keys:
            groups[self._ring.node_for(key)].append(key)
        return groups

    def _initial_generation(self, node: Node) -> int:
        # nanoseconds since the epoch: a counter created again (evicted, server restarted)
        # starts above every generation it had before, so cleared entries never come back
        fresh = Generations.fresh()
        if self._ring.call(node, Client.add, self._gen_key, str(fresh).encode(), 0):
            return fresh
        raw = self._ring.call(node, Client.get, self._gen_key)
        return fresh if raw is None else self._names.parse(raw)

    def _known(self, node: Node, generation: int) -> int:
        """Remember ``generation`` as ``node``'s, and how a hit's reply starts under it."""
        node.head = value_reply(self._gen_name, str(generation).encode())
        node.generation = generation
        return generation

    def _adopt(self, node: Node, raw: bytes | None) -> int:
        generation = self._initial_generation(node) if raw is None else self._names.parse(raw)
        return self._known(node, generation)

    def _bump(self, node: Node) -> int:
        value = self._ring.call(node, Client.incr, self._gen_key, 1)
        return self._known(node, value if value is not None else self._initial_generation(node))

    def _generation(self, node: Node) -> int:
        """Read the namespace's current generation on ``node`` (one round trip)."""
        if node.revived:
            # it was out of the ring: a clear() may have missed it, and keys moved meanwhile
            node.revived = False
            return self._bump(node)
        return self._adopt(node, self._ring.call(node, Client.get, self._gen_key))

    def _fetch(self, node: Node, keys: Sequence[str]) -> dict[str, bytes]:
        generation = node.generation
        if generation is not None:
            physical = {self._names.key(generation, key).encode(): key for key in keys}
            found = self._ring.call(node, get_values, [self._gen_name, *physical])
            raw = found.pop(self._gen_name, None)
            if raw is not None and int(raw) == generation:
                return {physical[name]: value for name, value in found.items()}
            generation = self._adopt(node, raw)  # cleared meanwhile: read again under the new one
        else:
            generation = self._generation(node)
        physical = {self._names.key(generation, key).encode(): key for key in keys}
        found = self._ring.call(node, get_values, list(physical))
        return {physical[name]: value for name, value in found.items()}

    def _locate(self, key: str) -> tuple[Node, str]:
        self._check_open()
        node = self._ring.node_for(key)
        return node, self._names.key(self._generation(node), key)

    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None``: one round trip once the generation is known.

        Raises:
            BackendError: when the server fails.
        """
        self._check_open()
        node = self._ring.node_for(key)
        generation = node.generation
        if generation is None:
            return self._fetch(node, [key]).get(key)
        # the hit path: generation and entry in one get
        name = self._names.key(generation, key).encode()
        value = self._ring.call(node, get_current, node.head, self._gen_name, name)
        if not isinstance(value, Changed):
            return value
        generation = self._adopt(node, value.raw)  # cleared meanwhile: read again under the new one
        name = self._names.key(generation, key).encode()
        return self._ring.call(node, get_values, [name]).get(name)

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``: one ``get`` per server."""
        self._check_open()
        found: dict[str, bytes] = {}
        for node, group in self._by_node(keys).items():
            found.update(self._fetch(node, group))
        return found

    def server_version(self) -> str:
        """Each server's ``version`` (a ring's distinct versions, joined)."""
        self._check_open()
        versions = sorted(
            {self._ring.call(node, Client.version).decode() for node in self._ring.live()}
        )
        return "memcached " + ", ".join(versions)

    def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each present key expires: one pipelined meta get (``mg <key> t``) per server.

        memcached counts whole seconds and keeps each entry a second longer than
        its ttl (see :func:`to_exptime`), so the answer is that of the server.

        Raises:
            CacheOperationError: when a server answers something else than meta replies
                (memcached before 1.6 has no meta commands: it answers ``ERROR``).
            BackendError: when a server fails.
        """
        self._check_open()
        found: dict[str, float] = {}
        for node, group in self._by_node(list(dict.fromkeys(keys))).items():
            names = [self._names.key(self._generation(node), key) for key in group]
            lines = self._ring.call(node, meta_lines, meta_ttl_request(names))
            try:
                left = meta_ttl_reply(b"\r\n".join(lines), len(names))
            except ValueError as exc:
                raise CacheOperationError(
                    f"memcached {node.name} cannot tell when entries expire (meta commands, "
                    f"memcached 1.6 or later): {exc}",
                    engine="memcached",
                ) from exc
            now = time.time()
            for index, seconds in left.items():
                found[group[index]] = NEVER_EXPIRES if seconds < 0 else now + seconds
        return found

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (rounded up, see :func:`to_exptime`).

        Returns:
            False when the value is larger than ``item_size_limit`` or the server
            declines it as too large; True when stored.

        Raises:
            BackendError: when the server fails.
        """
        if len(value) > self.item_size_limit:
            self._check_open()
            return False
        node, name = self._locate(key)
        stored = self._store(node, Client.set, name, value, to_exptime(ttl))
        if stored is None:
            return False
        if not stored:
            raise BackendError(f"memcached {node.name} did not store {key!r}", server=node.name)
        return True

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item: one pipelined ``set`` per server.

        Returns:
            False when a value is too large (then nothing of the batch is written).
        """
        self._check_open()
        if any(len(value) > self.item_size_limit for value in items.values()):
            return False
        exptime = to_exptime(ttl)
        for node, group in self._by_node(list(items)).items():
            generation = self._generation(node)
            batch = {self._names.key(generation, key): items[key] for key in group}
            failed = self._store(node, Client.set_many, batch, exptime)
            if failed is None:
                return False
            if failed:
                raise BackendError(
                    f"memcached {node.name} did not store {failed}", server=node.name
                )
        return True

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent (memcached ``add``: atomic)."""
        if len(value) > self.item_size_limit:
            self._check_open()
            return False
        node, name = self._locate(key)
        return bool(self._store(node, Client.add, name, value, to_exptime(ttl)))

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        node, name = self._locate(key)
        return bool(self._ring.call(node, Client.delete, name))

    def delete_if(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only while it holds ``value``; return whether it was removed.

        ``gets`` reads the value and its CAS number; the meta delete
        ``md <key> C<cas>`` (memcached 1.6+) then removes the entry only if
        nobody wrote it since: atomic, in two round trips.

        Raises:
            CacheOperationError: when the server answers something else than a meta reply.
            BackendError: when the server fails.
        """
        node, name = self._locate(key)
        found, cas = self._ring.call(node, Client.gets, name)
        if found is None or cas is None or found != value:
            return False
        reply = self._ring.call(node, Client.raw_command, meta_delete_request(name, cas))
        try:
            return meta_delete_reply(reply)
        except ValueError as exc:
            raise CacheOperationError(
                f"memcached {node.name} cannot delete on a CAS value (meta commands, "
                f"memcached 1.6 or later): {exc}",
                engine="memcached",
            ) from exc

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
                name = self._names.key(generation, key)
                count += bool(self._ring.call(node, Client.delete, name))
        return count

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: no expiry); return whether it was present."""
        node, name = self._locate(key)
        return bool(self._ring.call(node, Client.touch, name, to_exptime(ttl)))

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` atomically to the signed 64-bit integer under ``key``; return the result.

        See :func:`twat_cache_memcached.counters.incr` (memcached's own counters are unsigned).

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not a signed 64-bit decimal integer.
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
            BackendError: when the server fails.
        """
        node, name = self._locate(key)
        return incr(self._ring, node, name, key, delta)

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
            CacheOperationError: always (``capabilities.lists_keys`` is ``False``).
        """
        self._check_open()
        raise CacheOperationError(
            "memcached cannot enumerate keys (it has no reliable key listing); "
            "MemcachedBackend.capabilities.lists_keys is False",
            engine="memcached",
        )

    def _close(self) -> None:
        self._ring.close()
