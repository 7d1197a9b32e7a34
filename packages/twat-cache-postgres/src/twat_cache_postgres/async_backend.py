"""The asyncio PostgreSQL engine: the same table and guarantees as the sync one.

It runs on psycopg's native ``AsyncConnection`` through an ``AsyncConnectionPool``
(no thread per call). The pool belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from twat_cache.engines.base import BaseAsyncBackend

from twat_cache_postgres.backend import (
    CREATION_RACE,
    KEYS_PAGE,
    NOT_AN_INTEGER,
    PURGE_BATCH,
    Engine,
    PostgresBackend,
    Row,
    is_alive,
    logger,
    not_an_integer,
)
from twat_cache_postgres.settings import PostgresSettings

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["AsyncPostgresBackend"]

_T = TypeVar("_T")
AsyncConnection = psycopg.AsyncConnection[TupleRow]


class AsyncPostgresBackend(Engine, BaseAsyncBackend):
    """The asyncio engine, over a psycopg ``AsyncConnectionPool``: the same table and guarantees.

    Its pool belongs to the event loop that first uses it; use one engine per loop.

    Args:
        settings: The settings, or a ``postgresql://`` URL to read them from.
        namespace: The namespace.

    Example:
        >>> backend = AsyncPostgresBackend("postgresql://app@127.0.0.1/app")
        >>> await backend.set("k", b"v", ttl=60)
    """

    def __init__(self, settings: PostgresSettings | str, namespace: str = "default") -> None:
        super().__init__(namespace)
        self._setup(settings)
        self._pool: AsyncConnectionPool[AsyncConnection] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> AsyncPostgresBackend:
        """Build from ``postgresql://`` or ``postgres://`` (see :class:`PostgresSettings`)."""
        return cls(PostgresSettings.from_url(url), namespace=config.namespace)

    def make_sync(self) -> PostgresBackend:
        """Return the sync engine for the same settings and namespace."""
        return PostgresBackend(self.settings, namespace=self.namespace)

    # -- plumbing ----------------------------------------------------------------------
    async def _open_pool(self) -> AsyncConnectionPool[AsyncConnection]:
        self._check_open()
        pool = self._pool
        if pool is None:
            async with self._lock:
                if self._pool is None:
                    await self._create_table()
                    created: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
                        **self._pool_options()
                    )
                    await created.open(wait=False)
                    self._pool = created
                    self._closer = asyncio.create_task(
                        self._close_with_loop(created), name=f"twat-cache-{self.namespace}-closer"
                    )
                pool = self._pool
        return pool

    async def _create_table(self) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(
                **self.settings.connect_kwargs()
            ) as conn:
                if await self._table_exists(conn):
                    return
                try:
                    async with conn.transaction():
                        await conn.execute(self._sql.create_table)
                        await conn.execute(self._sql.create_index)
                except CREATION_RACE:
                    self._log_race()
        except psycopg.Error as exc:
            raise self.settings.error(exc, "cannot create the cache table") from exc

    async def _table_exists(self, conn: AsyncConnection) -> bool:
        row = await (await conn.execute(self._sql.exists)).fetchone()
        return bool(row and row[0])

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        pool = await self._open_pool()
        try:
            conn = await pool.getconn()
            for _ in range(self.settings.max_size):
                if is_alive(conn):
                    break
                await conn.close()  # the server closed it: the pool replaces a closed connection
                await pool.putconn(conn)
                conn = await pool.getconn()
            try:
                yield conn
            finally:
                await pool.putconn(conn)
        except PoolTimeout as exc:
            cause = await self._diagnose() or exc
            raise self.settings.error(cause, "no connection within the pool timeout") from cause
        except psycopg.Error as exc:
            raise self.settings.error(exc) from exc

    async def _diagnose(self) -> psycopg.Error | None:
        try:
            await (await psycopg.AsyncConnection.connect(**self.settings.connect_kwargs())).close()
        except psycopg.Error as exc:
            return exc
        return None

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        """Run ``work`` on a pooled connection; if the table vanished, create it and run again."""
        async with self._connection() as conn:
            try:
                return await work(conn)
            except errors.UndefinedTable:
                self._log_table_gone()
        await self._create_table()
        async with self._connection() as conn:
            return await work(conn)

    async def _after_write(self, conn: AsyncConnection) -> None:
        if self._purge_due():
            try:
                await conn.execute(self._sql.purge, (PURGE_BATCH,))
            except psycopg.Error as exc:  # a purge that fails must not fail the write
                logger.debug("lazy purge of expired rows failed: %s", exc)

    async def _one(
        self, query: sql.Composed, params: Sequence[Any], write: bool = False
    ) -> Row | None:
        async def work(conn: AsyncConnection) -> Row | None:
            row = await (await conn.execute(query, params)).fetchone()
            if write:
                await self._after_write(conn)
            return row

        return await self._run(work)

    async def _all(self, query: sql.Composed, params: Sequence[Any]) -> list[Row]:
        async def work(conn: AsyncConnection) -> list[Row]:
            return await (await conn.execute(query, params)).fetchall()

        return await self._run(work)

    async def _count(self, query: sql.Composed, params: Sequence[Any], write: bool = False) -> int:
        async def work(conn: AsyncConnection) -> int:
            count = (await conn.execute(query, params)).rowcount
            if write:
                await self._after_write(conn)
            return count

        return await self._run(work)

    # -- the AsyncBackend protocol -------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        row = await self._one(self._sql.get, (self.namespace, key))
        return None if row is None else bytes(row[0])

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the live entries among ``keys``, in one query."""
        self._check_open()
        if not keys:
            return {}
        rows = await self._all(self._sql.get_many, (self.namespace, list(dict.fromkeys(keys))))
        return {key: bytes(value) for key, value in rows}

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: forever)."""
        await self._count(self._sql.set, (self.namespace, key, value, ttl), write=True)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item in one transaction (pipelined upserts)."""
        self._check_open()
        if not items:
            return
        rows = [(self.namespace, key, value, ttl) for key, value in items.items()]

        async def work(conn: AsyncConnection) -> None:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(self._sql.set, rows)
            await self._after_write(conn)

        await self._run(work)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic."""
        row = await self._one(self._sql.add, (self.namespace, key, value, ttl), write=True)
        return row is not None

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        row = await self._one(self._sql.delete, (self.namespace, key))
        return bool(row and row[0])

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one statement; return how many live entries were there."""
        self._check_open()
        if not keys:
            return 0
        row = await self._one(self._sql.delete_many, (self.namespace, list(dict.fromkeys(keys))))
        return int(row[0]) if row else 0

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give a live ``key`` a new ``ttl``; return whether it was there."""
        return await self._count(self._sql.touch, (ttl, self.namespace, key)) > 0

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` atomically (see ``PostgresBackend.incr``)."""

        async def work(conn: AsyncConnection) -> Row | None:
            try:
                cur = await conn.execute(self._sql.incr, (delta, self.namespace, key))
            except NOT_AN_INTEGER as exc:
                raise not_an_integer(key, exc) from exc
            return await cur.fetchone()

        row = await self._run(work)
        if row is None:
            raise ValueError(f"key {key!r} not found")
        return int(row[0])

    async def clear(self) -> None:
        """Remove every row of this namespace, and nothing else."""
        await self._count(self._sql.clear, (self.namespace,))

    def keys(self) -> AsyncIterator[str]:
        """Iterate over this namespace's live keys, in pages of 1000."""
        self._check_open()
        return self._pages()

    async def _pages(self) -> AsyncIterator[str]:
        rows = await self._all(self._sql.keys_first, (self.namespace, KEYS_PAGE))
        while True:
            for (key,) in rows:
                yield key
            if len(rows) < KEYS_PAGE:
                return
            rows = await self._all(self._sql.keys_after, (self.namespace, rows[-1][0], KEYS_PAGE))

    async def purge_expired(self, batch: int = PURGE_BATCH) -> int:
        """Delete expired rows of every namespace, ``batch`` at a time; return the count."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        total, deleted = 0, batch
        while deleted == batch:
            deleted = await self._count(self._sql.purge, (batch,))
            total += deleted
        return total

    async def _close_with_loop(self, pool: AsyncConnectionPool[AsyncConnection]) -> None:
        """Wait for the event loop's shutdown, then close ``pool``.

        psycopg_pool's maintenance tasks swallow a cancellation that lands while
        they run (say, while a connection is being opened), so a loop shut down
        with the pool still open -- ``asyncio.run()`` ending without ``close()``,
        as with a decorated function -- would wait for them forever. The shutdown
        cancels this task as well, and closing the pool here stops them. A later
        event loop then gets a pool of its own.
        """
        try:
            await asyncio.get_running_loop().create_future()  # never set: only cancelled
        finally:
            if self._pool is pool:
                self._pool, self._closer, self._lock = None, None, asyncio.Lock()
            await pool.close()

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        closer, self._closer = self._closer, None
        if pool is not None:
            await pool.close()
        if closer is not None:
            closer.cancel()
            await asyncio.wait([closer])
