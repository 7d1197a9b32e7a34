"""How the sqlite engine holds its connections: a pool per file, one shared in-memory database.

A file is used through a small pool: a caller borrows a connection for one
operation and gives it back, so that readers in many threads run in parallel
(under WAL a reader never waits for the writer) and idle connections are reused.
This is chosen over one connection per thread (``threading.local``), which keeps
a connection open for every thread that ever touched the cache, and over one
connection behind a lock, which makes readers queue behind each other.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, NamedTuple

__all__ = ["FilePool", "Settings", "SharedMemory", "open_connection"]

MAX_IDLE: Final = 8  # idle connections a pool keeps for reuse; more are closed when given back


class Settings(NamedTuple):
    """How every connection is opened (all values already checked by the engine)."""

    timeout: float
    journal_mode: str
    synchronous: str


def open_connection(target: str, settings: Settings, *, uri: bool = False) -> sqlite3.Connection:
    """Open a connection to ``target`` with the busy timeout, journal mode and synchronous level."""
    # isolation_level=None: no implicit transactions; this module issues BEGIN IMMEDIATE itself.
    # check_same_thread=False: a pooled connection serves one caller at a time, from any thread.
    conn = sqlite3.connect(
        target, timeout=settings.timeout, isolation_level=None, check_same_thread=False, uri=uri
    )
    try:
        _set_journal_mode(conn, settings)
        conn.execute(f"PRAGMA synchronous = {settings.synchronous}")  # a checked choice
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _set_journal_mode(conn: sqlite3.Connection, settings: Settings) -> None:
    """Switch to the journal mode asked for, retrying for up to the busy timeout.

    Turning a file to WAL needs an exclusive lock, and while other connections are
    opening the same new file SQLite may refuse it at once ("database is locked")
    without waiting in the busy handler; so the refusal is retried here.
    """
    deadline = time.monotonic() + settings.timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != settings.journal_mode:
                conn.execute(f"PRAGMA journal_mode = {settings.journal_mode}")  # a checked choice
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)


class FilePool:
    """Connections to one file: borrowed by one caller at a time, idle ones kept for reuse."""

    def __init__(self, path: str, settings: Settings) -> None:
        self._path = path
        self._settings = settings
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """Lend an idle connection (or a new one) for one operation, then take it back."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = open_connection(self._path, self._settings)
        try:
            yield conn
        finally:
            if conn.in_transaction:  # an error left a transaction open: never hand that on
                conn.close()
            else:
                with self._lock:
                    keep = not self._closed and len(self._idle) < MAX_IDLE
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()

    def close(self) -> None:
        """Close the idle connections; lent ones are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class SharedMemory:
    """The process's in-memory database: one named shared-cache database, one connection, one lock.

    Every ``sqlite:///:memory:`` engine of the process sees the same database while
    at least one of them is open. They share the connection that keeps it alive,
    under a lock, rather than opening one each: in shared-cache mode a table locked
    by another connection fails at once with SQLITE_LOCKED, which no busy timeout
    waits for.
    """

    _guard = threading.Lock()
    _users = 0
    _conn: sqlite3.Connection | None = None
    lock = threading.RLock()
    name = f"file:twat-{uuid.uuid4().hex}?mode=memory&cache=shared"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._joined = False

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """Lend the shared connection, under the lock, opening the database on first use."""
        cls = type(self)
        with cls._guard:
            if cls._conn is None:
                cls._conn = open_connection(cls.name, self._settings, uri=True)
            conn = cls._conn
            if not self._joined:
                cls._users += 1
                self._joined = True
        with cls.lock:
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def close(self) -> None:
        """Leave the database; the last engine to leave closes it, and its data is gone."""
        cls = type(self)
        with cls._guard:
            if not self._joined:
                return
            self._joined = False
            cls._users -= 1
            if cls._users == 0 and cls._conn is not None:
                cls._conn.close()
                cls._conn = None
