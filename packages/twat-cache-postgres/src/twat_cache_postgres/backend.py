# GENERATED from packages/twat-cache-postgres/src/twat_cache_postgres/_async/backend.py
# by tools/unasync.py -- do not edit; run: bash tools/unasync
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
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout
from twat_cache.engines.base import BaseBackend
from twat_cache.engines.resources import Resource
from twat_cache.exceptions import TwatCacheError
from twat_cache.locking import sleep
from twat_cache.protocols import NEVER_EXPIRES

from twat_cache_postgres.channel import PostgresChannel
from twat_cache_postgres.engine import (
    CREATION_RACE,
    KEYS_PAGE,
    PURGE_BATCH,
    WAKE_POLL,
    Connection,
    Engine,
    Leases,
    Row,
    Work,
    incr_refusal,
    logger,
)
from twat_cache_postgres.settings import PostgresSettings

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

    from twat_cache_postgres import AsyncPostgresBackend

__all__ = ["PURGE_BATCH", "PostgresBackend"]

_T = TypeVar("_T")


class PostgresBackend(Engine, BaseBackend):
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
        self._pools: Resource[Leases] = Resource(
            self._open_pool, _close_pool, name=f"twat-cache-{self.settings.table}"
        )

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> PostgresBackend:
        """Build from ``postgresql://`` or ``postgres://`` (see :class:`PostgresSettings`)."""
        return cls(PostgresSettings.from_url(url).bounded(config, url), namespace=config.namespace)

    def make_async(self) -> AsyncPostgresBackend:
        """Return the twin engine (sync or asyncio) for the same settings and namespace."""
        from twat_cache_postgres import AsyncPostgresBackend

        return AsyncPostgresBackend(self.settings, namespace=self.namespace)

    def invalidation_channel(self) -> PostgresChannel:
        """Return the LISTEN/NOTIFY channel of this namespace (for core's tiers, docs/tiers.md)."""
        return PostgresChannel(self.settings, self.namespace)

    # -- plumbing ----------------------------------------------------------------------
    def _open_pool(self) -> Leases:
        self._create_table()
        pool: ConnectionPool[Connection] = ConnectionPool(
            connection_class=Connection, **self._pool_options()
        )
        pool.open(wait=False)
        return Leases(pool, self.settings.max_size)

    def _create_table(self) -> None:
        try:
            with Connection.connect(**self.settings.connect_kwargs()) as conn:
                if self._table_exists(conn):
                    return
                try:
                    with conn.transaction():
                        conn.execute(self._sql.create_table)
                        conn.execute(self._sql.create_index)
                except CREATION_RACE:
                    self._log_race()
        except psycopg.Error as exc:
            raise self.settings.error(exc, "cannot create the cache table") from exc

    def _table_exists(self, conn: Connection) -> bool:
        row = (conn.execute(self._sql.exists)).fetchone()
        return bool(row and row[0])

    def _diagnose(self) -> psycopg.Error | None:
        """Connect once outside the pool to learn why the pool could not (None: pool exhausted)."""
        try:
            (psycopg.Connection.connect(**self.settings.connect_kwargs())).close()
        except psycopg.Error as exc:
            return exc
        return None

    def _run(self, work: Work[_T], query: bytes, params: Any, read: bool = False) -> _T:
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
            leases = self._pools.get()
            retried, check = False, not read
            while True:
                conn = leases.acquire(check)
                try:
                    return work(conn, query, params)
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
                    leases.release(conn)
                if create:
                    self._create_table()
        except PoolTimeout as exc:
            cause = self._diagnose() or exc
            raise self.settings.error(cause, "no connection within the pool timeout") from cause
        except TwatCacheError:
            raise
        except Exception as exc:  # any client failure (a bug in the client included)
            raise self.settings.error(exc) from exc

    def _after_write(self, conn: Connection) -> None:
        if self._purge_due():
            try:
                conn.execute(self._sql.purge, (PURGE_BATCH,))
            except psycopg.Error as exc:  # a purge that fails must not fail the write
                logger.debug("lazy purge of expired rows failed: %s", exc)

    # what runs on a connection: methods, so that a call builds no closure; the statements
    # that return one row or none run on the connection's kept cursor (KeptConnection)
    @staticmethod
    def _fetch_one(conn: Connection, query: bytes, params: Any) -> Row | None:
        return (conn.kept().execute(query, params)).fetchone()

    def _write_one(self, conn: Connection, query: bytes, params: Any) -> Row | None:
        row = (conn.kept().execute(query, params)).fetchone()
        self._after_write(conn)
        return row

    @staticmethod
    def _fetch_all(conn: Connection, query: bytes, params: Any) -> list[Row]:
        return (conn.execute(query, params)).fetchall()

    @staticmethod
    def _rowcount(conn: Connection, query: bytes, params: Any) -> int:
        return (conn.kept().execute(query, params)).rowcount

    def _write_count(self, conn: Connection, query: bytes, params: Any) -> int:
        count = (conn.kept().execute(query, params)).rowcount
        self._after_write(conn)
        return count

    # -- the backend protocol --------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        row = self._run(self._fetch_one, self._sql.get, (self.namespace, key), read=True)
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the live entries among ``keys``, in one query."""
        self._check_open()
        if not keys:
            return {}
        params = (self.namespace, list(dict.fromkeys(keys)))
        rows = self._run(self._fetch_all, self._sql.get_many, params, read=True)
        return {key: bytes(value) for key, value in rows}

    def server_version(self) -> str:
        """The server's ``SHOW server_version``."""
        self._check_open()
        rows = self._run(self._fetch_all, self._sql.server_version, (), read=True)
        return f"PostgreSQL {rows[0][0]}"

    def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each live key among ``keys`` expires (epoch seconds), in one query."""
        self._check_open()
        if not keys:
            return {}
        params = (self.namespace, list(dict.fromkeys(keys)))
        rows = self._run(self._fetch_all, self._sql.expiries, params, read=True)
        now = time.time()
        return {key: NEVER_EXPIRES if left is None else now + left for key, left in rows}

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` (an upsert) for ``ttl`` seconds (``None``: forever)."""
        self._run(self._write_count, self._sql.set, (self.namespace, key, value, ttl))
        return True

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item in one transaction (pipelined upserts)."""
        self._check_open()
        if not items:
            return True
        rows = [(self.namespace, key, value, ttl) for key, value in items.items()]
        self._run(self._write_rows, self._sql.set, rows)
        return True

    def _write_rows(self, conn: Connection, query: bytes, rows: Any) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(query, rows)
        self._after_write(conn)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic. Return whether stored."""
        row = self._run(self._write_one, self._sql.add, (self.namespace, key, value, ttl))
        return row is not None

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        row = self._run(self._fetch_one, self._sql.delete, (self.namespace, key))
        return bool(row and row[0])

    def delete_if(self, key: str, value: bytes) -> bool:
        """Remove a live ``key`` only while it holds ``value``; wake its waiters. Return whether.

        One statement: the DELETE, a wake row remembered for a few seconds, and a
        NOTIFY to the waiters, all sent when it commits.
        """
        params = self._delete_if_params(key, value)
        return self._run(self._rowcount, self._sql.delete_if, params) > 0

    def wait_deleted(self, key: str, value: bytes, timeout: float) -> bool:
        """Wait until ``delete_if(key, value)`` succeeded, at most ``timeout`` s (LISTEN/NOTIFY).

        The waiter LISTENs on a pooled connection, then looks for the release's
        wake row (a release just before), then waits for its NOTIFY; the
        connection UNLISTENs before it goes back to the pool. At most half the
        pool listens at once; a waiter beyond that looks for the wake row after
        a short pause. Return False when ``timeout`` ran out.
        """
        wake = self._wake_key(key, value)
        if not self._start_listening():  # half the pool listens: look after a pause
            sleep(min(max(timeout, 0.0), WAKE_POLL))
            woke = (self._wake_namespace, wake)
            return self._run(self._fetch_one, self._sql.woke, woke, read=True) is not None

        def work(conn: Connection, query: bytes, params: Any) -> bool:
            conn.execute(self._sql.listen(self._wake_channel))
            try:
                found = conn.execute(query, params)
                if found.fetchone() is not None:
                    return True
                for note in conn.notifies(timeout=max(timeout, 0.0)):
                    if note.payload == wake:
                        return True
                return False
            finally:
                conn.execute(self._sql.unlisten)

        try:
            return self._run(work, self._sql.woke, (self._wake_namespace, wake))
        finally:
            self._stop_listening()

    def get_heads(self, keys: Sequence[str], size: int) -> dict[str, bytes]:
        """Return the first ``size`` bytes of the live entries among ``keys``, in one query.

        ``keys()`` of the cache reads the entries' headers (their tags) this way,
        never their whole values.
        """
        self._check_open()
        if not keys:
            return {}
        params = (size, self.namespace, list(dict.fromkeys(keys)))
        rows = self._run(self._fetch_all, self._sql.get_heads, params, read=True)
        return {key: bytes(value) for key, value in rows}

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one statement; return how many live entries were there."""
        self._check_open()
        if not keys:
            return 0
        params = (self.namespace, list(dict.fromkeys(keys)))
        row = self._run(self._fetch_one, self._sql.delete_many, params)
        return int(row[0]) if row else 0

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give a live ``key`` a new ``ttl``; return whether it was there."""
        return self._run(self._rowcount, self._sql.touch, (ttl, self.namespace, key)) > 0

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` in one atomic ``UPDATE … RETURNING``.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not a 64-bit integer.
            OverflowError: when the result leaves the signed 64-bit range (the value stays).
        """
        row = self._run(self._add_to, self._sql.incr, (delta, self.namespace, key))
        if isinstance(row, Exception):
            raise row
        if row is None:
            raise ValueError(f"key {key!r} not found")
        return int(row[0])

    @staticmethod
    def _add_to(conn: Connection, query: bytes, params: Any) -> Row | Exception | None:
        try:
            cur = conn.execute(query, params)
        except errors.DataError as exc:  # autocommit: the failed statement changed nothing
            delta, _, key = params
            return incr_refusal(key, delta, exc)
        return cur.fetchone()

    def clear(self) -> None:
        """Remove every row of this namespace, and nothing else."""
        self._run(self._rowcount, self._sql.clear, (self.namespace,))

    def keys(self) -> Iterator[str]:
        """Iterate over this namespace's live keys, in pages of 1000 (one query each)."""
        self._check_open()
        return self._pages()

    def _pages(self) -> Iterator[str]:
        first = (self.namespace, KEYS_PAGE)
        rows = self._run(self._fetch_all, self._sql.keys_first, first, read=True)
        while True:
            for (key,) in rows:
                yield key
            if len(rows) < KEYS_PAGE:
                return
            params = (self.namespace, rows[-1][0], KEYS_PAGE)
            rows = self._run(self._fetch_all, self._sql.keys_after, params, read=True)

    def purge_expired(self, batch: int = PURGE_BATCH) -> int:
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
            deleted = self._run(self._rowcount, self._sql.purge, (batch,))
            total += deleted
        return total

    def _close(self) -> None:
        self._pools.close()


def _close_pool(leases: Leases) -> None:
    leases.close()
