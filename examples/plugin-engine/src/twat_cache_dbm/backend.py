"""A twat-cache engine on the standard library's ``dbm.dumb``: ``dbm:///path/to/file``.

The working example of the plugin guide (README.md). It shows everything an
engine does, and nothing more:

* ``capabilities`` says truthfully what it can do (core reads it, the kit checks it);
* ``from_config`` reads and validates the URL, refuses the config options it
  cannot keep (``maxsize``...), and touches no file yet;
* values are ``bytes`` from core; each is stored behind its expiry time, so a
  ``ttl`` survives a restart;
* every key carries the namespace, so ``clear()`` and ``keys()`` stay in it;
* one lock per file makes it thread-safe;
* ``close()`` is idempotent (BaseBackend) and every call checks ``_check_open()``;
* file errors become :class:`~twat_cache.exceptions.BackendError`.

``dbm.dumb`` is used rather than ``dbm.open``'s pick because it is in every
Python build and one file format everywhere; ``dbm.gnu`` is often missing, and
``dbm.sqlite3`` (3.13+) refuses to be used from more than one thread.
"""

from __future__ import annotations

import dbm.dumb
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from twat_cache.config import refuse_options
from twat_cache.engines.base import BaseBackend, check_int64
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.protocols import Capabilities
from twat_cache.serializers import decode_int, encode_int

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = ["DbmBackend"]

_EXPIRY = struct.Struct(">d")  # seconds since the epoch; 0.0 means never


class _SharedFile:
    """One open dbm file per path and process: ``dbm.dumb`` keeps its index in memory,
    so two handles on one file would overwrite each other's index."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db: Any = None
        self.users = 0


_files: dict[str, _SharedFile] = {}
_files_lock = threading.Lock()


def _acquire(path: str) -> _SharedFile:
    with _files_lock:
        shared = _files.setdefault(path, _SharedFile(path))
        shared.users += 1
        return shared


def _release(shared: _SharedFile) -> None:
    with _files_lock:  # held while closing, so that no new handle opens the file meanwhile
        shared.users -= 1
        if shared.users:
            return
        del _files[shared.path]
        with shared.lock:
            if shared.db is not None:
                shared.db.close()
                shared.db = None


class DbmBackend(BaseBackend):
    """Stores entries in a ``dbm.dumb`` file (``path.dat``, ``path.dir``, ``path.bak``).

    Args:
        path: The file, without extension.
        namespace: The namespace; several may share one file.
        mode: Permission bits of a new file (private by default: entries may be pickles).

    Example:
        >>> backend = DbmBackend("/tmp/example-cache", namespace="demo")
        >>> backend.close()
    """

    # dbm.dumb keeps its index in memory: one process may use a file at a time, so entries
    # are not shared; they persist. Expiry is a time stored with each value, checked on read.
    capabilities = Capabilities(native_ttl=False, shared=False, persistent=True)

    def __init__(
        self, path: str | os.PathLike[str], namespace: str = "default", mode: int = 0o600
    ) -> None:
        super().__init__(namespace)
        self.path = os.path.abspath(os.fspath(path))
        self.mode = mode
        # length-prefixed, so no namespace can be a prefix of another's keys
        self._prefix = f"{len(namespace)}:{namespace}:".encode()
        self._file = _acquire(self.path)

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> DbmBackend:
        """Build from ``dbm:///path/to/file[?mode=600]``; nothing is opened yet.

        Raises:
            ConfigurationError: for a host, a missing path, a bad ``mode``, an unknown
                option, or ``maxsize``/``maxbytes``/``policy`` (this engine keeps no bound).
        """
        refuse_options(config, "dbm", "maxsize", "maxbytes", "policy")
        if url.hosts or not url.path or url.path.endswith("/"):
            raise ConfigurationError(
                "url", url.redacted, "a file path: dbm:///path/to/file (three slashes)"
            )
        raw_mode = url.option_str("mode", "600")
        try:
            mode = int(raw_mode, 8)
        except ValueError:
            raise ConfigurationError(
                "dbm option 'mode'", raw_mode, "octal permission bits, e.g. 600"
            ) from None
        if not 0 <= mode <= 0o777:
            raise ConfigurationError(
                "dbm option 'mode'", raw_mode, "octal permission bits, e.g. 600"
            )
        url.finish()  # reject any option not read above
        return cls(url.path, namespace=config.namespace, mode=mode)

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[Any]:
        """Hold the file's lock and yield the open database (opened on first use).

        After a write, ``sync()`` commits dbm.dumb's index, which it otherwise
        writes only on close: a crash then loses nothing written before it.
        """
        with self._file.lock:
            self._check_open()
            try:
                if self._file.db is None:
                    # shared by every backend on this path; _release() closes it
                    self._file.db = dbm.dumb.open(self.path, "c", self.mode)  # noqa: SIM115
                yield self._file.db
                if write:
                    self._file.db.sync()
            except OSError as exc:  # dbm.dumb.error is OSError
                raise BackendError(f"dbm file {self.path}: {exc}", path=self.path) from exc

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode("utf-8", "surrogatepass")

    @staticmethod
    def _entry(value: bytes, ttl: float | None) -> bytes:
        return _EXPIRY.pack(0.0 if ttl is None else time.time() + ttl) + value

    @staticmethod
    def _live(db: Any, name: bytes) -> bytes | None:
        """Return the stored entry (expiry + value), dropping it if it has expired."""
        entry: bytes | None = db.get(name)
        if entry is None:
            return None
        (expires,) = _EXPIRY.unpack_from(entry)
        if expires and expires <= time.time():
            del db[name]
            return None
        return entry

    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired."""
        with self._db() as db:
            entry = self._live(db, self._key(key))
            return None if entry is None else entry[_EXPIRY.size :]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds; True (dbm takes any size)."""
        with self._db(write=True) as db:
            db[self._key(key)] = self._entry(value, ttl)
        return True

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; atomic under the file's lock."""
        with self._db(write=True) as db:
            name = self._key(key)
            if self._live(db, name) is not None:
                return False
            db[name] = self._entry(value, ttl)
            return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        with self._db() as db:
            name = self._key(key)
            if self._live(db, name) is None:
                return False
            del db[name]
            return True

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``; return whether it was present."""
        with self._db(write=True) as db:
            name = self._key(key)
            entry = self._live(db, name)
            if entry is None:
                return False
            db[name] = self._entry(entry[_EXPIRY.size :], ttl)
            return True

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key``, keeping its expiry.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (value unchanged).
        """
        with self._db(write=True) as db:
            name = self._key(key)
            entry = self._live(db, name)
            if entry is None:
                raise ValueError(f"key {key!r} not found")
            value = check_int64(decode_int(entry[_EXPIRY.size :]) + delta)
            db[name] = entry[: _EXPIRY.size] + encode_int(value)
            return value

    def clear(self) -> None:
        """Remove every entry of this namespace (other namespaces in the file stay)."""
        with self._db() as db:
            for name in [n for n in db if n.startswith(self._prefix)]:
                del db[name]

    def keys(self) -> Iterator[str]:
        """Iterate over a snapshot of this namespace's live keys."""
        with self._db() as db:
            names = [n for n in db if n.startswith(self._prefix)]
            live = [n for n in names if self._live(db, n) is not None]
        start = len(self._prefix)
        return iter([n[start:].decode("utf-8", "surrogatepass") for n in live])

    def _close(self) -> None:
        _release(self._file)
