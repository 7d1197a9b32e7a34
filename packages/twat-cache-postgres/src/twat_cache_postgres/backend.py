"""The PostgreSQL engine: one table, rows keyed by ``(namespace, key)``.

Each engine owns a psycopg_pool pool of autocommit connections, opened on first
use (never at construction); the first use also creates the table when it is
absent, and a table that vanishes later (dropped, or lost in a crash) is created
again on the next call. A pooled connection whose server went away (a restart
closes every connection) is noticed at checkout without a round trip -- its
socket is readable while idle -- and replaced, so the call after a restart
succeeds. The asyncio twin is :class:`~twat_cache_postgres.AsyncPostgresBackend`.
"""

from __future__ import annotations

import itertools
import logging
import selectors
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout
from twat_cache.engines.base import BaseBackend
from twat_cache.protocols import Capabilities

from twat_cache_postgres.channel import PostgresChannel
from twat_cache_postgres.settings import PostgresSettings
from twat_cache_postgres.statements import Statements

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

    from twat_cache_postgres.async_backend import AsyncPostgresBackend

__all__ = ["PURGE_BATCH", "PostgresBackend"]

logger = logging.getLogger("twat_cache.postgres")

PURGE_BATCH = 1000
KEYS_PAGE = 1000
# the pool retries a failed background connection with back-off (1, 2, 4... s); giving up after
# 10 s bounds how long that back-off can delay recovery once the server is back (a later call
# starts a fresh attempt at once)
RECONNECT_TIMEOUT = 10.0
# another session created the table (or its type or index) between our check and our CREATE
CREATION_RACE = (errors.UniqueViolation, errors.DuplicateTable, errors.DuplicateObject)
# SQLSTATE class 22 (data exception) from the incr cast: not an integer, not UTF-8, out of range
NOT_AN_INTEGER = errors.DataError

_T = TypeVar("_T")
Connection = psycopg.Connection[TupleRow]
Row = tuple[Any, ...]


def not_an_integer(key: str, exc: Exception) -> TypeError:
    """The ``TypeError`` of an ``incr`` whose stored value is not a 64-bit integer."""
    return TypeError(
        f"the value under {key!r} is not a 64-bit integer, or the result overflows ({exc})"
    )


def is_alive(conn: psycopg.Connection[TupleRow] | psycopg.AsyncConnection[TupleRow]) -> bool:
    """Whether an idle connection still has its server, without a round trip.

    An idle connection's socket has nothing to read unless the server wrote
    (a shutdown's termination message) or closed it. Unlike the pool's
    ``check_connection`` (a query per checkout, and a back-off sleep of a second
    or more per dead connection), this costs one non-blocking poll.
    """
    if conn.closed:
        return False
    with selectors.DefaultSelector() as selector:
        selector.register(conn.fileno(), selectors.EVENT_READ)
        return not selector.select(timeout=0)


class Engine:
    """Settings, SQL and bookkeeping shared by the sync and the async engine."""

    stores_objects = False
    blocking = True

    def _setup(self, settings: PostgresSettings | str) -> None:
        self.settings = (
            settings
            if isinstance(settings, PostgresSettings)
            else PostgresSettings.from_url(settings)
        )
        self._sql = Statements(self.settings.schema, self.settings.table, self.settings.unlogged)
        self._writes = itertools.count(1)

    def _purge_due(self) -> bool:
        every = self.settings.purge_every
        return every > 0 and next(self._writes) % every == 0

    def _pool_options(self) -> dict[str, Any]:
        return {
            "kwargs": self.settings.connect_kwargs(),
            "min_size": self.settings.min_size,
            "max_size": self.settings.max_size,
            "timeout": self.settings.timeout,
            "reconnect_timeout": RECONNECT_TIMEOUT,
            "name": f"twat-cache-{self.settings.table}",
            "open": False,
        }

    def _log_race(self) -> None:
        logger.debug("another session created table %s first", self.settings.table)

    def _log_table_gone(self) -> None:
        logger.warning(
            "table %s.%s is gone (dropped, or lost in a crash): creating it again",
            self.settings.schema,
            self.settings.table,
            extra={"engine": "postgresql", "address": self.settings.address},
        )


