"""The servers behind one memcached URL: which one holds a key, and which are down.

pymemcache's ``HashClient`` routes by the full key and keeps its failure
bookkeeping in unlocked dicts; this engine needs to route by the *logical* key
(so that a key and its server's generation counter live on the same server,
see ``backend.py``) and is called from many threads, so it keeps its own small
ring: rendezvous hashing over the servers that are up, and per server a list
of idle pymemcache ``Client`` connections (taking one is a ``list.pop``, atomic
under the GIL, where ``PooledClient`` takes a lock and a context manager).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)
from twat_cache.exceptions import BackendError, NodeError

__all__ = ["Node", "Ring", "TooLarge"]

_T = TypeVar("_T")


class TooLarge(Exception):  # noqa: N818 - the server's answer, not a failure
    """The server declined a value as too large (``set`` answers False)."""


logger = logging.getLogger("twat_cache.memcached")


def _score(name: bytes, key: bytes) -> int:
    # highest random weight: each key goes to the live server with the highest score,
    # so taking one server out moves only that server's keys
    digest = hashlib.blake2b(name + b"-" + key, digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Node:
    """One memcached server of a ring.

    Attributes:
        name: ``host:port`` (``[host]:port`` for IPv6), used in every message.
        connect: Makes a new pymemcache ``Client`` of this server (it connects on first use).
        idle: The clients not in use; a call pops one (or makes one) and puts it back.
        slots: Bounds concurrent calls to ``max_pool_size``, or ``None`` for no bound.
        failures: Consecutive failed calls.
        down_until: ``time.monotonic()`` until which the server is out of the ring (0: in it).
        generation: The namespace generation last read from this server (optimistic reads).
        head: How a ``get`` of the generation counter answers while it holds ``generation``.
        revived: Back from being down: its generation is bumped before it serves again.
    """

    __slots__ = (
        "connect",
        "down_until",
        "failures",
        "generation",
        "head",
        "idle",
        "name",
        "revived",
        "route_name",
        "slots",
    )

    def __init__(self, name: str, connect: Callable[[], Any], max_pool_size: int | None) -> None:
        self.name = name
        self.route_name = name.encode()
        self.connect = connect
        self.idle: list[Any] = []
        self.slots = threading.BoundedSemaphore(max_pool_size) if max_pool_size else None
        self.failures = 0
        self.down_until = 0.0
        self.generation: int | None = None
        self.head = b""
        self.revived = False


class Ring:
    """Routes keys to servers and takes failing servers out for a while.

    A server that fails ``retry_attempts + 1`` calls in a row is taken out of
    the ring for ``dead_timeout`` seconds: its keys then go to the other servers
    (as misses at first). A single server is never taken out -- it has nowhere
    to send its keys, and core's circuit breaker already spares a dead server.

    Args:
        nodes: The servers, in URL order.
        retry_attempts: Failures tolerated after the first before a server is taken out.
        dead_timeout: Seconds a server stays out before it is tried again.
        timeout: Seconds a call waits for a free connection when ``max_pool_size`` are busy.
    """

    def __init__(
        self, nodes: Sequence[Node], retry_attempts: int, dead_timeout: float, timeout: float
    ) -> None:
        self.nodes = list(nodes)
        self.retry_attempts = retry_attempts
        self.dead_timeout = dead_timeout
        self.timeout = timeout
        self.closed = False
        self._lock = threading.Lock()

    def live(self) -> list[Node]:
        """Return the servers in the ring now, bringing back those whose time out is over."""
        now = time.monotonic()
        live = []
        for node in self.nodes:
            if node.down_until:
                if now < node.down_until:
                    continue
                with self._lock:
                    if node.down_until:
                        node.down_until = 0.0
                        node.failures = 0
                        node.generation = None
                        node.revived = True
                        logger.info(
                            "memcached %s is tried again", node.name, extra={"server": node.name}
                        )
            live.append(node)
        return live

    def node_for(self, key: str) -> Node:
        """Return the server that holds ``key``.

        Raises:
            BackendError: when every server of the ring is out.
        """
        if len(self.nodes) == 1:
            return self.nodes[0]
        live = self.live()
        if not live:
            names = ", ".join(node.name for node in self.nodes)
            raise BackendError(
                f"no memcached server is available: {names} all failed and are left alone "
                f"for up to {self.dead_timeout:g} s",
                engine="memcached",
            )
        route = key.encode("utf-8", "surrogatepass")
        return max(live, key=lambda node: _score(node.route_name, route))

    def failed(self, node: Node) -> None:
        """Record a failed call to ``node``; take it out after too many in a row."""
        with self._lock:
            node.failures += 1
            if len(self.nodes) == 1 or node.failures <= self.retry_attempts or node.down_until:
                return
            node.down_until = time.monotonic() + self.dead_timeout
        logger.warning(
            "memcached %s failed %d times in a row; its keys go to the other servers for %g s",
            node.name,
            node.failures,
            self.dead_timeout,
            extra={"server": node.name},
        )

    def succeeded(self, node: Node) -> None:
        """Record a successful call to ``node``."""
        if node.failures:
            with self._lock:
                node.failures = 0

    def call(self, node: Node, operation: Callable[..., _T], *args: Any) -> _T:
        """Run ``operation(client, *args)`` on an idle connection of ``node``.

        Any exception of the client is a :class:`BackendError` (a :class:`NodeError`
        in a ring) and costs the connection; a server's "too large" is :class:`TooLarge`.
        """
        slots = node.slots
        if slots is not None and not slots.acquire(timeout=self.timeout):
            raise BackendError(
                f"memcached {node.name}: no free connection within {self.timeout:g} s",
                server=node.name,
            )
        try:
            try:
                client = node.idle.pop()
            except IndexError:
                client = node.connect()
            try:
                result = operation(client, *args)
            except MemcacheClientError:
                node.idle.append(client)  # the request was refused; the connection is fine
                raise
            except Exception as exc:
                client.close()
                if isinstance(exc, MemcacheServerError) and "too large" in str(exc):
                    raise TooLarge(str(exc)) from exc
                # a server error is an answer; a closed connection (a subclass) is not
                if not isinstance(exc, MemcacheServerError) or isinstance(
                    exc, MemcacheUnexpectedCloseError
                ):
                    self.failed(node)
                raise _backend_error(node, exc, len(self.nodes) > 1) from exc
            if self.closed:
                client.close()
            else:
                node.idle.append(client)
        finally:
            if slots is not None:
                slots.release()
        if node.failures:
            self.succeeded(node)
        return result

    def close(self) -> None:
        """Close every server's idle connections (one in use is closed when it comes back)."""
        self.closed = True
        for node in self.nodes:
            while node.idle:
                node.idle.pop().close()


def _backend_error(node: Node, exc: Exception, ring: bool) -> BackendError:
    # in a ring, one node failing is a NodeError: core keeps using the ring, which routes around it
    kind = NodeError if ring else BackendError
    return kind(f"memcached {node.name} failed: {type(exc).__name__}: {exc}", server=node.name)
