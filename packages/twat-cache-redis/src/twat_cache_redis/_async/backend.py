"""The Redis engine: ``AsyncRedisBackend`` on ``redis.asyncio``, ``RedisBackend`` on redis-py.

Written once: ``twat_cache_redis/_async/backend.py`` is the source, and
``twat_cache_redis/backend.py`` is generated from it by ``bash tools/unasync``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError
from twat_cache.engines.base import BaseAsyncBackend
from twat_cache.engines.redis_scripts import (
    DELETE_IF_SCRIPT,
    HEADS_SCRIPT,
    INCR_SCRIPT,
    TOUCH_SCRIPT,
    WAKE_SCRIPT,
    WAKE_TTL_MS,
    incr_error,
    wake_key,
)
from twat_cache.engines.resources import AsyncResource
from twat_cache.exceptions import TwatCacheError
from twat_cache.protocols import Capabilities
from twat_cache.timeouts import client_timeouts

from twat_cache_redis.channel import RedisChannel
from twat_cache_redis.keyspace import (
    SCAN_COUNT,
    Keyspace,
    by_key,
    by_slot,
    expiry_times,
    found,
    ttl_ms,
    version_of,
)
from twat_cache_redis.settings import RedisSettings, Translate

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

    from twat_cache_redis import RedisBackend

__all__ = ["AsyncRedisBackend"]

MAX_VALUE_SIZE = 512 * 1024 * 1024  # Redis' limit on a string value (proto-max-bulk-len)
# a blocking read must end before the client's socket_timeout would call the server dead
BLOCK_SHARE = 0.8
SHORTEST_BLOCK = 0.001  # BLMOVE's timeout 0 would block for ever


class AsyncRedisBackend(BaseAsyncBackend):
    """Entries in Redis or a Redis Cluster, as ``namespace:key`` string keys.

    ``RedisBackend`` talks through redis-py's sync client, ``AsyncRedisBackend``
    through ``redis.asyncio`` with one client per running event loop (closed in
    that loop when the engine is closed or the loop shuts down). Connections are
    made on first use, never at construction, and a connection lost to a server
    restart is made again on the next call. Every client error becomes a
    :class:`~twat_cache.exceptions.BackendError` naming the server (never the
    password), with the client's exception as ``__cause__``.

    Args:
        settings: Where the server is and how to talk to it (see
            :meth:`RedisSettings.from_url`); a local server by default.
        namespace: The namespace; ``clear()`` and ``keys()`` touch only its keys.

    Example:
        >>> url = "redis://127.0.0.1:6379/0"
        >>> cache = RedisBackend.from_url(url, namespace="app")  # doctest: +SKIP
        >>> cache.set("k", b"v", ttl=60)  # doctest: +SKIP
        True
    """

    # invalidation_channel: pub/sub keeps core's near tiers coherent (twat_cache_redis.channel);
    # compare_and_delete: a Lua script; delete_wakeups: a list per release, BLMOVE by waiters
    capabilities = Capabilities(
        native_async=True,
        persistent=True,
        max_value_size=MAX_VALUE_SIZE,
        invalidation_channel=True,
        compare_and_delete=True,
        delete_wakeups=True,
        reports_expiry=True,
    )

    def __init__(
        self, settings: RedisSettings | None = None, *, namespace: str = "default"
    ) -> None:
        super().__init__(namespace)
        self.settings = settings if settings is not None else RedisSettings()
        self._keyspace = Keyspace(namespace)
        self._clients: AsyncResource[Any] = AsyncResource(
            self.settings.connect_async, _disconnect, name=f"twat-cache-redis-{namespace}"
        )

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> AsyncRedisBackend:
        """Build the engine from a validated config and its URL; no connection is made.

        Raises:
            ConfigurationError: for an unknown or invalid URL option.
        """
        settings = RedisSettings.from_url(url)
        # timeout= bounds the client's own reads and connects too (unless the URL sets them)
        own = client_timeouts(
            config, url, reply=["socket_timeout"], connect=["socket_connect_timeout"]
        )
        bounded = replace(
            settings,
            socket_timeout=own.get("socket_timeout", settings.socket_timeout),
            socket_connect_timeout=own.get(
                "socket_connect_timeout", settings.socket_connect_timeout
            ),
        )
        return cls(bounded, namespace=config.namespace)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "default") -> AsyncRedisBackend:
        """Build the engine from a URL such as ``redis://host:6379/0``; no connection is made.

        Raises:
            ConfigurationError: for an unknown or invalid URL option.
        """
        return cls(RedisSettings.from_url(url), namespace=namespace)

    # core's base class types this as the other protocol, which a subclass of the other base
    # class does not satisfy (ClassVar vs attribute)
    def make_sync(self) -> RedisBackend:  # type: ignore[override,unused-ignore]
        """Return the twin engine (sync or asyncio) with the same settings and namespace."""
        from twat_cache_redis import RedisBackend

        return RedisBackend(self.settings, namespace=self.namespace)

    def invalidation_channel(self) -> RedisChannel:
        """Return the pub/sub channel of this namespace (for core's tiers, docs/tiers.md)."""
        return RedisChannel(self.settings, self.namespace)

    async def _redis(self) -> Any:
        self._check_open()
        return await self._clients.get()

    def _errors(self, operation: str) -> Translate:
        return Translate(self.settings, operation)

    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None``."""
        # the hit path: Translate's work as a plain try (no context manager object per read);
        # the client at hand without another coroutine (a closed engine has none)
        try:
            client = self._clients.current() or await self._redis()
            value: bytes | None = await client.get(self._keyspace.key(key))
        except TwatCacheError:
            raise
        except Exception as exc:
            raise self.settings.error("get", exc) from exc
        return value

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries: one MGET (on a Cluster, one per slot, pipelined per node)."""
        if type(keys) is not list:
            keys = list(keys)
        if not keys:
            self._check_open()
            return {}
        prefix = self._keyspace.prefix  # Keyspace.key, inline: a tagged hit is a get_many
        physical = [prefix + k.encode() for k in keys]
        try:  # a tagged hit is a get_many: a plain try, as in get
            client = self._clients.current() or await self._redis()
            if not self.settings.cluster:  # MGET itself: mget() only adds argument handling
                values = await client.execute_command("MGET", *physical)
                if None in values:  # some absent: only the present ones
                    return {k: v for k, v in zip(keys, values, strict=True) if v is not None}
                return dict(zip(keys, values, strict=True))  # no comprehension frame: a hit's path
            pipe = client.pipeline()
            groups = by_slot(physical)
            for group in groups:
                pipe.execute_command("MGET", *group)
            by_name = by_key(groups, await pipe.execute())
            return found(keys, [by_name[k] for k in physical])
        except TwatCacheError:
            raise
        except Exception as exc:
            raise self.settings.error("get_many", exc) from exc

    async def get_heads(self, keys: Sequence[str], size: int) -> dict[str, bytes]:
        """Return the first ``size`` bytes of the present entries, in one script call.

        ``keys()`` of the cache reads the entries' headers (their tags) this way,
        never their whole values. On a Cluster: one call per slot, pipelined per node.
        An entry is never empty, so an empty answer is an absent (or expired) key.
        """
        keys = list(keys)
        if not keys:
            self._check_open()
            return {}
        physical = [self._keyspace.key(k) for k in keys]
        with self._errors("get_heads"):
            client = await self._redis()
            if not self.settings.cluster:
                heads = await client.eval(HEADS_SCRIPT, len(physical), *physical, size)
                return {key: head for key, head in zip(keys, heads, strict=True) if head}
            pipe = client.pipeline()
            groups = by_slot(physical)
            for group in groups:
                pipe.execute_command("EVAL", HEADS_SCRIPT, len(group), *group, size)
            values = by_key(groups, await pipe.execute())
            pairs = zip(keys, physical, strict=True)
            return {key: head for key, one in pairs if (head := values[one])}

    async def server_version(self) -> str:
        """``INFO server``'s version (on a Cluster, every node's, when they differ)."""
        with self._errors("server_version"):
            return version_of(await (await self._redis()).info("server"))

    async def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each present key expires: one pipeline of PTTLs (routed per node on a Cluster)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            self._check_open()
            return {}
        with self._errors("expiries"):
            client = await self._redis()
            pipe = (
                client.pipeline() if self.settings.cluster else client.pipeline(transaction=False)
            )
            for key in keys:
                pipe.pttl(self._keyspace.key(key))
            replies = await pipe.execute()
        return expiry_times(keys, replies, time.time())

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry); return True."""
        with self._errors("set"):
            await (await self._redis()).set(self._keyspace.key(key), value, px=ttl_ms(ttl))
        return True

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item: one pipeline of SETs (per node on a Cluster); return True."""
        if not items:
            self._check_open()
            return True
        px = ttl_ms(ttl)
        with self._errors("set_many"):
            client = await self._redis()
            pipe = (
                client.pipeline() if self.settings.cluster else client.pipeline(transaction=False)
            )
            for key, value in items.items():
                pipe.set(self._keyspace.key(key), value, px=px)
            await pipe.execute()
        return True

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent (SET NX, atomic); return whether it was."""
        with self._errors("add"):
            stored = await (await self._redis()).set(
                self._keyspace.key(key), value, px=ttl_ms(ttl), nx=True
            )
            return bool(stored)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        with self._errors("delete"):
            return bool(await (await self._redis()).unlink(self._keyspace.key(key)))

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only while it holds ``value`` (one Lua script); wake its waiters.

        Return whether it was removed.
        """
        physical = self._keyspace.key(key)
        with self._errors("delete_if"):
            client = await self._redis()
            deleted = bool(await client.eval(DELETE_IF_SCRIPT, 1, physical, value))
            if deleted:  # its own slot on a Cluster: a second script, not part of the first
                await client.eval(WAKE_SCRIPT, 1, wake_key(physical, value), WAKE_TTL_MS)
            return deleted

    async def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """Block (BLMOVE) until ``delete_if(key, value)`` succeeded, at most ``timeout`` s.

        The block is cut to a share of ``socket_timeout``; return False when it ran out.
        """
        block = min(timeout, self.settings.socket_timeout * BLOCK_SHARE)
        wake = wake_key(self._keyspace.key(key), value)
        with self._errors("wait_deleted"):
            client = await self._redis()
            if block < SHORTEST_BLOCK:
                return bool(await client.exists(wake))
            return await client.blmove(wake, wake, block, "RIGHT", "LEFT") is not None

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` with UNLINK (one per slot on a Cluster); return how many were present."""
        self._check_open()
        if not keys:
            return 0
        with self._errors("delete_many"):
            return await self._unlink([self._keyspace.key(k) for k in keys])

    async def _unlink(self, physical: list[bytes]) -> int:
        client = await self._redis()
        if not self.settings.cluster:
            return int(await client.unlink(*physical))
        pipe = client.pipeline()
        for group in by_slot(physical):
            pipe.execute_command("UNLINK", *group)
        return sum(int(n) for n in await pipe.execute())

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: no expiry); return whether it was present."""
        milliseconds = "" if ttl is None else ttl_ms(ttl)
        with self._errors("touch"):
            client = await self._redis()
            return bool(await client.eval(TOUCH_SCRIPT, 1, self._keyspace.key(key), milliseconds))

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Raises:
            ValueError: when ``key`` is absent (it is not created).
            TypeError: when the value is not an integer.
            OverflowError: when the result would leave the signed 64-bit range (the
                value is unchanged).
        """
        refused: tuple[Exception, ResponseError] | None = None
        with self._errors("incr"):
            client = await self._redis()
            try:
                value = await client.eval(INCR_SCRIPT, 1, self._keyspace.key(key), delta)
            except ResponseError as exc:
                error = incr_error(key, delta, str(exc))
                if error is None:
                    raise
                refused = (error, exc)
        if refused is not None:
            raise refused[0] from refused[1]
        if value is None:
            raise ValueError(f"key {key!r} not found")
        return int(value)

    async def clear(self) -> None:
        """Remove this namespace's keys: SCAN MATCH ``namespace:*`` + UNLINK in batches."""
        with self._errors("clear"):
            batch: list[bytes] = []
            async for physical in (await self._redis()).scan_iter(
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
            async for physical in (await self._redis()).scan_iter(
                match=self._keyspace.pattern, count=SCAN_COUNT
            ):
                if physical not in seen:
                    seen.add(physical)
                    yield self._keyspace.relative(physical)

    async def _close(self) -> None:
        await self._clients.aclose()


async def _disconnect(client: Any) -> None:
    await client.aclose()