class PostgresBackend(Engine, BaseBackend):
    """Entries in a PostgreSQL table, over a psycopg ``ConnectionPool``.

    Args:
        settings: The settings, or a ``postgresql://`` URL to read them from.
        namespace: The namespace; rows of other namespaces in the table are never touched.

    Raises:
        ConfigurationError: for an invalid URL or option (no connection is made).

    Example:
        >>> backend = PostgresBackend("postgresql://app@127.0.0.1:5432/app", namespace="users")
        >>> backend.set("k", b"v", ttl=60)  # connects, creating the table if absent
    """

    # expiry is a column checked on read; LISTEN/NOTIFY keeps core's near tiers coherent
    capabilities = Capabilities(
        native_ttl=False, native_async=True, persistent=True, invalidation_channel=True
    )

    def __init__(self, settings: PostgresSettings | str, namespace: str = "default") -> None:
        super().__init__(namespace)
        self._setup(settings)
        self._pool: ConnectionPool[Connection] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> PostgresBackend:
        """Build from ``postgresql://`` or ``postgres://`` (see :class:`PostgresSettings`)."""
        return cls(PostgresSettings.from_url(url), namespace=config.namespace)

    def invalidation_channel(self) -> PostgresChannel:
        """Return the LISTEN/NOTIFY channel of this namespace (for core's tiers, docs/tiers.md)."""
        return PostgresChannel(self.settings, self.namespace)

    def make_async(self) -> AsyncPostgresBackend:
        """Return the asyncio engine for the same settings and namespace."""
        from twat_cache_postgres.async_backend import AsyncPostgresBackend

        return AsyncPostgresBackend(self.settings, namespace=self.namespace)

    # -- plumbing ----------------------------------------------------------------------
    def _open_pool(self) -> ConnectionPool[Connection]:
        self._check_open()
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._create_table()
                    created: ConnectionPool[Connection] = ConnectionPool(**self._pool_options())
                    created.open(wait=False)
                    self._pool = created
                pool = self._pool
        return pool

    def _create_table(self) -> None:
        try:
            with psycopg.connect(**self.settings.connect_kwargs()) as conn:
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
        row = conn.execute(self._sql.exists).fetchone()
        return bool(row and row[0])

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        pool = self._open_pool()
        try:
            conn = pool.getconn()
            for _ in range(self.settings.max_size):
                if is_alive(conn):
                    break
                conn.close()  # the server closed it: the pool replaces a closed connection
                pool.putconn(conn)
                conn = pool.getconn()
            try:
                yield conn
            finally:
                pool.putconn(conn)
        except PoolTimeout as exc:
            cause = self._diagnose() or exc
            raise self.settings.error(cause, "no connection within the pool timeout") from cause
        except psycopg.Error as exc:
            raise self.settings.error(exc) from exc

    def _diagnose(self) -> psycopg.Error | None:
        """Connect once outside the pool to learn why the pool could not (None: pool exhausted)."""
        try:
            psycopg.connect(**self.settings.connect_kwargs()).close()
        except psycopg.Error as exc:
            return exc
        return None

    def _run(self, work: Callable[[Connection], _T]) -> _T:
        """Run ``work`` on a pooled connection; if the table vanished, create it and run again."""
        with self._connection() as conn:
            try:
                return work(conn)
            except errors.UndefinedTable:
                self._log_table_gone()
        self._create_table()
        with self._connection() as conn:
            return work(conn)

    def _after_write(self, conn: Connection) -> None:
        if self._purge_due():
            try:
                conn.execute(self._sql.purge, (PURGE_BATCH,))
            except psycopg.Error as exc:  # a purge that fails must not fail the write
                logger.debug("lazy purge of expired rows failed: %s", exc)

    def _one(self, query: sql.Composed, params: Sequence[Any], write: bool = False) -> Row | None:
        def work(conn: Connection) -> Row | None:
            row = conn.execute(query, params).fetchone()
            if write:
                self._after_write(conn)
            return row

        return self._run(work)

    def _all(self, query: sql.Composed, params: Sequence[Any]) -> list[Row]:
        return self._run(lambda conn: conn.execute(query, params).fetchall())

    def _count(self, query: sql.Composed, params: Sequence[Any], write: bool = False) -> int:
        def work(conn: Connection) -> int:
            count = conn.execute(query, params).rowcount
            if write:
                self._after_write(conn)
            return count

        return self._run(work)

    # -- the Backend protocol --------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        row = self._one(self._sql.get, (self.namespace, key))
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the live entries among ``keys``, in one query."""
        self._check_open()
        if not keys:
            return {}
        rows = self._all(self._sql.get_many, (self.namespace, list(dict.fromkeys(keys))))
        return {key: bytes(value) for key, value in rows}

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` (an upsert) for ``ttl`` seconds (``None``: forever)."""
        self._count(self._sql.set, (self.namespace, key, value, ttl), write=True)

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item in one transaction (pipelined upserts)."""
        self._check_open()
        if not items:
            return
        rows = [(self.namespace, key, value, ttl) for key, value in items.items()]

        def work(conn: Connection) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(self._sql.set, rows)
            self._after_write(conn)

        self._run(work)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic. Return whether stored."""
        return self._one(self._sql.add, (self.namespace, key, value, ttl), write=True) is not None

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        row = self._one(self._sql.delete, (self.namespace, key))
        return bool(row and row[0])

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one statement; return how many live entries were there."""
        self._check_open()
        if not keys:
            return 0
        row = self._one(self._sql.delete_many, (self.namespace, list(dict.fromkeys(keys))))
        return int(row[0]) if row else 0

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give a live ``key`` a new ``ttl``; return whether it was there."""
        return self._count(self._sql.touch, (ttl, self.namespace, key)) > 0

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` in one atomic ``UPDATE … RETURNING``.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not a 64-bit integer (or the sum overflows).
        """

        def work(conn: Connection) -> Row | None:
            try:
                return conn.execute(self._sql.incr, (delta, self.namespace, key)).fetchone()
            except NOT_AN_INTEGER as exc:  # autocommit: the failed statement left no transaction
                raise not_an_integer(key, exc) from exc

        row = self._run(work)
        if row is None:
            raise ValueError(f"key {key!r} not found")
        return int(row[0])

    def clear(self) -> None:
        """Remove every row of this namespace, and nothing else."""
        self._count(self._sql.clear, (self.namespace,))

    def keys(self) -> Iterator[str]:
        """Iterate over this namespace's live keys, in pages of 1000 (one query each)."""
        self._check_open()
        return self._pages()

    def _pages(self) -> Iterator[str]:
        rows = self._all(self._sql.keys_first, (self.namespace, KEYS_PAGE))
        while True:
            yield from (key for (key,) in rows)
            if len(rows) < KEYS_PAGE:
                return
            rows = self._all(self._sql.keys_after, (self.namespace, rows[-1][0], KEYS_PAGE))

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
            deleted = self._count(self._sql.purge, (batch,))
            total += deleted
        return total

    def _close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
