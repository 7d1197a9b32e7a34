"""The asyncio Redis engine: ``redis.asyncio``'s ``Redis`` or ``RedisCluster`` client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError
from twat_cache.engines.base import BaseAsyncBackend

from twat_cache_redis.backend import RedisBackend, not_an_integer
from twat_cache_redis.keyspace import (
    INCR_SCRIPT,
    PERSIST_SCRIPT,
    SCAN_COUNT,
    Keyspace,
    by_key,
    by_slot,
    found,
    ttl_ms,
)
from twat_cache_redis.settings import CLIENT_ERRORS, RedisSettings, Translate

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["AsyncRedisBackend"]


class AsyncRedisBackend(BaseAsyncBackend):
    """The asyncio twin of :class:`~twat_cache_redis.RedisBackend`: same keys, same guarantees.

    The client is made on first use in the running event loop; used from another
    loop (a second ``asyncio.run``), the engine lets the old loop's connections go
    and connects again, rather than failing. Close it in the loop that used it
    (``await cache.aclose()``) to end its connections cleanly.

    Args:
        settings: Where the server is and how to talk to it.
        namespace: The namespace; ``clear()`` and ``keys()`` touch only its keys.

    Example:
        >>> cache = AsyncRedisBackend(RedisSettings.from_url("redis://127.0.0.1:6379/0"))
        >>> await cache.set("k", b"v", ttl=60)  # doctest: +SKIP
    """

    stores_objects = False
    blocking = True

    def __init__(
        self, settings: RedisSettings | None = None, *, namespace: str = "default"
    ) -> None:
        super().__init__(namespace)
        self.settings = settings if settings is not None else RedisSettings()
        self._keyspace = Keyspace(namespace)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> AsyncRedisBackend:
        """Build the engine from a validated config and its URL; no connection is made."""
        return cls(RedisSettings.from_url(url), namespace=config.namespace)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "default") -> AsyncRedisBackend:
        """Build the engine from a URL such as ``redis://host:6379/0``; no connection is made."""
        return cls(RedisSettings.from_url(url), namespace=namespace)

    def make_sync(self) -> RedisBackend:  # type: ignore[override,unused-ignore]  # see make_async
        """Return a sync twin with the same settings and namespace (its own connections)."""
        return RedisBackend(self.settings, namespace=self.namespace)

    def _redis(self) -> Any:
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._client is not None:
                _retire(self._client, self._loop)
            self._client, self._loop = self.settings.async_client(), loop
        return self._client

    def _errors(self, operation: str) -> Translate:
        return Translate(self.settings, operation)

    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None``."""
        with self._errors("get"):
            value: bytes | None = await self._redis().get(self._keyspace.key(key))
            return value

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries: one MGET (on a Cluster, one per slot, pipelined per node)."""
        keys = list(keys)
        if not keys:
            self._check_open()
            return {}
        physical = [self._keyspace.key(k) for k in keys]
        with self._errors("get_many"):
            client = self._redis()
            if not self.settings.cluster:
                return found(keys, await client.mget(physical))
            pipe = client.pipeline()
            groups = by_slot(physical)
            for group in groups:
                pipe.execute_command("MGET", *group)
            values = by_key(groups, await pipe.execute())
            return found(keys, [values[k] for k in physical])

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""
        with self._errors("set"):
            await self._redis().set(self._keyspace.key(key), value, px=ttl_ms(ttl))

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item: one pipeline of SETs (per node on a Cluster)."""
        if not items:
            self._check_open()
            return
        px = ttl_ms(ttl)
        with self._errors("set_many"):
            client = self._redis()
            pipe = (
                client.pipeline() if self.settings.cluster else client.pipeline(transaction=False)
            )
            for key, value in items.items():
                pipe.set(self._keyspace.key(key), value, px=px)
            await pipe.execute()

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent (SET NX, atomic); return whether it was."""
        with self._errors("add"):
            stored = await self._redis().set(
                self._keyspace.key(key), value, px=ttl_ms(ttl), nx=True
            )
            return bool(stored)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        with self._errors("delete"):
            return bool(await self._redis().unlink(self._keyspace.key(key)))

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` with UNLINK (one per slot on a Cluster); return how many were present."""
        self._check_open()
        if not keys:
            return 0
        with self._errors("delete_many"):
            return await self._unlink([self._keyspace.key(k) for k in keys])

    async def _unlink(self, physical: list[bytes]) -> int:
        client = self._redis()
        if not self.settings.cluster:
            return int(await client.unlink(*physical))
        pipe = client.pipeline()
        for group in by_slot(physical):
            pipe.execute_command("UNLINK", *group)
        return sum(int(n) for n in await pipe.execute())

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: PERSIST); return whether it was present."""
        physical = self._keyspace.key(key)
        with self._errors("touch"):
            client = self._redis()
            if ttl is None:
                return bool(await client.eval(PERSIST_SCRIPT, 1, physical))
            return bool(await client.pexpire(physical, ttl_ms(ttl)))

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Raises:
            ValueError: when ``key`` is absent (it is not created), or when the result
                would not fit Redis' 64-bit integers.
            TypeError: when the value is not an integer.
        """
        with self._errors("incr"):
            try:
                value = await self._redis().eval(INCR_SCRIPT, 1, self._keyspace.key(key), delta)
            except ResponseError as exc:
                if not_an_integer(exc):
                    raise TypeError(f"the value under {key!r} is not an integer") from exc
                if "overflow" in str(exc):
                    raise ValueError(f"incrementing {key!r} by {delta} overflows 64 bits") from exc
                raise
        if value is None:
            raise ValueError(f"key {key!r} not found")
        return int(value)

    async def clear(self) -> None:
        """Remove this namespace's keys: SCAN MATCH ``namespace:*`` + UNLINK in batches."""
        with self._errors("clear"):
            batch: list[bytes] = []
            async for physical in self._redis().scan_iter(
                match=self._keyspace.pattern, count=SCAN_COUNT
            ):
                batch.append(physical)
                if len(batch) >= SCAN_COUNT:
                    await self._unlink(batch)
                    batch = []
            if batch:
                await self._unlink(batch)

    def keys(self) -> AsyncIterator[str]:
        """Iterate over this namespace's keys (SCAN; on a Cluster, every primary)."""
        self._check_open()
        return self._scan()

    async def _scan(self) -> AsyncIterator[str]:
        seen: set[bytes] = set()  # SCAN may return a key twice while the table grows
        with self._errors("keys"):
            async for physical in self._redis().scan_iter(
                match=self._keyspace.pattern, count=SCAN_COUNT
            ):
                if physical not in seen:
                    seen.add(physical)
                    yield self._keyspace.relative(physical)

    async def _close(self) -> None:
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is None:
            return
        if loop is asyncio.get_running_loop():
            with contextlib.suppress(*CLIENT_ERRORS):  # closing must not fail on a dead server
                await client.aclose()
        else:
            _retire(client, loop)


async def _aclose_quietly(client: Any) -> None:
    with contextlib.suppress(*CLIENT_ERRORS):
        await client.aclose()


def _retire(client: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    """Let go of a client whose event loop is not the running one."""
    if loop is not None and loop.is_running() and not loop.is_closed():
        # its loop runs in another thread: close it there, without waiting (no deadlock)
        asyncio.run_coroutine_threadsafe(_aclose_quietly(client), loop)
        return
    for connection in _connections(client):
        _abandon(connection)
    if hasattr(client, "nodes_manager"):
        # what RedisCluster.aclose() would set: it then knows it is closed (and does not warn)
        client._initialize = True


def _connections(client: Any) -> list[Any]:
    """The connections of an asyncio client, standalone or Cluster."""
    found: list[Any] = []
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        found += list(getattr(pool, "_available_connections", ()))
        found += list(getattr(pool, "_in_use_connections", ()))
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:
        for cache in ("nodes_cache", "startup_nodes"):
            for node in dict(getattr(manager, cache, {}) or {}).values():
                found += list(getattr(node, "_connections", ()))
    return found


def _abandon(connection: Any) -> None:
    """Close a connection whose event loop is gone, without that loop.

    redis-py's ``aclose()`` needs the loop the connection was made in; once that
    loop is closed, the socket would stay open until garbage collection (with
    ResourceWarnings). This closes it now, through asyncio's transport internals,
    and touches nothing else; any surprise is ignored (the socket is then left to
    the garbage collector, as redis-py itself would).
    """
    with contextlib.suppress(Exception):
        writer = connection._writer
        if writer is None:
            return
        connection._reader = connection._writer = None
        transport = writer.transport
        try:
            transport.abort()
        except RuntimeError:  # the loop is closed: do what abort() would have scheduled
            transport._call_connection_lost(None)
