"""The ``aiocache+memcached://`` store: aiocache's ``MemcachedCache`` on aiomcache."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from twat_cache.engines.generations import Generations
from twat_cache.engines.integers import INT64_MAX, checked_sum, overflow_error, parse_int
from twat_cache.exceptions import BackendError, EngineNotAvailableError
from twat_cache.protocols import Capabilities
from twat_cache.serializers import encode_int

from twat_cache_aio.store import Store, bytes_serializer, missing_client

if TYPE_CHECKING:
    from aiomcache.pool import Connection

__all__ = ["MemcachedStore", "memcached_exptime"]

logger = logging.getLogger("twat_cache")

MEMCACHED_MAX_KEY = 250  # bytes, memcached's limit
MEMCACHED_ITEM_SIZE = 1024 * 1024  # memcached's default -I
_RELATIVE_EXPTIME_LIMIT = 30 * 24 * 3600  # memcached reads a larger exptime as a Unix time
CAS_ATTEMPTS = 100  # compare-and-swap rounds of one incr before contention is a failure
# EofSafeClient overrides aiomcache's private _execute_simple_command: only the releases whose
# method it replaces are allowed (pyproject bounds aiomcache the same way)
AIOMCACHE_TESTED = ((0, 8), (0, 9))


def memcached_exptime(ttl: float | None) -> int:
    """Return memcached's ``exptime`` for a ``ttl`` in seconds.

    memcached counts whole seconds on a clock that ticks once a second, so an
    ``exptime`` of 1 may end after a fraction of a second: the ttl is rounded up
    and one second added, so an entry lives at least ``ttl`` and at most about
    ``ttl + 2`` seconds. Longer than 30 days becomes a Unix time, as memcached
    requires. ``None`` is 0 (no expiry).

    Example:
        >>> memcached_exptime(0.5), memcached_exptime(None)
        (2, 0)
    """
    if ttl is None:
        return 0
    seconds = math.ceil(max(ttl, 0.0)) + 1
    if seconds > _RELATIVE_EXPTIME_LIMIT:
        return int(time.time()) + seconds
    return seconds


def check_aiomcache_version(version: str) -> None:
    """Refuse an aiomcache release whose private method the EOF-safe client does not know.

    Raises:
        EngineNotAvailableError: naming the installed and the supported versions.
    """
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        found = (0, 0)
    low, high = AIOMCACHE_TESTED
    if not low <= found < high:
        raise EngineNotAvailableError(
            f"aiocache+memcached needs aiomcache >=0.8,<0.9 (installed: {version}): its client "
            "is patched against a busy loop on a closed connection, which only those releases "
            'have in the form patched; pip install "aiomcache>=0.8,<0.9"'
        )


@functools.lru_cache(maxsize=1)
def _memcached_client_class() -> type[Any]:
    import aiomcache

    check_aiomcache_version(aiomcache.__version__)

    class EofSafeClient(aiomcache.Client):
        """aiomcache's client, except that a connection closed mid-reply raises.

        aiomcache (0.8) reads a one-line reply with ``readline()`` in a loop that
        never ends once the server has closed the connection: ``readline()`` at
        EOF returns ``b""`` at once, without yielding, so no timeout can stop it
        and the event loop's thread spins. A dead memcached is exactly when
        fail-open must answer quickly.
        """

        async def _execute_simple_command(self, conn: Connection, raw_command: bytes) -> bytes:
            response, line = bytearray(), b""
            conn.writer.write(raw_command)
            await conn.writer.drain()
            while not line.endswith(b"\r\n"):
                line = await conn.reader.readline()
                if not line:
                    raise ConnectionResetError("memcached closed the connection before it answered")
                response.extend(line)
            return bytes(response[:-2])

    return EofSafeClient


class MemcachedStore(Store):
    """aiocache's ``MemcachedCache`` (aiomcache), keys ``{namespace}:{generation}:{key}``.

    ``clear()`` increments the namespace's generation counter, kept under
    ``{namespace}:__gen__``: older entries are never read again and memcached's
    LRU reclaims them; ``flush_all`` is never sent. A counter created again
    (evicted, server restarted) starts at the current time in nanoseconds, above
    every generation it had before, so cleared entries never come back. Reads
    fetch the generation and the key in one ``get`` (with the generation seen
    last); writes read the generation first, so that a write after another
    process's ``clear()`` is never lost (a lock or a tag counter must not be).
    """

    kind = "memcached"
    supports_keys = False
    capabilities = Capabilities(
        lists_keys=False,
        native_async=True,
        persistent=True,
        max_key_length=MEMCACHED_MAX_KEY - Generations.overhead(64),
        max_value_size=MEMCACHED_ITEM_SIZE,
    )

    def __init__(
        self, namespace: str, *, host: str, port: int, timeout: float, pool_size: int
    ) -> None:
        super().__init__(namespace)
        try:
            import aiomcache
            from aiocache.backends.memcached import MemcachedCache
        except ImportError as exc:  # pragma: no cover - the test environment has the extra
            raise missing_client("memcached", "aiomcache", exc) from exc
        self._cache_class: Any = MemcachedCache
        self._client_error: type[Exception] = aiomcache.ClientException
        self.failures = (aiomcache.ClientException, OSError, asyncio.TimeoutError)
        self.host, self.port, self.timeout, self.pool_size = host, port, timeout, pool_size
        self._names = Generations(namespace, max_key_length=MEMCACHED_MAX_KEY)
        self.generation_key = self._names.counter_key
        self._generation: int | None = None

    def connect(self) -> Any:
        """Return a ``MemcachedCache`` on an EOF-safe aiomcache client (connects on first use)."""
        cache = self._cache_class(
            serializer=bytes_serializer(),
            endpoint=self.host,
            port=self.port,
            pool_size=self.pool_size,
            timeout=self.timeout,
        )
        cache.client = _memcached_client_class()(self.host, self.port, pool_size=self.pool_size)
        return cache

    async def server_version(self, cache: Any) -> str:
        """The server's ``version`` (aiomcache's ``version()``)."""
        version: bytes = await cache.client.version()
        return f"memcached {version.decode()}"

    async def disconnect(self, cache: Any) -> None:
        """Close the client's idle connections."""
        try:
            await cache.client.close()
        except self.failures as exc:  # pragma: no cover - closing sockets does not fail in practice
            logger.debug(
                "closing aiocache+memcached: %s", exc, extra={"engine": "aiocache+memcached"}
            )

    def ttl(self, ttl: float | None) -> int:
        """See :func:`memcached_exptime`."""
        return memcached_exptime(ttl)

    def physical(self, generation: int, key: str) -> str:
        """Return the memcached key of ``key`` under ``generation``.

        Keys with spaces, control or non-ASCII characters, or too long for
        memcached's 250 bytes, get a hashed stand-in (core's ``fit_key``; aiocache
        would turn spaces into ``_``, so that ``"a b"`` and ``"a_b"`` collided).
        """
        return self._names.key(generation, key)

    # -- generations ---------------------------------------------------------------------

    def _adopt(self, raw: bytes) -> int:
        try:
            self._generation = self._names.parse(raw)
        except ValueError as exc:
            raise self._client_error(str(exc)) from None
        return self._generation

    async def _new_generation(self, cache: Any) -> int:
        fresh = str(Generations.fresh()).encode()
        try:
            await cache.add(self.generation_key, fresh, ttl=0, namespace="")
        except ValueError:  # another process created it first
            raw = await cache.get(self.generation_key, namespace="")
            if raw is not None:
                return self._adopt(raw)
            await cache.set(self.generation_key, fresh, ttl=0, namespace="")
        return self._adopt(fresh)

    async def _current(self, cache: Any) -> int:
        """Read the namespace's generation (one round trip)."""
        raw = await cache.get(self.generation_key, namespace="")
        return self._adopt(raw) if raw is not None else await self._new_generation(cache)

    async def _counter(self, cache: Any, name: str, delta: int) -> int | None:
        """Memcached ``incr`` (``delta`` >= 0); ``None`` when absent, -1 when not unsigned."""
        try:
            return int(await cache.raw("incr", name.encode(), delta))
        except self._client_error as exc:
            if "NOT_FOUND" in str(exc):
                return None
            if "CLIENT_ERROR" in str(exc):
                return -1
            raise

    # -- the contract ----------------------------------------------------------------------

    async def get_many(self, cache: Any, keys: list[str]) -> dict[str, bytes]:
        """One ``get`` of the generation and the keys; again if a clear() came in between."""
        generation = self._generation
        if generation is not None:
            names = [self.physical(generation, key) for key in keys]
            raw, *values = await cache.multi_get([self.generation_key, *names], namespace="")
            if raw is not None and self._adopt(raw) == generation:
                return {
                    key: value for key, value in zip(keys, values, strict=True) if value is not None
                }
            if raw is None:
                await self._new_generation(cache)
        generation = (
            self._generation if self._generation is not None else await self._current(cache)
        )
        names = [self.physical(generation, key) for key in keys]
        values = await cache.multi_get(names, namespace="")
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    async def get(self, cache: Any, key: str) -> bytes | None:
        """See :meth:`get_many`."""
        return (await self.get_many(cache, [key])).get(key)

    async def set(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """Memcached ``set``; False when the server declines the value as too large."""
        name = self.physical(await self._current(cache), key)
        try:
            stored = await cache.set(name, value, ttl=self.ttl(ttl), namespace="")
        except self._client_error as exc:
            if "too large" in str(exc):
                return False
            raise
        if not stored:  # pragma: no cover - memcached answers NOT_STORED only to add/cas
            raise self._client_error(f"memcached did not store {key!r}")
        return True

    async def set_many(self, cache: Any, items: dict[str, bytes], ttl: float | None) -> bool:
        """Concurrent ``set``s under one generation read; False when a value is too large."""
        generation = await self._current(cache)
        pairs = [(self.physical(generation, key), value) for key, value in items.items()]
        try:
            await cache.multi_set(pairs, ttl=self.ttl(ttl), namespace="")
        except self._client_error as exc:
            if "too large" in str(exc):
                return False
            raise
        return True

    async def add(self, cache: Any, key: str, value: bytes, ttl: float | None) -> bool:
        """Memcached ``add`` (atomic on the server); False when present or too large."""
        name = self.physical(await self._current(cache), key)
        try:
            await cache.add(name, value, ttl=self.ttl(ttl), namespace="")
        except ValueError:
            return False
        except self._client_error as exc:
            if "too large" in str(exc):
                return False
            raise
        return True

    async def delete(self, cache: Any, key: str) -> bool:
        """Memcached ``delete``."""
        return bool(
            await cache.delete(self.physical(await self._current(cache), key), namespace="")
        )

    async def delete_many(self, cache: Any, keys: list[str]) -> int:
        """Concurrent ``delete``s under one generation read (memcached answers each)."""
        generation = await self._current(cache)
        deleted = await asyncio.gather(
            *(cache.delete(self.physical(generation, key), namespace="") for key in keys)
        )
        return sum(1 for count in deleted if count)

    async def touch(self, cache: Any, key: str, ttl: float | None) -> bool:
        """Memcached ``touch`` (exptime 0: no expiry)."""
        name = self.physical(await self._current(cache), key)
        return bool(await cache.expire(name, self.ttl(ttl), namespace=""))

    async def incr(self, cache: Any, key: str, delta: int) -> int:
        """Signed 64-bit ``incr``, as the sync memcached engine does it.

        memcached's ``incr`` is unsigned: a positive ``delta`` on a value of zero or
        more uses it (a result past 2**63 - 1 is taken back with ``decr`` and raised
        as an overflow); a negative ``delta`` or a value below zero is a
        compare-and-swap, which keeps the counter without its ttl.
        """
        name = self.physical(await self._current(cache), key)
        if 0 <= delta <= INT64_MAX:
            value = await self._counter(cache, name, delta)
            if value is None:
                raise ValueError(f"no value under {key!r} to increment")
            if 0 <= value <= INT64_MAX:
                return value
            if value > INT64_MAX:
                await cache.raw("decr", name.encode(), delta)
                raise overflow_error(key, delta)
        for _ in range(CAS_ATTEMPTS):
            raw, token = await cache.raw("gets", name.encode())
            if raw is None:
                raise ValueError(f"no value under {key!r} to increment")
            result = checked_sum(key, parse_int(key, raw), delta)
            if await cache.raw("cas", name.encode(), encode_int(result), token, 0):
                return result
        raise BackendError(f"aiocache+memcached: {key!r} changed {CAS_ATTEMPTS} times in one incr")

    async def clear(self, cache: Any) -> None:
        """Increment the generation: every entry of the namespace is left behind at once."""
        value = await self._counter(cache, self.generation_key, 1)
        if value is None or value < 0:
            await self._new_generation(cache)
        else:
            self._generation = value
