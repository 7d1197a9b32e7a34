"""The PostgreSQL invalidation channel: LISTEN/NOTIFY on one channel per table and namespace.

Core's tiers (``twat_cache.tiers``) publish the keys and tags they change with
``pg_notify`` and drop the near copies other processes change. A subscription
is its own autocommit connection outside the engine's pool; when it breaks
(a server restart, the network), messages may have been missed and the
subscriber flushes its near tiers.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import psycopg
from psycopg import sql

from twat_cache_postgres.settings import PostgresSettings

__all__ = ["PostgresChannel", "PostgresSubscription"]


class PostgresSubscription:
    """One connection listening to a namespace's invalidations."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def receive(self, timeout: float) -> list[str]:
        """Return the notifications that arrived within ``timeout`` seconds.

        Raises:
            psycopg.OperationalError: when the connection is lost.
        """
        # stop_after: return with the first notification instead of waiting out the timeout
        return [n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)]

    def close(self) -> None:
        """Close the subscription's connection."""
        self._conn.close()


class PostgresChannel:
    """Invalidation messages for one namespace of one cache table.

    Args:
        settings: The engine's settings (the channel makes its own connections).
        namespace: The engine's namespace.

    Example:
        >>> PostgresChannel(PostgresSettings(), "app").name.startswith("twat_cache_")
        True
    """

    def __init__(self, settings: PostgresSettings, namespace: str) -> None:
        self.settings = settings
        # a channel name is an identifier (63 bytes at most): a digest of where entries live
        where = f"{settings.dbname}.{settings.schema}.{settings.table}:{namespace}"
        self.name = "twat_cache_" + hashlib.sha256(where.encode()).hexdigest()[:40]
        self._publisher: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def publish(self, message: str) -> None:
        """Send ``message`` with ``pg_notify`` (a broken connection is made again next time).

        Raises:
            psycopg.Error: when the server cannot be reached.
        """
        with self._lock:
            try:
                if self._publisher is None or self._publisher.closed:
                    self._publisher = psycopg.connect(**self.settings.connect_kwargs())
                self._publisher.execute("SELECT pg_notify(%s, %s)", (self.name, message))
            except psycopg.Error:
                self._drop()
                raise

    def subscribe(self) -> PostgresSubscription:
        """LISTEN on a new connection; notifications sent after this returns are received.

        Raises:
            psycopg.Error: when the server cannot be reached.
        """
        conn = psycopg.connect(**self.settings.connect_kwargs())
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.name)))
        except BaseException:
            conn.close()
            raise
        return PostgresSubscription(conn)

    def _drop(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def close(self) -> None:
        """Close the publishing connection."""
        with self._lock:
            self._drop()
