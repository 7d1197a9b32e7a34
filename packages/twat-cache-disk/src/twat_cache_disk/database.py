"""diskcache's ``Cache`` with connections that can all be closed, whatever thread opened them."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import diskcache

__all__ = ["Database"]


class _ConnectionCloser:
    """Kept in one thread's diskcache slot: closes that thread's connection when the thread ends."""

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
    as diskcache 5.x does, but closable from any thread, and closes each when its
    thread ends or when :meth:`close_all` is called.
    """

    def __init__(self, directory: str, **settings: Any) -> None:
        self._open_connections: set[sqlite3.Connection] = set()
        try:
            super().__init__(directory, **settings)
        except BaseException:  # e.g. not a database: close what was opened
            self.close_all()
            raise

    @property
    def _con(self) -> sqlite3.Connection:
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:  # forked: drop the parent's connection
            self.close()
            local.pid = pid
        con: sqlite3.Connection | None = getattr(local, "con", None)
        if con is None:
            con = local.con = sqlite3.connect(
                os.path.join(self._directory, "cache.db"),
                timeout=self._timeout,
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

    def close_all(self) -> None:
        """Close the connection of every thread."""
        for con in list(self._open_connections):
            con.close()
        self._open_connections.clear()
        self.close()
