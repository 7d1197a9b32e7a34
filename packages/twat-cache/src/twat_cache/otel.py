"""OpenTelemetry metrics and spans of a cache (extra ``otel``; on with ``otel=True``).

Through the OpenTelemetry API only: the application picks the SDK, exporters and
providers (Prometheus, OTLP...); without them the API's no-op providers make this
nearly free. Names follow the database client semantic conventions where they
fit an engine call (the ``db.client.operation.duration`` histogram, the
``db.system.name``, ``db.operation.name`` and ``db.namespace`` attributes, a
CLIENT span named ``{operation} {namespace}``); what they do not cover is under
``cache.*``:

* counters ``cache.hits``, ``cache.misses``, ``cache.io`` (bytes, attribute
  ``cache.direction`` = ``read``/``write``), observed from the cache's own
  statistics when the SDK collects (so a hit costs nothing more), and
  ``cache.errors`` (attribute ``error.type``);
* histogram ``cache.compute.duration`` (the decorated function on a miss) and an
  INTERNAL span ``cache.compute {cache}`` around it, the parent of whatever
  spans the function makes;
* attributes ``cache.name``, ``cache.hit``, ``cache.key_digest``.

Engine-call spans are recorded after the call with its measured start and end
(the call itself is not wrapped): they carry the timing, not a context for the
client's own spans. On in-process engines (``memory://``, ``builtin://``) a call
takes well under a microsecond and a span or a histogram point costs several:
there engine calls get neither (the counters and the function's histogram and
span are reported all the same).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

    from twat_cache.stats import CacheStats

__all__ = ["SCOPE", "Telemetry", "available"]

logger = logging.getLogger("twat_cache")

SCOPE: Final = "twat_cache"
"""The instrumentation scope (meter and tracer name)."""


def available() -> bool:
    """Whether the OpenTelemetry API is installed (the ``otel`` extra)."""
    try:
        import opentelemetry.metrics
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


_live: weakref.WeakSet[Telemetry] = weakref.WeakSet()
_made: list[object] = []  # the observable counters, made once per process


def _observable(meter: Any) -> None:
    """Make the counters read from every cache's stats (an instrument name is made once)."""
    if _made:
        return
    from opentelemetry.metrics import Observation

    def observe(*fields: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            found = []
            for telemetry in list(_live):  # a dropped cache's telemetry has left the set
                for name in fields:
                    found.append(
                        Observation(getattr(telemetry.stats, name), telemetry.labels(name))
                    )
            return found

        return callback

    _made.append(
        meter.create_observable_counter(
            "cache.hits", [observe("hits")], "{lookup}", "Lookups that found an entry"
        )
    )
    _made.append(
        meter.create_observable_counter(
            "cache.misses", [observe("misses")], "{lookup}", "Lookups that missed"
        )
    )
    _made.append(
        meter.create_observable_counter(
            "cache.io",
            [observe("bytes_read", "bytes_written")],
            "By",
            "Bytes of entries read from and written to the engine",
        )
    )


class Telemetry:
    """The instruments and tracer of one cache.

    Args:
        name: The cache's name (``cache.name``).
        engine: The engine (``db.system.name``).
        namespace: The namespace (``db.namespace``).
        stats: The cache's statistics, read by the observable counters.
        timed: Whether engine calls get a duration point and a span (not in-process).
    """

    def __init__(
        self, name: str, engine: str, namespace: str, stats: CacheStats, timed: bool = True
    ) -> None:
        from opentelemetry import metrics, trace

        from twat_cache import __version__

        meter = metrics.get_meter(SCOPE, __version__)
        self.tracer = trace.get_tracer(SCOPE, __version__)
        self._client = trace.SpanKind.CLIENT
        self.timed = timed
        self.attributes: dict[str, str] = {
            "cache.name": name,
            "db.system.name": engine,
            "db.namespace": namespace,
        }
        self.stats = stats
        self._read = {**self.attributes, "cache.direction": "read"}
        self._write = {**self.attributes, "cache.direction": "write"}
        _observable(meter)
        _live.add(self)
        self.errors = meter.create_counter("cache.errors", "{error}", "Backend failures")
        self.duration = meter.create_histogram(
            "db.client.operation.duration", "s", "Duration of engine calls"
        )
        self.compute = meter.create_histogram(
            "cache.compute.duration", "s", "Duration of the decorated function on a miss"
        )

    def operation(self, operation: str, seconds: float, digest: str, hit: bool | None) -> None:
        """Record one engine call that took ``seconds`` (the counters read the stats)."""
        attributes: dict[str, Any] = {**self.attributes, "db.operation.name": operation}
        if hit is not None:
            attributes["cache.hit"] = hit
        self.duration.record(seconds, attributes)
        attributes["cache.key_digest"] = digest
        end = time.time_ns()
        span = self.tracer.start_span(
            f"{operation} {self.attributes['db.namespace']}",
            kind=self._client,
            attributes=attributes,
            start_time=end - int(seconds * 1e9),
        )
        span.end(end_time=end)

    def labels(self, figure: str) -> dict[str, str]:
        """The attributes a counter of ``figure`` (a :class:`CacheStats` field) carries."""
        if figure == "bytes_read":
            return self._read
        if figure == "bytes_written":
            return self._write
        return self.attributes

    def failure(self, exc: BaseException) -> None:
        """Count a backend failure."""
        self.errors.add(1, {**self.attributes, "error.type": type(exc).__qualname__})

    def computing(self, digest: str) -> Any:
        """The span around the decorated function on a miss (a context manager)."""
        return self.tracer.start_as_current_span(
            f"cache.compute {self.attributes['cache.name']}",
            attributes={**self.attributes, "cache.key_digest": digest},
        )

    def computed(self, seconds: float) -> None:
        """Record the decorated function's time on a miss."""
        self.compute.record(seconds, self.attributes)
