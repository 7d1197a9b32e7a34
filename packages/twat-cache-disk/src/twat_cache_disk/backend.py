"""The ``disk://`` engine: a persistent cache in a local folder, on diskcache.

Each namespace is its own diskcache database in its own sub-folder
(``<folder>/<namespace>/``), so ``clear()`` and ``keys()`` are diskcache's own
whole-database operations and never see another namespace. Values are the bytes
core hands over, stored as they are (small ones inside SQLite, larger ones in a
file each); an integer's stored form (``b"42"``) is kept as an SQLite integer so
that :meth:`DiskBackend.incr` is diskcache's atomic, multi-process ``incr``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import diskcache
from twat_cache.config import ensure_folder, refuse_options
from twat_cache.engines.base import BaseBackend
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.paths import default_folder
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.serializers import encode_int

from twat_cache_disk.database import Database

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL

__all__ = [
    "DEFAULT_MIN_FILE_SIZE",
    "DEFAULT_SIZE_LIMIT",
    "DEFAULT_TIMEOUT",
    "EVICTION_POLICIES",
    "DiskBackend",
]

EVICTION_POLICIES: Final = (
    "least-recently-stored",
    "least-recently-used",
    "least-frequently-used",
    "none",
)
"""diskcache's eviction policies, the first being its default."""
_CULLING: Final = "disk culls by its eviction_policy option (" + ", ".join(EVICTION_POLICIES) + ")"

DEFAULT_SIZE_LIMIT: Final = 2**30
"""Bytes kept per namespace before diskcache culls (1 GiB, diskcache's default)."""

DEFAULT_MIN_FILE_SIZE: Final = 2**15
"""Values of at least this many bytes get a file of their own (32 KiB, diskcache's default)."""

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds to wait for SQLite's lock before an operation fails with BackendError.

Processes writing one folder queue for its write lock; a failed write opens core's
breaker, so a short wait would drop that process's writes for a while (at 1 s,
eight processes writing at full speed already hit it). diskcache's own default is 60 s."""

