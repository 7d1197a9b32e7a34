"""The ``aiocache+redis://`` store: aiocache's ``RedisCache`` on redis-py's ``redis.asyncio``."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from twat_cache.engines.redis_scripts import INCR_SCRIPT, TOUCH_SCRIPT, incr_error
from twat_cache.protocols import NEVER_EXPIRES, Capabilities

from twat_cache_aio.store import Store, bytes_serializer, missing_client

__all__ = ["RedisStore"]

logger = logging.getLogger("twat_cache")

SCAN_COUNT = 500  # keys per SCAN and per UNLINK: quick, yet never blocks the server for long
_PTTLS_SCRIPT = (
    "local left = {} for i, key in ipairs(KEYS) do left[i] = redis.call('PTTL', key) end "
    "return left"
)
_GLOB = re.compile(r"([*?\[\]\\])")


class RedisStore(Store):
    """aiocache's ``RedisCache`` (redis-py's ``redis.asyncio``), keys ``{namespace}:{key}``."""

    kind = "redis"
    capabilities = Capabilities(
        native_async=True, persistent=True, max_value_size=512 * 1024 * 1024, reports_expiry=True
    )

    def __init__(
        self,
        namespace: str,
        *,
        host: str,
        port: int,
        db: int,
        username: str | None,
        password: str | None,
        timeout: float,
        pool_max_size: int | None,
        create_connection_timeout: float | None,
        ssl: bool,
    ) -> None:
        super().__init__(namespace)
        try:
            import redis.asyncio
            from aiocache.backends.redis import RedisCache
        except ImportError as exc:  # pragma: no cover - the test environment has the extra
            raise missing_client("redis", "redis", exc) from exc
        self._cache_class: Any = RedisCache
        self._blocking_pool: Any = redis.asyncio.BlockingConnectionPool
        self.failures = (redis.RedisError, OSError, asyncio.TimeoutError)
        self._response_error: type[Exception] = redis.ResponseError
        self.settings: dict[str, Any] = {
            "endpoint": host,
            "port": port,
            "db": db,
            "password": password,
            "pool_max_size": pool_max_size,
            "create_connection_timeout": create_connection_timeout,
            "ssl": ssl,
            "timeout": timeout,
        }
        self._username = username
        self.prefix = f"{namespace}:"
        self._pattern = _GLOB.sub(r"\\\1", self.prefix) + "*"

    def connect(self) -> Any:
        """Return a ``RedisCache`` (redis-py connects on the first command)."""
        pool_kwargs: dict[str, Any] = {}
        if self._username is not None:
            pool_kwargs["username"] = self._username
        settings = dict(self.settings)
        pool_class = None
        if settings["pool_max_size"] is not None:
            # redis-py's plain pool raises "Too many connections" at the limit; this one waits
            pool_class = self._blocking_pool
            pool_kwargs["timeout"] = settings["timeout"] or None
        return self._cache_class(
            serializer=bytes_serializer(),
            namespace=self.namespace,
            connection_pool_class=pool_class,
            connection_pool_kwargs=pool_kwargs,
            **settings,
        )

    async def disconnect(self, cache: Any) -> None:
        """``aclose()`` the client.

        (aiocache's own ``close()`` calls redis-py's ``close()``, deprecated since 5.0.1.)
        """
        client = cache.client
        closer = getattr(client, "aclose", None) or client.close  # aclose: redis-py >= 5.0.1
        try:
            await closer()
        except self.failures as exc:
            logger.debug("closing aiocache+redis: %s", exc, extra={"engine": "aiocache+redis"})

    async def server_version(self, cache: Any) -> str:
        """``INFO server``'s ``redis_version``."""
        info = await cache.raw("info", "server")
        return f"Redis {info['redis_version']}"

    async def expiries(self, cache: Any, keys: list[str]) -> dict[str, float]:
        """Every key's PTTL in one script (one round trip); -2 absent, -1 no expiry."""
        names = [cache.build_key(key) for key in keys]
        replies = await cache.raw("eval", _PTTLS_SCRIPT, len(names), *names)
        now = time.time()
        times: dict[str, float] = {}
        for key, left in zip(keys, replies, strict=True):
            if left == -1:
                times[key] = NEVER_EXPIRES
            elif left >= 0:
                times[key] = now + int(left) / 1000
        return times

    async def delete_many(self, cache: Any, keys: list[str]) -> int:
        """One DEL; Redis answers how many existed."""
        return int(await cache.raw("delete", *[cache.build_key(key) for key in keys]))

    async def touch(self, cache: Any, key: str, ttl: float | None) -> bool:
        """PEXPIRE, or PERSIST for ``None``, in a script that answers whether the key exists."""
        milliseconds = "" if ttl is None else str(max(1, int(ttl * 1000)))
        return bool(await cache.raw("eval", TOUCH_SCRIPT, 1, cache.build_key(key), milliseconds))

    async def incr(self, cache: Any, key: str, delta: int) -> int:
        """INCRBY in a script that first checks the key exists (INCRBY would create it)."""
        try:
            value = await cache.raw("eval", INCR_SCRIPT, 1, cache.build_key(key), delta)
        except self._response_error as exc:
            error = incr_error(key, delta, str(exc))
            if error is None:
                raise
            raise error from exc
        if value is None:
            raise ValueError(f"no value under {key!r} to increment")
        return int(value)

    async def _scan(self, cache: Any) -> AsyncIterator[bytes]:
        seen: set[bytes] = set()  # SCAN may return a key twice while the table grows
        cursor = 0
        while True:
            cursor, names = await cache.raw("scan", cursor, match=self._pattern, count=SCAN_COUNT)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    yield name
            if not cursor:
                return

    async def clear(self, cache: Any) -> None:
        """SCAN the namespace's prefix and UNLINK in batches (never FLUSHDB, never KEYS)."""
        batch: list[bytes] = []
        async for name in self._scan(cache):
            batch.append(name)
            if len(batch) >= SCAN_COUNT:
                await cache.raw("unlink", *batch)
                batch = []
        if batch:
            await cache.raw("unlink", *batch)

    async def keys(self, cache: Any) -> AsyncIterator[str]:
        """SCAN the namespace's prefix."""
        async for name in self._scan(cache):
            yield name.decode("utf-8", "replace")[len(self.prefix) :]
