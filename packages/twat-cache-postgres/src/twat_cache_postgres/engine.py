"""What the sync and the asyncio PostgreSQL engines share: settings, SQL, limits, errors.

The engines themselves are written once, in ``_async/backend.py``
(:class:`~twat_cache_postgres.AsyncPostgresBackend`); ``backend.py``
(:class:`~twat_cache_postgres.PostgresBackend`) is generated from it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import select
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from twat_cache.engines.integers import not_an_integer, overflow_error
from twat_cache.protocols import Capabilities

from twat_cache_postgres.settings import PostgresSettings
from twat_cache_postgres.statements import Statements

__all__ = [
    "CREATION_RACE",
    "KEYS_PAGE",
    "PURGE_BATCH",
    "WAKE_POLL",
    "AsyncConnection",
    "AsyncKeptConnection",
    "AsyncLeases",
    "AsyncWork",
    "Connection",
    "Engine",
    "KeptConnection",
    "Leases",
    "Row",
    "Work",
    "incr_refusal",
    "is_alive",
    "logger",
]

logger = logging.getLogger("twat_cache.postgres")

PURGE_BATCH = 1000
KEYS_PAGE = 1000
# the pool retries a failed background connection with back-off (1, 2, 4... s); giving up after
# 10 s bounds how long that back-off can delay recovery once the server is back (a later call
# starts a fresh attempt at once)
RECONNECT_TIMEOUT = 10.0
# another session created the table (or its type or index) between our check and our CREATE
CREATION_RACE = (errors.UniqueViolation, errors.DuplicateTable, errors.DuplicateObject)
# a btree index entry holds at most about 2700 bytes: namespace and key share it
MAX_KEY_LENGTH = 2048
# how long a lock's release is remembered for a waiter that looks after it (its wake row)
WAKE_TTL = 5.0
# a waiter that finds half the pool listening looks for the wake row after this pause instead
WAKE_POLL = 0.05
MAX_VALUE_SIZE = 1024 * 1024 * 1024 - 1  # bytea's limit

_HAS_POLL = hasattr(select, "poll")
_T = TypeVar("_T")


class KeptConnection(psycopg.Connection[TupleRow]):
    """A pooled connection that keeps one cursor for the engine's one-row statements.

    ``Connection.execute`` makes a new cursor per statement, and psycopg builds a
    new cursor's adapters (its ``Transformer``) afresh; a cursor that runs the same
    query object again keeps them. On loopback that is about 12 us of a 55 us hit.
    The cursor holds its last result (one row) until the next statement.
    """

    _kept: psycopg.Cursor[TupleRow] | None = None

    def kept(self) -> psycopg.Cursor[TupleRow]:
        """This connection's cursor (made on first use, and again after it was closed)."""
        cursor = self._kept
        if cursor is None or cursor.closed:
            cursor = self._kept = self.cursor()
        return cursor


class AsyncKeptConnection(psycopg.AsyncConnection[TupleRow]):
    """The asyncio twin of :class:`KeptConnection`."""

    _kept: psycopg.AsyncCursor[TupleRow] | None = None

    def kept(self) -> psycopg.AsyncCursor[TupleRow]:
        """This connection's cursor (made on first use, and again after it was closed)."""
        cursor = self._kept
        if cursor is None or cursor.closed:
            cursor = self._kept = self.cursor()
        return cursor


Connection = KeptConnection
AsyncConnection = AsyncKeptConnection
Row = tuple[Any, ...]
# what runs on one pooled connection (the async source's AsyncWork is Work in its sync twin)
Work = Callable[[Connection, bytes, Any], _T]
AsyncWork = Callable[[AsyncConnection, bytes, Any], Awaitable[_T]]


def incr_refusal(key: str, delta: int, exc: psycopg.errors.DataError) -> Exception:
    """Return the contract's error for PostgreSQL refusing an ``incr`` (the row is unchanged).

    ``bigint out of range`` (the sum, or a delta beyond 64 bits) is an
    ``OverflowError``; anything else -- text that is no integer, an integer
    beyond 64 bits already stored, bytes that are not UTF-8 -- a ``TypeError``.
    """
    text = str(exc)
    if isinstance(exc, errors.NumericValueOutOfRange) and not text.startswith('value "'):
        return overflow_error(key, delta)
    return not_an_integer(key)