_STORAGE_ERRORS: Final = (diskcache.Timeout, sqlite3.Error, OSError)
# the canonical decimal form core writes with encode_int, at most 19 digits
_INTEGER: Final = re.compile(rb"0|-?[1-9][0-9]{0,18}")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _to_disk(value: bytes) -> bytes | int:
    """Return what to hand diskcache: ``bytes`` as they are, or an integer's stored form as ``int``.

    Only the canonical form (``encode_int``'s) within SQLite's 64-bit range is
    converted, so that :func:`_from_disk` gives back exactly the bytes given.
    """
    if type(value) is not bytes:
        value = bytes(value)  # diskcache would pickle a bytearray or memoryview
    if len(value) <= 20 and _INTEGER.fullmatch(value):
        number = int(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    return value


def _from_disk(value: Any) -> bytes:
    return encode_int(value) if type(value) is int else value


class DiskBackend(BaseBackend):
    """A persistent cache in a local folder, safe for many threads and processes.

    Args:
        folder: The folder holding every namespace's sub-folder; ``None`` for
            :func:`default_folder`. It is created if needed.
        namespace: The namespace; its entries live in ``folder/namespace``.
        size_limit: Bytes kept (per namespace) before the oldest entries, by
            ``eviction_policy``, are culled.
        eviction_policy: One of :data:`EVICTION_POLICIES`.
        min_file_size: Values of at least this many bytes are written to a file
            of their own instead of into SQLite (``0``: every value is a file).
        timeout: Seconds to wait for SQLite's lock before failing.
        shards: Split the namespace into this many databases (FanoutCache's
            layout) so that writers of different keys do not wait for each other.
        maxsize: The most entries kept (``None``: no limit by count); past it the
            oldest-inserted entries go first (expired ones before any live one),
            checked after each write, across processes. With shards, each keeps
            ``maxsize // shards``.

    Raises:
        ConfigurationError: for an invalid option.
        PathError: when the folder cannot be created or written.

    Example:
        >>> cache = DiskBackend("/tmp/app-cache", namespace="users")
        >>> cache.set("k", b"v", ttl=60); cache.get("k")
        True
        b'v'
    """

    # compare_and_delete: the read and the delete share one transaction (diskcache's transact)
    capabilities = Capabilities(
        persistent=True,
        shared=True,
        native_ttl=True,
        compare_and_delete=True,
        reports_expiry=True,
    )
    stores_objects = False
    blocking = True

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        namespace: str = "default",
        *,
        size_limit: int = DEFAULT_SIZE_LIMIT,
        eviction_policy: str = EVICTION_POLICIES[0],
        min_file_size: int = DEFAULT_MIN_FILE_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        shards: int = 1,
        maxsize: int | None = None,
    ) -> None:
        if not namespace or namespace in (".", "..") or "/" in namespace or os.sep in namespace:
            raise ConfigurationError("namespace", namespace, "a name usable as one folder name")
        if eviction_policy not in EVICTION_POLICIES:
            raise ConfigurationError(
                "eviction_policy", eviction_policy, "one of " + ", ".join(EVICTION_POLICIES)
            )
        limits = [
            ("size_limit", size_limit, 1),
            ("min_file_size", min_file_size, 0),
            ("shards", shards, 1),
        ]
        if maxsize is not None:
            limits.append(("maxsize", maxsize, shards))
        for name, number, minimum in limits:
            if type(number) is not int or number < minimum:
                raise ConfigurationError(name, number, f"an integer >= {minimum}")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 <= timeout < float("inf")
        ):
            raise ConfigurationError("timeout", timeout, "a finite number of seconds >= 0")
        super().__init__(namespace)
        self.directory = ensure_folder(
            Path(folder if folder is not None else default_folder()) / namespace
        )
        self.size_limit = size_limit
        self.eviction_policy = eviction_policy
        self.min_file_size = min_file_size
        self.timeout = float(timeout)
        self.shards = shards
        self.maxsize = maxsize
        self._shard_maxsize = None if maxsize is None else maxsize // shards
        self._caches: tuple[Any, ...] = ()
        self._open_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> DiskBackend:
        """Build from ``disk:///absolute/folder[?options]``, or ``disk://`` with ``config.folder``.

        The folder is the URL's path, else ``config.folder``, else
        :func:`~twat_cache.paths.default_folder`; ``size_limit`` defaults to
        ``config.maxbytes``, else 1 GiB; ``config.maxsize`` bounds the entries.
        Every option is checked before the folder is created.

        Raises:
            ConfigurationError: for a host in the URL, an unknown option, an
                invalid value, or ``policy`` other than ``lru`` (an in-process
                engines' option; the disk's order is ``eviction_policy``).
            PathError: when the folder cannot be created or written.
        """
        if url.hosts:
            raise ConfigurationError(
                "disk url", url.redacted, "disk:///absolute/folder, or disk:// with folder=..."
            )
        refuse_options(config, "disk", "policy", hint=_CULLING)
        size_limit = url.option_int("size_limit", config.maxbytes or DEFAULT_SIZE_LIMIT, minimum=1)
        eviction_policy = url.option_str("eviction_policy", EVICTION_POLICIES[0], EVICTION_POLICIES)
        min_file_size = url.option_int("min_file_size", DEFAULT_MIN_FILE_SIZE, minimum=0)
        timeout = url.option_float("timeout", DEFAULT_TIMEOUT)
        shards = url.option_int("shards", 1, minimum=1)
        url.finish()
        return cls(
            url.path or config.folder,
            config.namespace,
            size_limit=size_limit,
            eviction_policy=eviction_policy,
            min_file_size=min_file_size,
            timeout=timeout,
            shards=shards,
            maxsize=config.maxsize,
        )

    # -- internals -----------------------------------------------------------------
    def _storage_error(self, operation: str, exc: BaseException) -> BackendError:
        reason = (
            f"SQLite stayed locked for more than timeout={self.timeout} s"
            if isinstance(exc, diskcache.Timeout)
            else f"{type(exc).__name__}: {exc}"
        )
        return BackendError(
            f"disk cache {str(self.directory)!r}: {operation} failed: {reason}",
            engine="disk",
            operation=operation,
        )

    @contextmanager
    def _storage_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except _STORAGE_ERRORS as exc:
            raise self._storage_error(operation, exc) from exc

    def _open(self) -> tuple[Any, ...]:
        """Open the database(s) on first use, so that decorating a function costs no SQLite work."""
        with self._open_lock:
            self._check_open()
            if not self._caches:
                settings = {
                    "timeout": self.timeout,
                    "size_limit": self.size_limit // self.shards,
                    "eviction_policy": self.eviction_policy,
                    "disk_min_file_size": self.min_file_size,
                }
                with self._storage_errors("open"):
                    if self.shards == 1:
                        self._caches = (Database(str(self.directory), **settings),)
                    else:
                        self._caches = tuple(
                            Database(str(self.directory / f"{n:03d}"), **settings)
                            for n in range(self.shards)
                        )
            return self._caches

    def _all(self) -> tuple[Any, ...]:
        self._check_open()
        return self._caches or self._open()

    def _shard(self, key: str) -> Any:
        caches = self._caches
        if len(caches) == 1 and not self._closed:
            return caches[0]
        caches = self._all()
        if len(caches) == 1:
            return caches[0]
        return caches[caches[0].disk.hash(key) % len(caches)]  # FanoutCache's placement

    def _bound(self, shard: Any) -> None:
        """Evict the oldest-inserted entries of ``shard`` past ``maxsize`` (expired ones first).

        The count is diskcache's own (kept in the database, so it is every
        process's); the eviction runs in one transaction, so that two processes
        past the limit together do not both evict.
        """
        limit = self._shard_maxsize
        if limit is None or len(shard) <= limit:
            return
        with shard.transact():
            if len(shard) > limit:
                shard.expire()
            while len(shard) > limit:
                # rowid order: the first inserted (a rewrite keeps its row)
                key, _ = shard.peekitem(last=False)
                shard.delete(key)

    def _by_shard(
        self, keys: Sequence[str] | Mapping[str, bytes]
    ) -> dict[int, tuple[Any, list[str]]]:
        groups: dict[int, tuple[Any, list[str]]] = {}
        for key in keys:
            shard = self._shard(key)
            groups.setdefault(id(shard), (shard, []))[1].append(key)
        return groups

    # -- the Backend protocol ------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """Return the bytes under ``key``, or ``None`` when absent or expired."""
        caches = self._caches  # _shard(), inline for the usual single database: the hit path
        shard = caches[0] if len(caches) == 1 and not self._closed else self._shard(key)
        try:  # inline rather than _storage_errors(): this is the hit path
            value = shard.get(key)
        except _STORAGE_ERRORS as exc:
            raise self._storage_error("get", exc) from exc
        return encode_int(value) if type(value) is int else value  # _from_disk(), inline

    def server_version(self) -> str:
        """Diskcache's version and the SQLite library's under it."""
        return f"diskcache {diskcache.__version__} (SQLite {sqlite3.sqlite_version})"

    def expiry(self, key: str) -> float | None:
        """When ``key`` expires (diskcache's ``expire_time``; ``NEVER_EXPIRES``), or None if absent.

        The value is not read: a large one stays in its file (diskcache hands a
        handle, closed at once). Under the ``least-recently-used`` and
        ``least-frequently-used`` eviction policies diskcache counts this as a use.
        """
        shard = self._shard(key)
        with self._storage_errors("expiry"):
            value, expires = shard.get(key, read=True, expire_time=True)
        if value is None:
            return None
        if hasattr(value, "close"):  # a value kept in a file of its own
            value.close()
        return NEVER_EXPIRES if expires is None else float(expires)

    def get_heads(self, keys: Sequence[str], size: int) -> dict[str, bytes]:
        """Return the first ``size`` bytes of the present entries among ``keys``.

        ``keys()`` of the cache reads the entries' headers (their tags) this way:
        a value kept in a file of its own (``min_file_size`` and up) is read up
        to ``size`` bytes only; a smaller one is read with its row, as ``get``
        does. Counts as a use under the ``least-recently-used`` and
        ``least-frequently-used`` eviction policies, as ``get`` does.
        """
        heads: dict[str, bytes] = {}
        with self._storage_errors("get_heads"):
            for key in dict.fromkeys(keys):
                value = self._shard(key).get(key, read=True)
                if value is None:
                    continue
                if hasattr(value, "read"):  # a value kept in a file of its own
                    with value:
                        heads[key] = value.read(size)
                else:
                    heads[key] = _from_disk(value)[:size]
        return heads

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: until culled); True."""
        shard = self._shard(key)
        with self._storage_errors("set"):
            shard.set(key, _to_disk(value), expire=ttl)
            self._bound(shard)
        return True

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item, in one transaction per shard; True."""
        for shard, keys in self._by_shard(items).values():
            with self._storage_errors("set_many"), shard.transact():
                for key in keys:
                    shard.set(key, _to_disk(items[key]), expire=ttl)
                self._bound(shard)
        return True

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired (atomic, across processes)."""
        shard = self._shard(key)
        with self._storage_errors("add"):
            added = bool(shard.add(key, _to_disk(value), expire=ttl))
            if added:
                self._bound(shard)
        return added

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was there."""
        shard = self._shard(key)
        with self._storage_errors("delete"):
            return bool(shard.delete(key))

    def delete_if(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only while it holds ``value``, in one transaction; return whether."""
        shard = self._shard(key)
        with self._storage_errors("delete_if"), shard.transact():
            found = shard.get(key)
            if found is None or _from_disk(found) != value:
                return False
            return bool(shard.delete(key))

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` in one transaction per shard; return how many live entries were there."""
        count = 0
        for shard, group in self._by_shard(keys).values():
            with self._storage_errors("delete_many"), shard.transact():
                count += sum(1 for key in group if shard.delete(key))
        return count

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl`` from now; return whether a live entry was there."""
        shard = self._shard(key)
        with self._storage_errors("touch"):
            return bool(shard.touch(key, expire=ttl))

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key`` in one SQLite transaction; return the result.

        The entry keeps its expiry. Atomic across threads and processes.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not an integer's stored form.
            OverflowError: when the result would leave the signed 64-bit range
                (the stored value is unchanged: SQLite refuses it and diskcache
                rolls the transaction back).
        """
        shard = self._shard(key)
        try:
            with self._storage_errors("incr"):
                result: int = shard.incr(key, delta, default=None)
        except KeyError:
            raise ValueError(f"key {key!r} not found") from None
        except TypeError:  # diskcache added delta to stored bytes (or to a file's NULL column)
            raise TypeError(f"the value under {key!r} is not an integer") from None
        except OverflowError:
            raise OverflowError(
                f"incr of {key!r} by {delta} leaves the signed 64-bit range"
            ) from None
        return result

    def clear(self) -> None:
        """Remove every entry of this namespace: its own database, no other namespace's."""
        for shard in self._all():
            with self._storage_errors("clear"):
                shard.clear()

    def keys(self) -> Iterator[str]:
        """Iterate over this namespace's live keys (expired entries are purged first)."""
        return self._iter_keys(self._all())

    def _iter_keys(self, caches: tuple[Any, ...]) -> Iterator[str]:
        for shard in caches:
            with self._storage_errors("keys"):
                shard.expire()
                keys = iter(shard)
            while True:
                with self._storage_errors("keys"):
                    key = next(keys, None)
                if key is None:
                    break
                yield key

    def _close(self) -> None:
        for shard in self._caches:
            shard.close_all()
        self._caches = ()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<DiskBackend {str(self.directory)!r} namespace={self.namespace!r}{state}>"
