"""The PostgreSQL engine: one table, rows keyed by ``(namespace, key)``.

``AsyncPostgresBackend`` runs on psycopg's ``AsyncConnection`` through an
``AsyncConnectionPool`` (one per running event loop), ``PostgresBackend`` on
``Connection`` through a ``ConnectionPool``. Written once: this file is the
source, ``twat_cache_postgres/backend.py`` is generated from it by
``bash tools/unasync``.

A pool of autocommit connections is opened on first use (never at
construction); the first use also creates the table when it is absent, and a
table that vanishes later (dropped, or lost in a crash) is created again on the
next call. A pooled connection whose server went away (a restart closes every
connection) is noticed at checkout without a round trip -- its socket is
readable while idle -- and replaced, so the call after a restart succeeds. Reads
(safe to repeat) skip that check on the connection their thread keeps: when the
server closed it, the read fails at once and runs again on a checked connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from twat_cache.engines.base import BaseAsyncBackend
from twat_cache.engines.resources import AsyncResource
from twat_cache.exceptions import TwatCacheError
from twat_cache.locking import asleep
from twat_cache.protocols import NEVER_EXPIRES

from twat_cache_postgres.channel import PostgresChannel
from twat_cache_postgres.engine import (
    CREATION_RACE,
    KEYS_PAGE,
    PURGE_BATCH,
    WAKE_POLL,
    AsyncConnection,
    AsyncLeases,
    AsyncWork,
    Engine,
    Row,
    incr_refusal,
    logger,
)
from twat_cache_postgres.settings import PostgresSettings

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

    from twat_cache_postgres import PostgresBackend

__all__ = ["PURGE_BATCH", "AsyncPostgresBackend"]

_T = TypeVar("_T")


class AsyncPostgresBackend(Engine, BaseAsyncBackend):
    """Entries in a PostgreSQL table, over a psycopg connection pool.

    Args:
        settings: The settings, or a ``postgresql://`` URL to read them from.
        namespace: The namespace; rows of other namespaces in the table are never touched.

    Raises:
        ConfigurationError: for an invalid URL or option (no connection is made).

    Example:
        The first operation connects and creates the table if absent (it needs a server,
        so the example is not run as a doctest):

        >>> backend = PostgresBackend(  # doctest: +SKIP
        ...     "postgresql://app@127.0.0.1:5432/app", namespace="users"
        ... )
        >>> backend.set("k", b"v", ttl=60)  # doctest: +SKIP
        True
    """

    def __init__(self, settings: PostgresSettings | str, namespace: str = "default") -> None:
        super().__init__(namespace)
        self._setup(settings)
        self._pools: AsyncResource[AsyncLeases] = AsyncResource(
            self._open_pool, _close_pool, name=f"twat-cache-{self.settings.table}"
        )

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> AsyncPostgresBackend:
        """Build from ``postgresql://`` or ``postgres://`` (see :class:`PostgresSettings`)."""
        return cls(PostgresSettings.from_url(url).bounded(config, url), namespace=config.namespace)

    def make_sync(self) -> PostgresBackend:
        """Return the twin engine (sync or asyncio) for the same settings and namespace."""
        from twat_cache_postgres import PostgresBackend

        return PostgresBackend(self.settings, namespace=self.namespace)

    def invalidation_channel(self) -> PostgresChannel:
        """Return the LISTEN/NOTIFY channel of this namespace (for core's tiers, docs/tiers.md)."""
        return PostgresChannel(self.settings, self.namespace)

    # -- plumbing ----------------------------------------------------------------------
    async def _open_pool(self) -> AsyncLeases:
        await self._create_table()
        pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            connection_class=AsyncConnection, **self._pool_options()
        )
        await pool.open(wait=False)
        return AsyncLeases(pool, self.settings.max_size)

    async def _create_table(self) -> None:
        try:
            async with await AsyncConnection.connect(**self.settings.connect_kwargs()) as conn:
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

    async def _diagnose(self) -> psycopg.Error | None:
        """Connect once outside the pool to learn why the pool could not (None: pool exhausted)."""
        try:
            await (await psycopg.AsyncConnection.connect(**self.settings.connect_kwargs())).close()
        except psycopg.Error as exc:
            return exc
        return None

    async def _run(self, work: AsyncWork[_T], query: bytes, params: Any, read: bool = False) -> _T:
        """Run ``work(conn, query, params)`` on a pooled connection.

        If the table vanished, it is created and ``work`` runs again. A read
        (``read=True``: safe to repeat) takes the connection its thread keeps
        without checking it first; when the server closed that connection while
        it sat idle (a restart), the read runs once more on a checked one.

        Raises:
            BackendError: for any failure of the server or the client, naming the server.
        """
        self._check_open()
        try:
            leases = await self._pools.get()
            retried, check = False, not read
            while True:
                conn = await leases.acquire(check)
                try:
                    return await work(conn, query, params)
                except errors.UndefinedTable:
                    if retried:
                        raise
                    retried = True
                    self._log_table_gone()
                    create = True
                except psycopg.OperationalError:
                    if check or not conn.closed:
                        raise
                    check, create = True, False  # closed while idle: a checked connection now
                finally:
                    await leases.release(conn)
                if create:
                    await self._create_table()
        except PoolTimeout as exc:
            cause = await self._diagnose() or exc
            raise self.settings.error(cause, "no connection within the pool timeout") from cause
        except TwatCacheError:
            raise
        except Exception as exc:  # any client failure (a bug in the client included)
            raise self.settings.error(exc) from exc

    async def _after_write(self, conn: AsyncConnection) -> None:
        if self._purge_due():
            try:
                await conn.execute(self._sql.purge, (PURGE_BATCH,))
            except psycopg.Error as exc:  # a purge that fails must not fail the write
                logger.debug("lazy purge of expired rows failed: %s", exc)

    # what runs on a connection: methods, so that a call builds no closure; the statements
    # that return one row or none run on the connection's kept cursor (KeptConnection)
    @staticmethod
    async def _fetch_one(conn: AsyncConnection, query: bytes, params: Any) -> Row | None:
        return await (await conn.kept().execute(query, params)).fetchone()

    async def _write_one(self, conn: AsyncConnection, query: bytes, params: Any) -> Row | None:
        row = await (await conn.kept().execute(query, params)).fetchone()
        await self._after_write(conn)
        return row

    @staticmethod
    async def _fetch_all(conn: AsyncConnection, query: bytes, params: Any) -> list[Row]:
        return await (await conn.execute(query, params)).fetchall()

    @staticmethod
    async def _rowcount(conn: AsyncConnection, query: bytes, params: Any) -> int:
        return (await conn.kept().execute(query, params)).rowcount

    async def _write_count(self, conn: AsyncConnection, query: bytes, params: Any) -> int:
        count = (await conn.kept().execute(query, params)).rowcount
        await self._after_write(conn)
        return count

    # -- the backend protocol --------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        row = await self._run(self._fetch_one, self._sql.get, (self.namespace, key), read=True)
        return None if row is None else bytes(row[0])

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the live entries among ``keys``, in one query."""
        self._check_open()
        if not keys:
            return {}
        params = (self.namespace, list(dict.fromkeys(keys)))
        rows = await self._run(self._fetch_all, self._sql.get_many, params, read=True)
        return {key: bytes(value) for key, value in rows}

    async def server_version(self) -> str:
        """The server's ``SHOW server_version``."""
        self._check_open()
        rows = await self._run(self._fetch_all, self._sql.server_version, (), read=True)
        return f"PostgreSQL {rows[0][0]}"

    async def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each live key among ``keys`` expires (epoch seconds), in one query."""
        self._check_open()
        if not keys:
            return {}
        params = (self.namespace, list(dict.fromkeys(keys)))
        rows = await self._run(self._fetch_all, self._sql.expiries, params, read=True)
        now = time.time()
        return {key: NEVER_EXPIRES if left is None else now + left for key, left in rows}

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` (an upsert) for ``ttl`` seconds (``None``: forever)."""
        await self._run(self._write_count, self._sql.set, (self.namespace, key, value, ttl))
        return True

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item in one transaction (pipelined upserts)."""
        self._check_open()
        if not items:
            return True
        rows = [(self.namespace, key, value, ttl) for key, value in items.items()]
        await self._run(self._write_rows, self._sql.set, rows)
        return True

    async def _write_rows(self, conn: AsyncConnection, query: bytes, rows: Any) -> None:
        async with conn.transaction(), conn.cursor() as cur:
            await cur.executemany(query, rows)
        await self._after_write(conn)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic. Return whether stored."""
        row = await self._run(self._write_one, self._sql.add, (self.namespace, key, value, ttl))
        return row is not None

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        row = await self._run(self._fetch_one, self._sql.delete, (self.namespace, key))
        return bool(row and row[0])

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Remove a live ``key`` only while it holds ``value``; wake its waiters. Return whether.

        One statement: the DELETE, a wake row remembered for a few seconds, and a
        NOTIFY to the waiters, all sent when it commits.
        """
        params = self._delete_if_params(key, value)
        return await self._run(self._rowcount, self._sql.delete_if, params) > 0

    async def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """Wait until ``delete_if(key, value)`` succeeded, at most ``timeout`` s (LISTEN/NOTIFY).

        The waiter LISTENs on a pooled connection, then looks for the release's
        wake row (a release just before), then waits for its NOTIFY; the
        connection UNLISTENs before it goes back to the pool. At most half the
        pool listens at once; a waiter beyond that looks for the wake row after
        a short pause. Return False when ``timeout`` ran out.
        """
        wake = self._wake_key(key, value)
        if not self._start_listening():  # half the pool listens: look after a pause
            await asleep(min(max(timeout, 0.0), WAKE_POLL))
            woke = (self._wake_namespace, wake)
            return await self._run(self._fetch_one, self._sql.woke, woke, read=True) is not None

        async def work(conn: AsyncConnection, query: bytes, params: Any) -> bool:
            await conn.execute(self._sql.listen(self._wake_channel))
            try:
                found = await conn.execute(query, params)
                if await found.fetchone() is not None:
                    return True
                async for note in conn.notifies(timeout=max(timeout, 0.0)):
                    if note.payload == wake:
                        return True
                return False
            finally:
                await conn.execute(self._sql.unlisten)

        try:
            return await self._run(work, self._sql.woke, (self._wake_namespace, wake))
        finally:
            self._stop_listening()

    async def get_heads(self, keys: Sequence[str], size: int) -> dict[str, bytes]:
        """Return the first ``size`` bytes of the live entries among ``keys``, in one query.

        ``keys()`` of the cache reads the entries' headers (their tags) this way,
        never their whole values.
        """
        self._check_open()
        if not keys:
            return {}
        params = (size, self.namespace, list(dict.fromkeys(keys)))
        rows = await self._run(self._fetch_all, self._sql.get_heads, params, read=True)
        return {key: bytes(value) for key, value in rows}

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one statement; return how many live entries were there."""
        self._check_open()
        if not keys:
            return 0
        params = (self.namespace, list(dict.fromkeys(keys)))
        row = await self._run(self._fetch_one, self._sql.delete_many, params)
        return int(row[0]) if row else 0

    async def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give a live ``key`` a new ``ttl``; return whether it was there."""
        return await self._run(self._rowcount, self._sql.touch, (ttl, self.namespace, key)) > 0

    async def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` in one atomic ``UPDATE … RETURNING``.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not a 64-bit integer.
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
        """
        row = await self._run(self._add_to, self._sql.incr, (delta, self.namespace, key))
        if isinstance(row, Exception):
            raise row
        if row is None:
            raise ValueError(f"key {key!r} not found")
        return int(row[0])

    @staticmethod
    async def _add_to(conn: AsyncConnection, query: bytes, params: Any) -> Row | Exception | None:
        try:
            cur = await conn.execute(query, params)
        except errors.DataError as exc:  # autocommit: the failed statement changed nothing
            delta, _, key = params
            return incr_refusal(key, delta, exc)
        return await cur.fetchone()

    async def clear(self) -> None:
        """Remove every row of this namespace, and nothing else."""
        await self._run(self._rowcount, self._sql.clear, (self.namespace,))

    def keys(self) -> AsyncIterator[str]:
        """Iterate over this namespace's live keys, in pages of 1000 (one query each)."""
        self._check_open()
        return self._pages()

    async def _pages(self) -> AsyncIterator[str]:
        first = (self.namespace, KEYS_PAGE)
        rows = await self._run(self._fetch_all, self._sql.keys_first, first, read=True)
        while True:
            for (key,) in rows:
                yield key
            if len(rows) < KEYS_PAGE:
                return
            params = (self.namespace, rows[-1][0], KEYS_PAGE)
            rows = await self._run(self._fetch_all, self._sql.keys_after, params, read=True)

    async def purge_expired(self, batch: int = PURGE_BATCH) -> int:
        """Delete expired rows of the whole table (every namespace), ``batch`` rows per statement.

        Each batch is its own short statement that skips rows locked by others, so
        purging never holds long locks or waits on writers.

        Args:
            batch: Rows deleted per statement (at least 1).

        Returns:
            How many expired rows were deleted.

        Raises:
            ValueError: when ``batch`` is below 1.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        total, deleted = 0, batch
        while deleted == batch:
            deleted = await self._run(self._rowcount, self._sql.purge, (batch,))
            total += deleted
        return total

    async def _close(self) -> None:
        await self._pools.aclose()


async def _close_pool(leases: AsyncLeases) -> None:
    await leases.aclose()
