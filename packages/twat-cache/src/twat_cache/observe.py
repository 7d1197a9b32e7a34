"""Watching a cache at work: timings into its stats, DEBUG records per operation, a debug switch.

(With ``otel=True`` it also feeds :mod:`twat_cache.otel`.)

Each cache has one :class:`Observer`. The cache asks it once, when it is made
(and again when :func:`refresh` is called, as :func:`debug` does), whether DEBUG
records are wanted; the hit path of an in-process cache then pays nothing while
they are not. Records carry their figures in ``extra`` (``cache``, ``operation``,
``key_digest`` -- never the key or the value --, ``hit``, ``duration_ms``).

The library installs no handler, except when asked: ``TWAT_CACHE_DEBUG=1`` (read
at import) or :func:`debug` adds a readable one on the ``twat_cache`` logger, and
``TWAT_CACHE_LOG_FORMAT=json`` makes it write one JSON object per line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from twat_cache import otel

if TYPE_CHECKING:
    from twat_cache.pipeline import Pipeline

__all__ = ["JsonFormatter", "Observer", "debug", "key_digest", "refresh"]

logger = logging.getLogger("twat_cache")

READS: Final = frozenset({"get", "get_many"})
"""Engine calls whose durations count as reads (the others as writes)."""
_FIELDS: Final = ("cache", "operation", "key_digest", "hit", "duration_ms", "engine", "error")
_observers: weakref.WeakSet[Observer] = weakref.WeakSet()
_added: list[logging.Handler] = []  # the handler debug() added, if any


def key_digest(key: object) -> str:
    """A short, stable digest of ``key`` for logs (the key itself may be personal data)."""
    return hashlib.blake2b(repr(key).encode(), digest_size=6).hexdigest()


class Observer:
    """Records what one cache does: timings and bytes into its stats, DEBUG records.

    Args:
        pipeline: The cache watched.

    Attributes:
        timed: Whether engine calls are timed: on serializing engines always, on
            in-process ones only while DEBUG is on (see :mod:`twat_cache.stats`).
        debug: Whether DEBUG records are written (decided by :meth:`refresh`).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = weakref.ref(pipeline)
        self.name = pipeline.name
        self.stats = pipeline.stats
        self.local = pipeline.local
        self.debug = False
        self.timed = not self.local
        self.telemetry: otel.Telemetry | None = None
        if pipeline.config.otel:
            if otel.available():
                config = pipeline.config
                self.telemetry = otel.Telemetry(
                    self.name, config.engine, config.namespace, self.stats, timed=not self.local
                )
            else:
                logger.warning(
                    "cache %s: otel=True, but OpenTelemetry is not installed: %s",
                    self.name,
                    'pip install "twat-cache[otel]"',
                    extra={"cache": self.name},
                )
        self.refresh()
        _observers.add(self)

    def refresh(self) -> None:
        """Ask the logging configuration again whether DEBUG records are wanted."""
        self.debug = logger.isEnabledFor(logging.DEBUG)
        # an in-process hit is timed only while DEBUG records are written (see twat_cache.stats);
        # OpenTelemetry reads its hit and miss counters from the stats
        self.timed = not self.local or self.debug
        pipeline = self._pipeline()
        if pipeline is not None:
            pipeline._timed = self.timed
            # a timed read needs this observer only to log or trace it (see looked_up)
            telemetry = self.telemetry
            pipeline._watched = self.debug or (telemetry is not None and telemetry.timed)

    def _log(self, operation: str, key: object, hit: bool | None, seconds: float) -> None:
        extra = {
            "cache": self.name,
            "operation": operation,
            "key_digest": key_digest(key),
            "hit": hit,
            "duration_ms": seconds * 1000.0,
        }
        logger.debug(
            "cache %s: %s %s%s in %.3f ms",
            self.name,
            operation,
            extra["key_digest"],
            "" if hit is None else (" hit" if hit else " miss"),
            extra["duration_ms"],
            extra=extra,
        )

    def looked_up(self, key: object, start: float, raw: object, hit: bool) -> None:
        """A lookup (one engine read) that began at ``start`` (``perf_counter``) ended."""
        seconds = time.perf_counter() - start
        stats = self.stats
        stats.reads.record(seconds)
        size = len(raw) if type(raw) is bytes else 0
        stats.bytes_read += size
        if self.debug:
            self._log("get", key, hit, seconds)
        telemetry = self.telemetry
        if telemetry is not None and telemetry.timed:
            telemetry.operation("get", seconds, key_digest(key), hit)

    def called(self, call: Callable[..., Any], args: tuple[Any, ...], start: float) -> None:
        """An engine call made through the fail-open wrapper, begun at ``start``, returned."""
        seconds = time.perf_counter() - start
        operation = getattr(call, "__name__", "call")
        stats = self.stats
        size = 0
        if operation in READS:
            stats.reads.record(seconds)
        else:
            stats.writes.record(seconds)
            if operation in ("set", "add") and type(args[1]) is bytes:
                size = len(args[1])
            elif operation == "set_many":
                size = sum(len(v) for v in args[0].values() if type(v) is bytes)
            stats.bytes_written += size
        key = args[0] if args else None
        if self.debug:
            self._log(operation, key, None, seconds)
        telemetry = self.telemetry
        if telemetry is not None and telemetry.timed:
            telemetry.operation(operation, seconds, key_digest(key), None)

    def computing(self, key: object) -> Computing:
        """A context manager around the decorated function on a miss (times it)."""
        return Computing(self, key)

    def computed(self, key: object, seconds: float) -> None:
        """The decorated function ran on a miss for ``seconds``."""
        self.stats.computes.record(seconds)
        if self.debug:
            self._log("compute", key, False, seconds)
        if self.telemetry is not None:
            self.telemetry.computed(seconds)

    def failure(self, exc: BaseException) -> None:
        """An engine call failed (counted in the stats by the caller)."""
        if self.telemetry is not None:
            self.telemetry.failure(exc)

    def failed_strict(self, operation: str, exc: BaseException) -> None:
        """A strict cache is about to raise ``exc``: an ERROR record with the context."""
        logger.error(
            "cache %s: %s failed (strict mode): %s: %s",
            self.name,
            operation,
            type(exc).__name__,
            exc,
            extra={"cache": self.name, "operation": operation, "error": repr(exc)},
        )


