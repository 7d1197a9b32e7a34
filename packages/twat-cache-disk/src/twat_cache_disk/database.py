"""diskcache's ``Cache`` with connections that can all be closed, whatever thread opened them."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any, Final

import diskcache

__all__ = ["SUPPORTED_DISKCACHE", "Database", "check_diskcache_version"]

SUPPORTED_DISKCACHE: Final = ((5, 6),)
"""The diskcache releases (major, minor) whose ``Cache._con`` hook :class:`Database` replaces."""


def check_diskcache_version(version: str) -> None:
    """Raise ImportError unless ``version`` is a diskcache release this package was checked on.

    :class:`Database` overrides ``Cache._con``, the one private hook through which
    diskcache 5.6 opens every connection; another release may open them elsewhere.

    Raises:
        ImportError: naming the installed and the supported versions.
    """
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        release = ()
    if release not in SUPPORTED_DISKCACHE:
        supported = ", ".join(f"{major}.{minor}.x" for major, minor in SUPPORTED_DISKCACHE)
        raise ImportError(
            f"twat-cache-disk supports diskcache {supported}, not {version}: "
            'pip install "diskcache>=5.6,<5.7"'
        )


check_diskcache_version(diskcache.__version__)


class _ConnectionCloser:
    """Kept in one thread's slot: closes that thread's connection when the thread ends."""

    __slots__ = ("connection", "open_connections")

    def __init__(
        self, connection: sqlite3.Connection, open_connections: set[sqlite3.Connection]
    ) -> None:
        self.connection = connection
        self.open_connections = open_connections

    def __del__(self) -> None:
        self.open_connections.discard(self.connection)
        self.connection.close()


class Database(diskcache.Cache):  # type: ignore[misc]  # diskcache ships no types
    """A ``diskcache.Cache`` whose connections can all be closed, whatever thread opened them.

    diskcache opens one SQLite connection per thread and its ``close()`` closes
    the caller's only: the others are dropped unclosed when their thread ends or
    the cache is collected (a ``ResourceWarning`` on Python 3.13). This opens them
    as diskcache 5.6 does, but closable from any thread, and closes each when its
    thread ends or when :meth:`close_all` is called. Its per-thread state is its
    own; of diskcache's internals it replaces only ``_con`` (hence the version bound).
    """

    def __init__(self, directory: str, **settings: Any) -> None:
        self._open_connections: set[sqlite3.Connection] = set()
        self._connections = threading.local()
        try:
            super().__init__(directory, **settings)
        except BaseException:  # e.g. not a database: close what was opened
            self.close_all()
            raise

    @property
    def _con(self) -> sqlite3.Connection:
        local = self._connections
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:  # forked: never use the parent's connection
            local.con = local.closer = None
            local.pid = pid
        con: sqlite3.Connection | None = local.con
        if con is None:
            con = local.con = sqlite3.connect(
                os.path.join(self.directory, "cache.db"),
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,  # each is still used by one thread; any may close it
            )
            self._open_connections.add(con)
            local.closer = _ConnectionCloser(con, self._open_connections)
            try:  # per-connection pragmas, as diskcache re-applies them
                settings = con.execute("SELECT key, value FROM Settings").fetchall()
            except sqlite3.OperationalError:
                pass
            else:
                for key, value in settings:
                    if key.startswith("sqlite_"):
                        self.reset(key, value, update=False)
        return con

    def close(self) -> None:
        """Close the calling thread's connection (diskcache's ``close``)."""
        local = self._connections
        con: sqlite3.Connection | None = getattr(local, "con", None)
        if con is not None and getattr(local, "pid", None) == os.getpid():
            self._open_connections.discard(con)
            con.close()
        local.con = local.closer = None

    def close_all(self) -> None:
        """Close the connection of every thread."""
        for con in list(self._open_connections):
            con.close()
        self._open_connections.clear()
        self.close()
