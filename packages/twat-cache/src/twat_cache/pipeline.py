"""The I/O-free half of a :class:`~twat_cache.Cache`: everything that never waits.

Key normalisation, encoding and decoding, tag version arithmetic, the circuit
breaker's bookkeeping and the stats live here, once. The half that talks to the
engine is written once too, async, in :mod:`twat_cache._async.ops`; its sync
twin :mod:`twat_cache._sync.ops` is generated from it (``bash tools/unasync``).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from twat_cache.config import CacheConfig, _check_ttl
from twat_cache.constants import TAG_PREFIX
from twat_cache.exceptions import (
    BackendError,
    BackendUnavailableError,
    CacheOperationError,
    CacheValueError,
    NodeError,
)
from twat_cache.keys import key_limit, normal_key
from twat_cache.observe import Observer
from twat_cache.policies import CircuitBreaker, jittered
from twat_cache.protocols import NEVER_EXPIRES, Capabilities
from twat_cache.serializers import Codec, CorruptEntryError, encode_int
from twat_cache.serializers.frame import tag_block
from twat_cache.serializers.policy import build_codec, expect_return_type, value_type
from twat_cache.stats import CacheStats
from twat_cache.urls import redact_text

if TYPE_CHECKING:
    from twat_cache.protocols import AsyncBackend, Backend

__all__ = [
    "DEFAULT",
    "MISSING",
    "NONE_VALUE",
    "TAG_PREFIX",
    "Pipeline",
    "Tagged",
    "acaller",
    "caller",
]

logger = logging.getLogger("twat_cache")
T = TypeVar("T")


class _Sentinel(enum.Enum):
    MISSING = "MISSING"
    DEFAULT = "DEFAULT"
    SLOW = "SLOW"


MISSING: Final = _Sentinel.MISSING
"""Returned by internal lookups on a miss (``None`` is a valid cached value)."""
DEFAULT: Final = _Sentinel.DEFAULT
"""``ttl=DEFAULT`` means: the cache's configured ttl."""
SLOW: Final = _Sentinel.SLOW
"""An entry the inline tagged read leaves to the full decode (see ``_tagged_read``)."""
# tag blocks -> the counters to compare, per cache (see _tagged_read); bounded like the codec's
_TAG_CHECKS_KEPT: Final = 1024

# what incr answers about the stored value (absent, not an integer, out of range): not failures
INCR_ANSWERS = (ValueError, TypeError, OverflowError)


class _NoneValue:
    """Stands for a cached ``None`` in in-process engines (where ``None`` means a miss)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NONE_VALUE"


NONE_VALUE: Final = _NoneValue()


class Tagged:
    """An in-process entry with the tag versions it was written under."""

    __slots__ = ("value", "versions")

    def __init__(self, value: Any, versions: dict[str, int]) -> None:
        self.value = value
        self.versions = versions


TTL = float | None | _Sentinel
# whether an entry's tag versions are current (None: a counter was not read)
Verdict = Callable[[dict[str, int]], bool | None]
# the tag versions an entry is written with; MISSING: do not write it
WriteVersions = dict[str, int] | Literal[_Sentinel.MISSING] | None
# an engine call: the sync form returns its result, the async form an awaitable of it
SyncCall = Callable[..., T]
AsyncCall = Callable[..., Awaitable[T]]
# how a decorated function turns its arguments into its key
KeyOf = Callable[[tuple[Any, ...], dict[str, Any]], Any]
# what a decorated function does on a miss: compute, store, return the result
Miss = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]
AsyncMiss = Callable[[Any, tuple[Any, ...], dict[str, Any]], Awaitable[Any]]
# the cached call a decorator returns
Cached = Callable[..., Any]
AsyncCached = Callable[..., Awaitable[Any]]


def caller(func: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``func`` as the sync call path calls it (as it is)."""
    return func