class Computing:
    """Times the decorated function on a miss (see :meth:`Observer.computing`)."""

    __slots__ = ("_key", "_observer", "_span", "_start")

    def __init__(self, observer: Observer, key: object) -> None:
        self._observer = observer
        self._key = key
        self._start = 0.0
        self._span: Any = None

    def __enter__(self) -> None:
        telemetry = self._observer.telemetry
        if telemetry is not None:  # the function's own spans become its children
            self._span = telemetry.computing(key_digest(self._key))
            self._span.__enter__()
        self._start = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:  # a call that raised saved nothing and is not a miss time
            self._observer.computed(self._key, time.perf_counter() - self._start)
        if self._span is not None:
            self._span.__exit__(exc_type, exc, tb)


def refresh() -> None:
    """Make every cache ask the logging configuration again whether DEBUG is on.

    A cache decides once, when it is made, so that its hit path never asks; call
    this after turning the ``twat_cache`` logger's DEBUG level on or off.
    Decorated in-process functions made before pick their call path once: their
    hits are then logged only if DEBUG was on when they were decorated.
    """
    for observer in list(_observers):
        observer.refresh()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the cache's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a line of JSON."""
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def debug(enabled: bool = True, *, json_format: bool | None = None) -> None:
    """Show twat-cache's records on stderr: DEBUG level and a readable (or JSON) handler.

    The library never adds a handler by itself; this is the switch for a
    developer (also ``TWAT_CACHE_DEBUG=1``). Calling it again replaces the handler.

    Args:
        enabled: False removes the handler and sets the logger back to NOTSET.
        json_format: One JSON object per line; default: ``TWAT_CACHE_LOG_FORMAT=json``.
    """
    while _added:
        logger.removeHandler(_added.pop())
    if enabled:
        if json_format is None:
            json_format = os.environ.get("TWAT_CACHE_LOG_FORMAT", "").lower() == "json"
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter()
            if json_format
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        _added.append(handler)
    else:
        logger.setLevel(logging.NOTSET)
    refresh()


def debug_from_environment(env: dict[str, str] | None = None) -> bool:
    """Apply ``TWAT_CACHE_DEBUG`` (``1``/``true``/``yes``/``on``); return whether it was set."""
    env = dict(os.environ) if env is None else env
    if env.get("TWAT_CACHE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        debug(json_format=env.get("TWAT_CACHE_LOG_FORMAT", "").lower() == "json")
        return True
    return False
