"""The ``sqlite://`` engine: one table in a SQLite file, or in a shared in-memory database.

Every entry is a row ``(namespace, key, value, expires_at)``; ``expires_at`` is
a Unix time (``time.time()``, the same clock in every process) or NULL for no
expiry. Expired rows are never returned; they are deleted in batches as writes
go by, and all at once by :meth:`SQLiteBackend.purge_expired`.

A file is used through a small pool of connections, one per concurrent caller
(idle ones are kept for reuse), so that readers in many threads run in parallel
under WAL while writers in many threads and processes queue on SQLite's own lock
for up to ``timeout`` seconds. ``add`` and ``incr`` read and write inside one
``BEGIN IMMEDIATE`` transaction, which takes the write lock before reading: they
are atomic across threads and processes, on every SQLite version.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from twat_cache.config import ensure_folder, refuse_options
from twat_cache.engines.base import BaseBackend, check_int64
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.paths import default_folder
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.serializers import decode_int, encode_int

from twat_cache_sqlite.connections import FilePool, Settings, SharedMemory
from twat_cache_sqlite.statements import TABLE_NAME, statements

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["DEFAULT_FILE_NAME", "DEFAULT_TABLE", "JOURNAL_MODES", "SYNCHRONOUS", "SQLiteBackend"]

DEFAULT_TABLE: Final = "twat_cache"
DEFAULT_FILE_NAME: Final = "twat-cache.sqlite3"
DEFAULT_TIMEOUT: Final = 5.0
JOURNAL_MODES: Final = ("wal", "delete", "truncate", "memory")
SYNCHRONOUS: Final = ("normal", "full", "off")
MEMORY: Final = ":memory:"

_CHUNK = 500  # bound parameters per IN (...): under SQLite's old 999-variable limit
_PURGE_EVERY = 1000  # writes between two lazy purges of expired rows
_PURGE_BATCH = 500  # rows one lazy purge deletes at most, so that a write stays short
_now = time.time  # the expiry clock; tests replace it instead of sleeping
_FILE_CAPABILITIES: Final = Capabilities(
    native_ttl=False, shared=True, persistent=True, compare_and_delete=True, reports_expiry=True
)
# the in-memory database lives in this process only, and dies with it
_MEMORY_CAPABILITIES: Final = Capabilities(
    native_ttl=False, shared=False, persistent=False, compare_and_delete=True, reports_expiry=True
)


class SQLiteBackend(BaseBackend):
    """Entries in one SQLite table, shared by every thread and process using the file.

    Args:
        path: The database file; a relative path is taken under ``folder`` (or the
            current folder when ``folder`` is None); ``None`` means
            ``folder/twat-cache.sqlite3``; ``":memory:"`` the process's shared
            in-memory database.
        namespace: This engine's namespace (a column, so many share one table).
        folder: The folder of a relative path (default: the current folder) and
            of the default file (default: the user cache folder); created if missing.
        table: The table name (letters, digits and ``_``; created if missing).
        timeout: Seconds to wait for another connection's write lock.
        journal_mode: ``wal`` (readers never block the writer), ``delete``,
            ``truncate`` or ``memory``.
        synchronous: ``normal`` (durable at checkpoints under WAL), ``full`` or ``off``.
        maxsize: The most entries this namespace keeps (``None``: no limit). Past
            it, expired entries go first, then the least recently written; the
            check is part of each write's transaction, so it holds across
            processes (it costs one ``COUNT`` of the namespace per write).

    Raises:
        ConfigurationError: for a bad option, a path that is a folder, or a folder
            that cannot be created.

    Example:
        >>> cache = SQLiteBackend(":memory:", namespace="docs")
        >>> cache.set("k", b"v", ttl=60); cache.get("k")
        True
        b'v'
        >>> cache.close()
    """

    capabilities = _FILE_CAPABILITIES
    stores_objects = False
    blocking = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        namespace: str = "default",
        folder: str | os.PathLike[str] | None = None,
        table: str = DEFAULT_TABLE,
        timeout: float = DEFAULT_TIMEOUT,
        journal_mode: str = "wal",
        synchronous: str = "normal",
        maxsize: int | None = None,
    ) -> None:
        super().__init__(namespace)
        if maxsize is not None and (type(maxsize) is not int or maxsize < 1):
            raise ConfigurationError("maxsize", maxsize, "a positive integer, or None for no limit")
        self.maxsize = maxsize
        if (
            not isinstance(table, str)
            or not TABLE_NAME.fullmatch(table)
            or table.lower().startswith("sqlite_")
        ):
            raise ConfigurationError(
                "sqlite option 'table'",
                table,
                "a letter or '_' then up to 62 letters, digits or '_', not starting with 'sqlite_'",
            )
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 <= timeout < 1e6
        ):
            raise ConfigurationError("sqlite option 'timeout'", timeout, "a number of seconds >= 0")
        if journal_mode not in JOURNAL_MODES:
            raise ConfigurationError(
                "sqlite option 'journal_mode'", journal_mode, "one of " + ", ".join(JOURNAL_MODES)
            )
        if synchronous not in SYNCHRONOUS:
            raise ConfigurationError(
                "sqlite option 'synchronous'", synchronous, "one of " + ", ".join(SYNCHRONOUS)
            )
        self.table = table
        self._sql = statements(table)
        settings = Settings(float(timeout), journal_mode, synchronous)
        if path is not None and os.fspath(path) == MEMORY:
            self.path: str = MEMORY
            self._connections: FilePool | SharedMemory = SharedMemory(settings)
            self.capabilities = _MEMORY_CAPABILITIES
        else:
            self.path = str(self._resolve(path, folder))
            self._connections = FilePool(self.path, settings)
        self._schema_ready = False
        self._writes = itertools.count(1)
        self.purge_every = _PURGE_EVERY

    @staticmethod
    def _resolve(
        path: str | os.PathLike[str] | None, folder: str | os.PathLike[str] | None
    ) -> Path:
        base = Path(folder).expanduser() if folder is not None else None
        if path is None or not os.fspath(path):
            file = (base or default_folder()) / DEFAULT_FILE_NAME
        else:
            file = Path(path).expanduser()
            if not file.is_absolute():
                file = (base or Path.cwd()) / file
        if file.is_dir():
            raise ConfigurationError("sqlite path", str(file), "a database file, not a folder")
        ensure_folder(file.parent)
        return file

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> SQLiteBackend:
        """Build from ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` or ``sqlite:///:memory:``.

        As for SQLAlchemy, the path is what follows the third slash: a fourth one
        makes it absolute. Options: ``table``, ``timeout``, ``journal_mode``,
        ``synchronous`` (see the class); ``config.maxsize`` and ``config.folder`` apply.

        Raises:
            ConfigurationError: for a host in the URL, a bad or unknown option,
                ``maxbytes`` (no byte limit here) or ``policy`` other than ``lru``.
        """
        if url.hosts:
            raise ConfigurationError(
                "sqlite url",
                url.redacted,
                "no host: sqlite:///relative.db, sqlite:////absolute.db or sqlite:///:memory:",
            )
        refuse_options(
            config, "sqlite", "maxbytes", "policy", hint="sqlite evicts the least recently written"
        )
        table = url.option_str("table", DEFAULT_TABLE)
        timeout = url.option_float("timeout", DEFAULT_TIMEOUT)
        journal_mode = url.option_str("journal_mode", "wal", JOURNAL_MODES)
        synchronous = url.option_str("synchronous", "normal", SYNCHRONOUS)
        url.finish()
        path = url.path[1:] if url.path.startswith("/") else url.path
        return cls(
            path or None,
            namespace=config.namespace,
            folder=config.folder,
            table=table,
            timeout=timeout,
            journal_mode=journal_mode,
            synchronous=synchronous,
            maxsize=config.maxsize,
        )

    @contextmanager
    def _use(self, operation: str) -> Iterator[sqlite3.Connection]:
        """Borrow a connection; turn SQLite's errors (locked, disk I/O...) into BackendError."""
        self._check_open()
        try:
            with self._connections.borrow() as conn:
                if not self._schema_ready:
                    conn.execute(self._sql["create_table"])
                    conn.execute(self._sql["create_index"])
                    self._schema_ready = True
                yield conn
        except sqlite3.Error as exc:
            raise BackendError(
                f"sqlite {operation} failed on {self.path} (table {self.table}): {exc}",
                engine="sqlite",
                operation=operation,
            ) from exc

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        with self._use(operation) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _wrote(self, conn: sqlite3.Connection, now: float) -> None:
        if next(self._writes) % self.purge_every == 0:
            conn.execute(self._sql["purge"], (now, _PURGE_BATCH))
        if self.maxsize is not None:
            self._bound(conn, now, self.maxsize)

    def _bound(self, conn: sqlite3.Connection, now: float, maxsize: int) -> None:
        """Evict past ``maxsize``: expired rows first, then the least recently written."""
        count: int = conn.execute(self._sql["count"], (self.namespace,)).fetchone()[0]
        if count <= maxsize:
            return
        count -= conn.execute(self._sql["purge_namespace"], (self.namespace, now)).rowcount
        if count > maxsize:
            conn.execute(self._sql["evict_oldest"], (self.namespace, count - maxsize))

    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        with self._use("get") as conn:
            row = conn.execute(self._sql["get"], (self.namespace, key, _now())).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``, a few hundred per query."""
        return {key: bytes(value) for key, value in self._select_in("get_many", "get_in", keys)}

    def get_heads(self, keys: Sequence[str], size: int) -> dict[str, bytes]:
        """Return the first ``size`` bytes of the present entries among ``keys``.

        ``keys()`` of the cache reads the entries' headers (their tags) this way,
        never their whole values.
        """
        rows = self._select_in("get_heads", "heads_in", keys, (size,))
        return {key: bytes(value) for key, value in rows}

    def server_version(self) -> str:
        """The version of the SQLite library Python's sqlite3 module runs on."""
        return f"SQLite {sqlite3.sqlite_version}"

    def expiries(self, keys: Sequence[str]) -> dict[str, float]:
        """When each present key expires (its ``expires_at``; ``NEVER_EXPIRES`` when NULL)."""
        return {
            key: NEVER_EXPIRES if expires is None else float(expires)
            for key, expires in self._select_in("expiries", "expiries_in", keys)
        }

    def _select_in(
        self, operation: str, statement: str, keys: Sequence[str], lead: tuple[Any, ...] = ()
    ) -> list[tuple[str, Any]]:
        """Run the ``... key IN (...)`` ``statement`` over ``keys``, a few hundred at a time.

        ``lead``: the parameters the statement takes before the namespace.
        """
        wanted = list(dict.fromkeys(keys))
        rows: list[tuple[str, Any]] = []
        if not wanted:
            return rows
        with self._use(operation) as conn:
            now = _now()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = self._sql[statement] + "(" + ", ".join("?" * len(chunk)) + ")"
                rows.extend(conn.execute(query, (*lead, self.namespace, now, *chunk)))
        return rows

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key``, replacing any entry, for ``ttl`` seconds; True."""
        # with maxsize, the write and the count share one transaction (exact across processes)
        with self._transaction("set") if self.maxsize is not None else self._use("set") as conn:
            now = _now()
            conn.execute(
                self._sql["put"], (self.namespace, key, value, None if ttl is None else now + ttl)
            )
            self._wrote(conn, now)
        return True

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl``, in one transaction; True."""
        if not items:
            return True
        with self._transaction("set_many") as conn:
            now = _now()
            expires = None if ttl is None else now + ttl
            conn.executemany(
                self._sql["put"], ((self.namespace, k, v, expires) for k, v in items.items())
            )
            self._wrote(conn, now)
        return True

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic across processes."""
        with self._transaction("add") as conn:
            now = _now()
            if conn.execute(self._sql["get"], (self.namespace, key, now)).fetchone() is not None:
                return False
            conn.execute(
                self._sql["put"], (self.namespace, key, value, None if ttl is None else now + ttl)
            )
            self._wrote(conn, now)
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present (and not expired)."""
        with self._use("delete") as conn:
            return conn.execute(self._sql["delete"], (self.namespace, key, _now())).rowcount > 0

    def delete_if(self, key: str, value: bytes) -> bool:
        """Remove a live ``key`` only while it holds ``value`` (one DELETE); return whether."""
        with self._use("delete_if") as conn:
            params = (self.namespace, key, value, _now())
            return conn.execute(self._sql["delete_if"], params).rowcount > 0

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one transaction; return how many were present."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return 0
        deleted = 0
        with self._transaction("delete_many") as conn:
            now = _now()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = self._sql["delete_in"] + "(" + ", ".join("?" * len(chunk)) + ")"
                deleted += conn.execute(query, (self.namespace, now, *chunk)).rowcount
        return deleted

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` (``None``: never expires); return whether it was present."""
        with self._use("touch") as conn:
            now = _now()
            expires = None if ttl is None else now + ttl
            return (
                conn.execute(self._sql["touch"], (expires, self.namespace, key, now)).rowcount > 0
            )

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` and return the sum; atomic across processes.

        The read and the write share one ``BEGIN IMMEDIATE`` transaction, so the
        result is exact on every SQLite version.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (the
                stored value is unchanged).
        """
        with self._transaction("incr") as conn:
            row = conn.execute(self._sql["get"], (self.namespace, key, _now())).fetchone()
            if row is None:
                raise ValueError(f"key {key!r} not found")
            value = check_int64(decode_int(bytes(row[0])) + delta)
            conn.execute(self._sql["replace_value"], (encode_int(value), self.namespace, key))
        return value

    def clear(self) -> None:
        """Remove every entry of this namespace, and nothing else."""
        with self._use("clear") as conn:
            conn.execute(self._sql["clear"], (self.namespace,))

    def keys(self) -> Iterator[str]:
        """Iterate over a snapshot of this namespace's live keys."""
        with self._use("keys") as conn:
            keys = [row[0] for row in conn.execute(self._sql["keys"], (self.namespace, _now()))]
        return iter(keys)

    def purge_expired(self) -> int:
        """Delete every expired row of the table (all namespaces); return how many.

        Rows go in batches of a few hundred, each its own short transaction, so
        that other writers are never held up for long.
        """
        total = 0
        with self._use("purge_expired") as conn:
            while True:
                deleted = conn.execute(self._sql["purge"], (_now(), _PURGE_BATCH)).rowcount
                total += deleted
                if deleted < _PURGE_BATCH:
                    return total

    def _close(self) -> None:
        self._connections.close()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<SQLiteBackend {self.path} table={self.table} namespace={self.namespace!r}{state}>"