def acaller(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Return ``func`` as an awaitable call: coroutine functions as they are, others in a thread."""
    if inspect.iscoroutinefunction(func):
        return func
    return functools.partial(asyncio.to_thread, func)


def _counter(raw: Any) -> int | None:
    """A tag counter's value, or ``None`` when it is absent or unreadable."""
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


def _hashable(key: object) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


class Pipeline:
    """The state and the I/O-free steps every cache operation shares (sync and async).

    Attributes:
        config: The validated configuration.
        name: A label for stats and logs.
        stats: Hits, misses, writes and failures.
        capabilities: What the engine declares it can do (read, never probed).
        local: Whether the engine keeps Python objects (no serialization, tuple keys).
        backend: The engine as a sync :class:`~twat_cache.protocols.Backend`.
    """

    config: CacheConfig
    name: str
    stats: CacheStats
    capabilities: Capabilities
    local: bool
    backend: Backend
    _abackend: AsyncBackend | None
    _serializer: Codec | None
    value_types: dict[str, Any]
    _breaker: CircuitBreaker
    _tag_keys: tuple[str, ...]
    key_limit: int
    _short_key: int
    _obs: Observer
    _timed: bool  # whether engine calls are timed (set by the Observer)
    _watched: bool  # whether each read is also logged or traced (set by the Observer)
    _plain_head: bytes  # the header of plain frames, read inline by lookups (b"": none)
    _plain_size: int  # its length (0: every frame goes through the codec)
    _plain_load: Callable[[bytes], Any] | None  # the serializer's loads, for plain frames
    _tagged_head: bytes  # the header of tagged frames read inline (b"": none; as long as plain's)
    _tagged_parts: Callable[[bytes], tuple[bytes, int]] | None  # a tagged frame's block, payload
    # tag block -> (counter key, version, version as decimal bytes) per tag
    _tag_checks: dict[bytes, tuple[tuple[str, int, bytes], ...]]

    @property
    def inline_hits(self) -> bool:
        """Whether a decorated function's hits are one in-process dict read, inline.

        True for an in-process engine that never blocks, when the cache has no tags
        and its engine calls are not timed (see :meth:`~twat_cache.Cache.hit_path`).
        """
        return (
            self.local and not self._tag_keys and not self.capabilities.blocking and not self._timed
        )

    @property
    def async_backend(self) -> AsyncBackend:
        """The engine, as an :class:`~twat_cache.protocols.AsyncBackend`."""
        raise NotImplementedError  # pragma: no cover - Cache provides it

    def _setup(self, config: CacheConfig, capabilities: Capabilities, name: str | None) -> None:
        self.config = config
        self.capabilities = capabilities
        self.local = capabilities.stores_objects
        # string keys longer than this are hashed (keys.fit_long_key), on every engine alike
        self.key_limit = key_limit(capabilities.max_key_length)
        self._short_key = self.key_limit // 4  # characters that fit whatever their UTF-8 length
        self._serializer = None if self.local else build_codec(config, capabilities)
        plain = None if self._serializer is None else self._serializer.plain_reader()
        self._plain_head, self._plain_load = plain if plain is not None else (b"", None)
        self._plain_size = len(self._plain_head)
        tagged = None if self._serializer is None else self._serializer.tagged_reader()
        self._tagged_head, self._tagged_parts = tagged if tagged is not None else (b"", None)
        self._tag_checks = {}
        self.value_types = {}  # serializer="typed": function prefix -> return annotation
        self.name = name or f"{config.engine}:{config.namespace}"
        self.stats = CacheStats()
        self._breaker = CircuitBreaker(self.name, config.retry_after)
        # read with the entry itself, so that a tagged hit costs one engine read
        self._tag_keys = tuple(self._tag_key(tag) for tag in config.tags)
        self._timed = self._watched = False
        self._obs = Observer(self)
        logger.info(
            "cache %s created: %s", self.name, redact_text(repr(config), config.secret),
            extra={"cache": self.name, "engine": config.engine},
        )  # fmt: skip

    # -- keys, ttl, values -----------------------------------------------------------
    def _key(self, key: Any) -> Any:
        if type(key) is str and len(key) <= self._short_key:  # the common case, inline
            return key
        return normal_key(key, self.local, self.key_limit)

    def _ttl(self, ttl: TTL) -> float | None:
        value = self.config.ttl if ttl is DEFAULT else _check_ttl("ttl", ttl)
        jitter = self.config.jitter
        return jittered(value, jitter) if jitter else value

    @staticmethod
    def _remaining(expiries: Mapping[Any, float]) -> dict[Any, float | None]:
        """Seconds left of each entry from its expiry time (None: never), expired ones left out."""
        now = time.time()
        return {
            key: None if expires == NEVER_EXPIRES else expires - now
            for key, expires in expiries.items()
            if expires > now
        }

    def _raw_int(self, value: int) -> Any:
        return value if self.local else encode_int(value)

    def _encode(self, value: Any, versions: dict[str, int] | None) -> Any:
        if self._serializer is None:
            if versions:
                return Tagged(value, versions)
            return NONE_VALUE if value is None else value
        return self._serializer.dumps(value, versions)

    def expect_return_type(self, func: Callable[..., Any], prefix: str) -> None:
        """Rebuild the entries under ``prefix`` as ``func``'s return annotation (``typed``).

        Raises:
            ConfigurationError: when the serializer is ``typed`` and the annotation
                is missing or cannot be rebuilt.
        """
        expect_return_type(
            self._serializer, self.value_types, func, prefix, secure=self.config.secure
        )

    def _decode(self, key: Any, raw: Any, type_: Any = None) -> tuple[Any, dict[str, int] | None]:
        """Return ``(value, versions)``, or ``(MISSING, None)`` for a corrupt entry."""
        if self._serializer is None:
            if type(raw) is Tagged:
                return raw.value, raw.versions
            return (None if raw is NONE_VALUE else raw), None
        try:
            if self._serializer.typed:
                if type_ is None:
                    type_ = value_type(self.value_types, key)
                return self._serializer.loads(raw, type_)
            return self._serializer.loads(raw)
        except CorruptEntryError as exc:
            self._rejected(key, exc)
            return MISSING, None

    def _rejected(self, key: Any, exc: CorruptEntryError) -> None:
        """Count and log a corrupt entry (read as a miss)."""
        self.stats.corrupt += 1
        logger.warning(
            "cache %s: entry %r rejected as a miss: %s", self.name, key, exc,
            extra={"cache": self.name, "key": str(key)},
        )  # fmt: skip

    def _decode_many(
        self, keys: Iterable[Any], found: Mapping[Any, Any], current: Verdict
    ) -> tuple[dict[Any, Any], dict[Any, tuple[Any, dict[str, int]]]]:
        """Decode the entries of a batch read: ``(live values, undecided)``.

        ``current(versions)`` judges the tag versions an entry was written under:
        live (``True``), invalidated (``False``: left out) or unknown yet (``None``:
        the entry is undecided, ``(value, versions)``); the entries written together
        share their versions, judged once per batch. A corrupt entry is a miss, logged.
        """
        codec = self._serializer
        if codec is not None:
            type_of = functools.partial(value_type, self.value_types) if codec.typed else None
            live, undecided, corrupt = codec.loads_many(found, keys, current, type_of)
            for key, exc in corrupt.items():
                self._rejected(key, exc)
            return live, undecided
        live, undecided = {}, {}
        verdicts: dict[int, bool | None] = {}  # found holds the shared dicts: their ids stay
        for key in keys:
            raw = found.get(key)
            if raw is None:
                continue
            if type(raw) is not Tagged:
                live[key] = None if raw is NONE_VALUE else raw
                continue
            stored = raw.versions
            if id(stored) not in verdicts:
                verdicts[id(stored)] = current(stored)
            verdict = verdicts[id(stored)]
            if verdict:
                live[key] = raw.value
            elif verdict is None:
                undecided[key] = (raw.value, stored)
        return live, undecided

    def _counted(self, value: Any) -> Any:
        """Count a lookup's outcome and return it."""
        if value is MISSING:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return value

    def _wrote(self, result: object, count: int = 1) -> bool:
        """Whether an engine write happened; ``None`` (an engine predating the bool) is a yes."""
        written = result is None or bool(result)
        if written:
            self.stats.sets += count
        return written

    # -- tags --------------------------------------------------------------------------
    @staticmethod
    def _tag_key(tag: str) -> str:
        return TAG_PREFIX + tag

    def _versions_from(
        self, tags: Iterable[str], found: Mapping[Any, Any]
    ) -> dict[str, int | None]:
        return {tag: _counter(found.get(self._tag_key(tag))) for tag in tags}

    def _current_in(
        self,
        stored: dict[str, int],
        found: Mapping[Any, Any] | None,
        asked: Container[str] | None = None,
    ) -> bool | None:
        """Whether the tag versions ``stored`` are current, from a combined read's ``found``.

        ``None`` when that read did not ask for every one of those tags' counters
        (then they are read on their own). An absent or unreadable counter is not current.
        ``asked``: the counters that read asked for (default: the cache's own tags').
        """
        if found is None:
            return None
        if asked is None:
            asked = self._tag_keys
        for tag, version in stored.items():
            counter = TAG_PREFIX + tag
            if counter not in asked:
                return None
            if _counter(found.get(counter)) != version:
                return False
        return True

    def _tagged_read(self, raw: bytes, found: Mapping[Any, Any], asked: Container[str]) -> Any:
        """The value of a tagged frame whose head ``_tagged_head`` matched, read inline.

        ``found`` is the read of the entry with the tag counters in ``asked``.
        Returns MISSING when a tag was invalidated since the entry was written,
        SLOW when the full decode must say (tags the read did not ask for, a
        malformed or corrupt entry): the hit path of tagged entries, without a
        Python call per tag.
        """
        try:
            block, end = self._tagged_parts(raw)  # type: ignore[misc]
            checks = self._tag_checks.get(block)
            if checks is None:
                checks = self._checks_of(block)
        except Exception:  # a frame cut short, a malformed tag block: the full decode says why
            return SLOW
        for counter, version, text in checks:
            if counter not in asked:
                return SLOW
            got = found.get(counter)
            if got != text:  # a server's counter is its decimal bytes: compared as they are
                try:
                    if got is None or int(got) != version:
                        return MISSING
                except (TypeError, ValueError):  # an unreadable counter is not current
                    return MISSING
        try:
            return self._plain_load(raw[end:])  # type: ignore[misc]
        except Exception:  # corrupt: the full decode says why, and counts it
            return SLOW

    def _checks_of(self, block: bytes) -> tuple[tuple[str, int, bytes], ...]:
        """The counters a tag block's entries are checked against, worked out once per block.

        Raises:
            ValueError, TypeError: when the block is not an object of integer versions.
        """
        own = {k: k for k in self._tag_keys}  # the same strings: `in` finds them by identity
        checks = tuple(
            (own.get(TAG_PREFIX + tag, TAG_PREFIX + tag), version, b"%d" % version)
            for tag, version in tag_block(block).items()
        )
        if len(self._tag_checks) >= _TAG_CHECKS_KEPT:
            self._tag_checks.clear()
        self._tag_checks[block] = checks
        return checks

    @staticmethod
    def _fresh(value: Any, stored: dict[str, int], current: dict[str, int | None]) -> Any:
        if all(current.get(t) == v for t, v in stored.items()):
            return value
        return MISSING

    @staticmethod
    def _writable(versions: dict[str, int | None]) -> WriteVersions:
        """The tag versions to store with an entry, or MISSING when a tag has no counter.

        An entry whose tag counter could not be read or created (the backend failed)
        could not be invalidated by that tag, so it must not be written at all.
        """
        if not versions:
            return None
        if any(v is None for v in versions.values()):
            return MISSING
        return {t: v for t, v in versions.items() if v is not None}

    # -- failures ------------------------------------------------------------------------
    def _unavailable(self) -> bool:
        """True when the breaker keeps calls away (raises instead in strict mode)."""
        if self._breaker.allow():
            return False
        if self.config.strict:
            raise BackendUnavailableError(
                f"cache {self.name}: backend unavailable, "
                f"retrying after {self.config.retry_after} s"
            )
        return True

    def _failed(self, exc: BaseException) -> None:
        """Count, log and (through the breaker) remember a failure; raise it when strict.

        Any exception an engine raises is a failure, not only the ones it expected
        (a client bug must not reach a fail-open caller either) -- except the
        contract's own answers about the call: a closed engine
        (:class:`CacheOperationError`) and a value it refuses (:class:`CacheValueError`).
        """
        if isinstance(exc, (CacheOperationError, CacheValueError)):
            raise exc
        self.stats.errors += 1
        self._obs.failure(exc)
        if isinstance(exc, NodeError):  # the engine routes around one node: keep using it
            logger.warning(
                "cache %s: %s", self.name, exc, extra={"cache": self.name, "error": repr(exc)}
            )
        else:
            self._breaker.failure(exc)
        logger.debug(
            "cache %s: backend call failed: %s: %s", self.name, type(exc).__name__, exc,
            extra={"cache": self.name, "error": repr(exc)}, exc_info=exc,
        )  # fmt: skip
        if self.config.strict:
            self._obs.failed_strict("backend call", exc)
            if isinstance(exc, BackendError):
                raise exc
            raise BackendError(f"cache {self.name}: {type(exc).__name__}: {exc}") from exc

    def _read_failed(self, key: Any, exc: Exception) -> None:
        """A read raised: an unhashable key is the caller's error, anything else a failure."""
        if isinstance(exc, TypeError) and self.local and not _hashable(key):
            raise exc
        self._failed(exc)

    def _local_miss(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], key_of: KeyOf
    ) -> tuple[Any, Any]:
        """The inline read of the bare arguments missed: ``(key, raw)`` under their real key.

        An argument that is not plain data (an instance, a list) is keyed by its value
        (see docs/keys.md), so its entry is read once more under that key; plain
        arguments are their own key and their miss stands.
        """
        key = key_of(args, kwargs)
        if key is args:
            return key, None
        try:
            return key, self.backend.get(key)
        except Exception as exc:  # any engine exception is a failure
            self._read_failed(key, exc)
            return key, None

    def _local_get(
        self,
        key: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        key_of: KeyOf,
        exc: Exception,
    ) -> tuple[Any, Any]:
        """The in-process read after the inline one raised ``exc``: ``(key, raw)``.

        The inline read keys on the bare arguments; when they are unhashable the
        key function freezes them and the read is made once more. Any other
        exception is the engine failing.
        """
        if key is not args or _hashable(key):
            self._read_failed(key, exc)
            return key, None
        key = key_of(args, kwargs)
        try:
            return key, self.backend.get(key)
        except Exception as again:  # any engine exception is a failure
            self._read_failed(key, again)
            return key, None