def is_alive(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection still has its server, without a round trip.

    An idle connection's socket has nothing to read unless the server wrote
    (a shutdown's termination message) or closed it. Unlike the pool's
    ``check_connection`` (a query per checkout, and a back-off sleep of a second
    or more per dead connection), this costs one non-blocking poll.
    """
    if conn.closed:
        return False
    if _HAS_POLL:
        poller = select.poll()  # select.select() cannot watch descriptors past FD_SETSIZE
        poller.register(conn.fileno(), select.POLLIN)
        return not poller.poll(0)
    readable, _, _ = select.select([conn.fileno()], [], [], 0)  # pragma: no cover - Windows
    return not readable


class Leases:
    """Connections of a sync pool: each thread keeps the one it used, so a call skips the pool.

    A thread's first call checks a connection out of the pool and keeps it for
    its next calls (no pool lock, and the same server process stays warm); at
    most ``max_size - 1`` threads keep one, so the pool always has a connection
    for the others. A kept connection goes back to the pool when its thread
    ends, and when it is found dead (replaced at once).

    Args:
        pool: The open pool.
        max_size: The pool's ``max_size``.
    """

    def __init__(self, pool: ConnectionPool[Connection], max_size: int) -> None:
        self.pool = pool
        self._keepers = max_size - 1
        self._local = threading.local()
        self._kept: dict[int, Connection] = {}
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, check: bool = True) -> Connection:
        """Return this thread's connection, or one checked out of the pool (alive, both).

        Args:
            check: Check that this thread's connection is alive (``False``: a read,
                which runs again on a checked connection when it finds it closed).
        """
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if not check or is_alive(conn):
                return conn
            self._local.conn = self._local.keeper = None
            conn.close()  # the server closed it: the pool replaces a closed connection
            self._give_back(conn)
        conn = self.pool.getconn()
        for _ in range(self._keepers + 1):
            if is_alive(conn):
                break
            conn.close()
            self.pool.putconn(conn)
            conn = self.pool.getconn()
        with self._lock:
            if len(self._kept) < self._keepers and not self._closed:
                self._kept[id(conn)] = conn
                self._local.conn = conn
                # cleared with the thread's locals when the thread ends: the connection goes back
                self._local.keeper = keeper = _Keeper()
                weakref.finalize(keeper, self._give_back, conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Return ``conn`` to the pool unless its thread keeps it."""
        if getattr(self._local, "conn", None) is not conn:
            self.pool.putconn(conn)

    def _give_back(self, conn: Connection) -> None:
        with self._lock:
            kept = self._kept.pop(id(conn), None) is not None and not self._closed
        if kept:
            self.pool.putconn(conn)

    def close(self) -> None:
        """Return every kept connection and close the pool."""
        with self._lock:
            self._closed = True
            kept, self._kept = list(self._kept.values()), {}
        for conn in kept:
            self.pool.putconn(conn)
        self.pool.close()


class AsyncLeases:
    """Connections of an asyncio pool: checked out per call (tasks of a loop run concurrently).

    Args:
        pool: The open pool.
        max_size: The pool's ``max_size``.
    """

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection], max_size: int) -> None:
        self.pool = pool
        self._max_size = max_size

    async def acquire(self, check: bool = True) -> AsyncConnection:
        """Return a live connection checked out of the pool.

        Args:
            check: Unused: an asyncio pool's connections are always checked (the
                sync :class:`Leases` skips the check of a thread's own connection).
        """
        conn = await self.pool.getconn()
        for _ in range(self._max_size):
            if is_alive(conn):
                break
            await conn.close()  # the server closed it: the pool replaces a closed connection
            await self.pool.putconn(conn)
            conn = await self.pool.getconn()
        return conn

    async def release(self, conn: AsyncConnection) -> None:
        """Return ``conn`` to the pool."""
        await self.pool.putconn(conn)

    async def aclose(self) -> None:
        """Close the pool."""
        await self.pool.close()


class _Keeper:
    """Lives in a thread's locals as long as the thread keeps a connection."""


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class Engine:
    """Settings, SQL and bookkeeping shared by the sync and the async engine."""

    stores_objects = False
    blocking = True
    # expiry is a column checked on read (and purged in batches), not the server's own
    capabilities = Capabilities(
        native_ttl=False,
        native_async=True,
        persistent=True,
        max_key_length=MAX_KEY_LENGTH,
        max_value_size=MAX_VALUE_SIZE,
        invalidation_channel=True,  # LISTEN/NOTIFY keeps core's near tiers coherent (channel.py)
        compare_and_delete=True,  # DELETE ... WHERE value = token: one statement
        delete_wakeups=True,  # the release NOTIFYs; waiters LISTEN (and find its wake row)
        reports_expiry=True,
    )

    def _setup(self, settings: PostgresSettings | str) -> None:
        self.settings = (
            settings
            if isinstance(settings, PostgresSettings)
            else PostgresSettings.from_url(settings)
        )
        self._sql = Statements(self.settings.schema, self.settings.table, self.settings.unlogged)
        self._writes = itertools.count(1)
        # releases of this namespace's locks: rows of a namespace no caller can name (a unit
        # separator), and a NOTIFY channel named by a digest of table and namespace
        self._wake_namespace = f"{self.namespace}\x1fwakeups"
        where = f"{self.settings.schema}.{self.settings.table}\0{self.namespace}"
        self._wake_channel = "twat_cache_wake_" + _digest(where.encode())
        # a waiter holds a pooled connection while it LISTENs: at most half the pool
        # does, so the holder's release (and every other call) always finds one
        self._listeners = 0
        self._listeners_lock = threading.Lock()

    def _start_listening(self) -> bool:
        """Count one more listening waiter; False when half the pool already listens."""
        with self._listeners_lock:
            if self._listeners >= self.settings.max_size // 2:
                return False
            self._listeners += 1
            return True

    def _stop_listening(self) -> None:
        with self._listeners_lock:
            self._listeners -= 1

    namespace: str

    def _wake_key(self, key: str, value: bytes) -> str:
        """The wake row's key (and NOTIFY payload) of ``delete_if(key, value)``."""
        return _digest(key.encode() + b"\0" + value)

    def _delete_if_params(self, key: str, value: bytes) -> tuple[Any, ...]:
        wake = self._wake_key(key, value)
        namespace = self._wake_namespace
        return (self.namespace, key, value, namespace, wake, WAKE_TTL, self._wake_channel, wake)

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
